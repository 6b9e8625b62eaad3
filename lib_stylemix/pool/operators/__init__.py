"""Evolve operators (one file each); importing this package registers them all, in the order listed here."""

import importlib

from lib_stylemix.pool.operators.registry import OPERATORS, OperatorInput, get, names

for _module in ("blend", "orthogonal", "spectral", "split", "extrapolate", "add_difference", "crossover"):
    importlib.import_module(f"{__name__}.{_module}")

DEFAULT = ("blend", "orthogonal", "spectral")

__all__ = ["DEFAULT", "OPERATORS", "OperatorInput", "get", "names"]
