"""The evolve registries' entry type over the one registry mechanism (`lib_stylemix.registry`).

Scores, selection rules and evolve operators are one file each in their package (`pool/scores/`,
`pool/selection/`, `pool/operators/`), discovered like merge methods (a plugin folder is added with
`add_path`). What is evolve-specific lives here: an entry is a name, a help text and a function `run`; its
parameters are `EvolveSettings` fields with an allowed range (`setting`), which the settings validation,
the CLI options and the docs tables read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lib_stylemix.registry import Param, Registry

F = TypeVar("F", bound=Callable[..., Any])


def setting(name: str, low: float, high: float, help: str, kind: type = float) -> Param:
    """A parameter held by the `EvolveSettings` field `name`, allowed in [low, high] (defaults live there)."""
    return Param(name, kind, None, help, low, high)


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One score / selection rule / operator. Built-ins use order 0, 10, 20…; plugins default to 100."""

    name: str
    help: str
    run: F
    params: tuple[Param, ...] = field(default=())
    order: int = 100

    @property
    def label(self) -> str:
        return self.name


def table(entries: list[Entry[Any]]) -> str:
    """A Markdown table of the entries (name, help, parameters with ranges) for docs/evolve.md."""
    rows = ["| name | what it does | parameters |", "|---|---|---|"]
    for e in entries:
        params = "; ".join(f"`{p.name}` ∈ [{p.low:g}, {p.high:g}]: {p.help}" for p in e.params) or "–"
        rows.append(f"| `{e.name}` | {e.help} | {params} |")
    return "\n".join(rows)


def evolve_registry(kind: str, package: str) -> Registry[Entry[Any]]:
    """A registry of one evolve kind over the modules of `package`, documented as a table."""
    return Registry(kind, package, markdown=table)


def registrar(registry: Registry[Entry[Any]]) -> Callable[..., Callable[[F], F]]:
    """The `@register(name, help, params, order=…)` decorator of one evolve registry."""

    def register(name: str, help: str, params: tuple[Param, ...] = (), order: int = 100) -> Callable[[F], F]:
        def wrap(fn: F) -> F:
            registry.register(Entry(name, help, fn, params, order))
            return fn
        return wrap

    return register


__all__ = ["Entry", "Param", "Registry", "evolve_registry", "registrar", "setting", "table"]
