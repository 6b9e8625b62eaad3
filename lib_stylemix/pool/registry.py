"""A small registry of named kinds (scores, selection rules, evolve operators): one file per entry.

Each entry declares its name, its help text and its parameters (with default and allowed range); the CLI
choices, the settings validation, the UI check boxes and the docs tables are all read from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lib_stylemix.errors import StyleMixError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One parameter of an entry: the `EvolveSettings` field that holds it, its range and what it does."""

    field: str
    low: float
    high: float
    help: str


@dataclass(frozen=True)
class Entry(Generic[F]):
    name: str
    help: str
    run: F
    params: tuple[Param, ...] = field(default=())


class Registry(Generic[F]):
    """Name → entry, in registration order (the order the CLI and the docs list them)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[F]] = {}

    def register(self, entry: Entry[F]) -> Entry[F]:
        if entry.name in self._entries:
            raise StyleMixError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry
        return entry

    def get(self, name: str) -> Entry[F]:
        try:
            return self._entries[name]
        except KeyError:
            raise StyleMixError(f"unknown {self.kind} {name!r} (expected one of {', '.join(self.names())})") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[F], ...]:
        return tuple(self._entries.values())

    def markdown(self) -> str:
        """A Markdown table of the entries (name, help, parameters with ranges) for the docs."""
        rows = ["| name | what it does | parameters |", "|---|---|---|"]
        for e in self._entries.values():
            params = "; ".join(f"`{p.field}` ∈ [{p.low:g}, {p.high:g}]: {p.help}" for p in e.params) or "–"
            rows.append(f"| `{e.name}` | {e.help} | {params} |")
        return "\n".join(rows)
