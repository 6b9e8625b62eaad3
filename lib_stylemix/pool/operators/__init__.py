"""Evolve operators, one file each in this folder, found by the registry on first use (in their `order`).

A plugin folder is added with `OPERATORS.add_path(folder)`; see docs/architecture-registries.md.
"""

from lib_stylemix.pool.operators.registry import OPERATORS, OperatorInput, get, names

DEFAULT = ("blend", "orthogonal", "spectral")

__all__ = ["DEFAULT", "OPERATORS", "OperatorInput", "get", "names"]
