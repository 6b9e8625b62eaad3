"""Registry of selection rules: which of the valid, scored candidates a generation keeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lib_stylemix.pool.registry import Entry, Registry, evolve_registry, registrar


@dataclass(frozen=True)
class SelectInput:
    """Valid candidates only. scores: quantised to `resolution`.  feats: Euclidean embeddings
    (`KernelSpace.features`), so ‖featsᵢ − featsⱼ‖ = ‖ΔWᵢ − ΔWⱼ‖.  parent_sets: the set of parents of each.
    per_parents: at most this many picks share a parent set (0: no limit).  scale: the pool spacing s."""

    scores: np.ndarray
    resolution: float
    feats: np.ndarray
    parent_sets: list[frozenset[int]]
    keep: int
    per_parents: int
    scale: float

    def quantised(self) -> np.ndarray:
        """Scores rounded to the resolution: differences below it are ties, never decisions."""
        if self.resolution <= 0:
            return self.scores
        return np.round(self.scores / self.resolution) * self.resolution


SelectFn = Callable[[SelectInput], list[int]]
SELECTIONS: Registry[Entry[SelectFn]] = evolve_registry("selection rule", "lib_stylemix.pool.selection")
register = registrar(SELECTIONS)


def get(name: str) -> Entry[SelectFn]:
    return SELECTIONS.get(name)


def names() -> tuple[str, ...]:
    return SELECTIONS.names()


def allowed(s: SelectInput, counts: dict[frozenset[int], int], i: int) -> bool:
    """Whether candidate i's parent set still has room under `per_parents`."""
    return s.per_parents <= 0 or counts.get(s.parent_sets[i], 0) < s.per_parents
