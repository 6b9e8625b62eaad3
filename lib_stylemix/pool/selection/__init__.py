"""Selection rules, one file each in this folder, found by the registry on first use (in their `order`).

A plugin folder is added with `SELECTIONS.add_path(folder)`; see docs/architecture-registries.md.
"""

from lib_stylemix.pool.selection.registry import SELECTIONS, SelectInput, get, names

DEFAULT = "maxmin"

__all__ = ["DEFAULT", "SELECTIONS", "SelectInput", "get", "names"]
