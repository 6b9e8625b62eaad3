"""Candidates of one generation: proposed recipes with provenance, scores and a status.

The operators that produce them live in `pool/operators/` (one file each, see the registry there);
`generation.generate` runs the chosen ones. Every candidate is a recipe over the pool's roots; spectral
candidates first add a derived root (exact, see `derived.py`), so they are recipes "1 × that root".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib_stylemix.pool.recipe import Recipe

MIX = "blend"
ORTHOGONAL = "orthogonal"
SPECTRAL = "spectral"
SPLIT = "split"
EXTRAPOLATE = "extrapolate"
ADD_DIFFERENCE = "add-difference"
CROSSOVER = "crossover"

# Statuses a candidate can end a generation with.
SCORED = "scored"          # valid, not among the selected
SELECTED = "selected"      # chosen by the selection rule (kept by evolve, suggested by propose)
WEAK = "too-weak"          # ‖ΔW‖ below the strength band
STRONG = "too-strong"      # ‖ΔW‖ above the strength band
COPY = "copy"              # within tolerance of an existing pool member
DUPLICATE = "duplicate"    # within tolerance of a better candidate that was selected


@dataclass
class Candidate:
    """A proposed recipe with its provenance and scores (filled in by `scoring.score_candidates`)."""

    kind: str
    parents: tuple[str, ...]
    parent_index: tuple[int, ...]
    params: dict[str, Any]
    coef: np.ndarray = field(repr=False)
    keys: tuple[str, ...] = field(repr=False, default=())
    blocks: tuple[str, ...] = field(repr=False, default=())
    norm: float = 0.0
    nearest: str = ""
    nearest_distance: float = 0.0
    novelty: float = 0.0
    legacy_average: float = 0.0
    score: float = 0.0
    resolution: float = 0.0  # scores closer than this are ties (see `scores/registry.py`)
    status: str = SCORED
    derived: Any = None  # the `DerivedRoot` a spectral candidate is made of
    cell: tuple[int, int] | None = None  # archive cell (QD mode)
    space: Any = field(repr=False, default=None)  # the scoring space of a derived candidate (its exact K rows)

    @property
    def parent_set(self) -> frozenset[int]:
        return frozenset(self.parent_index)

    @property
    def recipe(self) -> Recipe:
        return Recipe.from_dense(self.coef, self.keys, self.blocks)

    def to_json(self, root_index: dict[str, int] | None = None) -> dict[str, Any]:
        """JSON form; with `root_index` the recipe is compact (see `Recipe.to_compact`), else full."""
        recipe = self.recipe
        return {
            "kind": self.kind,
            "operator": self.kind,
            "parents": list(self.parents),
            "params": self.params,
            "recipe": recipe.to_compact(root_index) if root_index is not None else recipe.to_json(),
            "norm": self.norm,
            "nearest": self.nearest,
            "nearest_distance": self.nearest_distance,
            "novelty": self.novelty,
            "legacy_average": self.legacy_average,
            "score": self.score,
            "resolution": self.resolution,
            "status": self.status,
            **({"derived": self.derived.to_json()} if self.derived is not None else {}),
            **({"cell": list(self.cell)} if self.cell is not None else {}),
        }
