"""Packages that export names of their submodules on first use (PEP 562).

`import lib_stylemix.lora.cli` (every `--help`, `info`) then loads neither numpy nor torch, while
`from lib_stylemix.lora import merge` keeps working. One implementation for every package that needs it.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]], *,
                 computed: Mapping[str, Callable[[], Any]] | None = None) -> list[str]:
    """Make `package` (call this from its `__init__`) resolve `exports` ({submodule: names}) and `computed`
    ({name: factory}) on first access; returns the package's `__all__`.

    A submodule named like a function it exports (`lora.merge`, `lora.kernel`, `pool.evolve`) is bound on the
    package by the import system when it loads; the package keeps the function instead, as eager imports did.
    """
    module = sys.modules[package]
    where = {name: source for source, names in exports.items() for name in names}
    factories = dict(computed or {})
    names = sorted([*where, *factories])

    def lookup(name: str) -> Any:
        if name in factories:
            value = factories[name]()
        elif name in where:
            value = getattr(importlib.import_module(where[name]), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module.__dict__[name] = value
        return value

    def listing() -> list[str]:
        return sorted(set(module.__dict__) | set(names))

    module.__dict__.update(__getattr__=lookup, __dir__=listing, _lazy_where=where)
    module.__class__ = _LazyPackage
    return names


class _LazyPackage(types.ModuleType):
    """Keeps an exported function when the submodule of the same name gets imported (see `lazy_exports`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        where = self.__dict__.get("_lazy_where", {})
        if isinstance(value, types.ModuleType) and where.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)
