"""Registries for things that come in kinds (merge methods, metrics, …): one kind = one small module.

A registry belongs to a package (e.g. `lib_stylemix.lora.merge_methods`). Every module in that package's
`__path__` declares its entry with `REGISTRY.register(...)` at import time; the registry imports them all the
first time anyone asks for `names()`, `get()` or `describe()`. So adding a kind means adding one file to the
package folder, and a plugin folder can be added to the search path with `add_path` (the hook tests use).
The CLI's choices, the UI's dropdowns and the docs all read the registry, so nothing else needs editing.
Every registry of the project uses this one mechanism: merge methods, metrics, and the evolve operators,
scores and selection rules (whose entry type and ranged parameters are in `pool/registry.py`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from lib_stylemix.errors import StyleMixError


@dataclass(frozen=True)
class Param:
    """One user-settable parameter of an entry: the CLI flag / UI widget it becomes and its help text.

    `low`/`high`, when set, are the allowed range (settings validation and the docs read them).
    """

    name: str
    type: type
    default: Any = None
    help: str = ""
    low: float | None = None
    high: float | None = None


class Entry(Protocol):
    """What every registry entry has: a `name`, a short `label`, a `help` paragraph, its parameters and an
    `order` (smaller first in choices and docs; built-ins use 0, 10, 20…, plugins default to 100)."""

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def help(self) -> str: ...

    @property
    def params(self) -> tuple[Param, ...]: ...

    @property
    def order(self) -> int: ...


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """Name → entry, filled by importing every module of `package` (and of any added plugin path)."""

    def __init__(self, kind: str, package: str, markdown: Callable[[list[E]], str] | None = None) -> None:
        self.kind = kind
        self.package = package
        self._markdown = markdown  # a registry whose docs are a table passes its own renderer
        self._entries: dict[str, E] = {}
        self._loaded = False

    def register(self, entry: E) -> E:
        """Add `entry`; a second entry with the same name is a programming error, not an override."""
        known = self._entries.get(entry.name)
        if known is not None and known is not entry:
            raise StyleMixError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry
        return entry

    def add_path(self, folder: str | Path) -> None:
        """Also discover entries in the modules of `folder` (a plugin folder); takes effect on next lookup."""
        module = importlib.import_module(self.package)
        paths = module.__path__
        if str(folder) not in list(paths):
            paths.append(str(folder))
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        module = importlib.import_module(self.package)
        for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")
        self._loaded = True

    def names(self) -> tuple[str, ...]:
        """Entry names by `order`, then by name."""
        return tuple(e.name for e in self.entries())

    def get(self, name: str) -> E:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise StyleMixError(f"unknown {self.kind} {name!r} (expected one of {', '.join(self.names())})") \
                from None

    def entries(self) -> list[E]:
        self._load()
        return sorted(self._entries.values(), key=lambda e: (e.order, e.name))

    def __iter__(self) -> Iterator[E]:
        """The entries in order (so a registry reads like the tuple it replaced)."""
        return iter(self.entries())

    def describe(self, fmt: Callable[[E], str] | None = None) -> str:
        """One line per entry (`name: label. help`), for `--help` texts and the docs."""
        fmt = fmt or (lambda e: f"{e.name}: {e.help}")
        return "\n".join(fmt(e) for e in self.entries())

    def markdown(self) -> str:
        """A Markdown list of the entries with their parameters (the docs embed it; a test keeps it current)."""
        if self._markdown is not None:
            return self._markdown(self.entries())
        lines = []
        for e in self.entries():
            lines.append(f"- `{e.name}` — {e.label}: {e.help}")
            lines.extend(f"  - `{p.name}` ({p.type.__name__}, default {p.default!r}): {p.help}" for p in e.params)
        return "\n".join(lines)

    def unregister(self, name: str) -> None:
        """Forget an entry (tests that add a toy entry clean up with this)."""
        self._entries.pop(name, None)
