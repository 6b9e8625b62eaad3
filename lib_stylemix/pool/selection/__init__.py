"""Selection rules (one file each); importing this package registers them all, in the order listed here."""

import importlib

from lib_stylemix.pool.selection.registry import SELECTIONS, SelectInput, get, names

for _module in ("maxmin", "topk"):
    importlib.import_module(f"{__name__}.{_module}")

DEFAULT = "maxmin"

__all__ = ["DEFAULT", "SELECTIONS", "SelectInput", "get", "names"]
