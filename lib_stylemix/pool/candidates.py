"""Candidate recipes for one generation, as coefficient matrices over the pool's root files.

Generators (each a linear map of pool members, so candidates stay exact recipes over root files):
  mix          (1 − t)·A + t·B for every unordered pair and t = k/(R+1), k = 1..R     (the seed's set)
  extrapolate  the same line beyond the parents: t = −T·k/R and t = 1 + T·k/R
  add-diff     A + t·(B − C) for ordered triples of distinct members
  crossover    per block either A's or B's coefficients (a random non-trivial block mask per draw)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.pool.settings import EvolveSettings

MIX = "mix"
EXTRAPOLATE = "extrapolate"
ADD_DIFFERENCE = "add-difference"
CROSSOVER = "crossover"

# Statuses a candidate can end a generation with.
SCORED = "scored"          # valid, not among the selected
SELECTED = "selected"      # chosen by the top-k rule (kept by evolve, suggested by propose)
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
    status: str = SCORED

    @property
    def recipe(self) -> Recipe:
        return Recipe.from_dense(self.coef, self.keys, self.blocks)

    def to_json(self, root_index: dict[str, int] | None = None) -> dict[str, Any]:
        """JSON form; with `root_index` the recipe is compact (see `Recipe.to_compact`), else full."""
        recipe = self.recipe
        return {
            "kind": self.kind,
            "parents": list(self.parents),
            "params": self.params,
            "recipe": recipe.to_compact(root_index) if root_index is not None else recipe.to_json(),
            "norm": self.norm,
            "nearest": self.nearest,
            "nearest_distance": self.nearest_distance,
            "novelty": self.novelty,
            "legacy_average": self.legacy_average,
            "score": self.score,
            "status": self.status,
        }


def generate(  # noqa: C901 — one branch per candidate kind; being moved to the operator registry
    coefs: np.ndarray,
    names: list[str],
    keys: tuple[str, ...],
    blocks: tuple[str, ...],
    settings: EvolveSettings,
    rng: np.random.Generator,
) -> list[Candidate]:
    """All candidates of one generation from member coefficient stack `coefs` (members × blocks × roots).

    Exploratory candidates beyond `settings.max_exploratory` are subsampled with `rng`; exact coefficient
    duplicates (e.g. a crossover mask and its complement on swapped parents) are dropped, first one wins.
    """
    m = len(names)
    pairs = list(itertools.combinations(range(m), 2))

    def make(kind: str, parents: tuple[int, ...], params: dict[str, Any], coef: np.ndarray) -> Candidate:
        return Candidate(kind, tuple(names[i] for i in parents), parents, params, coef, keys, blocks)

    out = []
    ratios = [k / (settings.ratios + 1) for k in range(1, settings.ratios + 1)]
    for a, b in pairs:
        for t in ratios:
            out.append(make(MIX, (a, b), {"ratio": t}, (1 - t) * coefs[a] + t * coefs[b]))

    explore: list[Candidate] = []
    if settings.extrapolate > 0:
        steps = [settings.extrapolate * k / settings.ratios for k in range(1, settings.ratios + 1)]
        for a, b in pairs:
            for s in steps:
                for t in (-s, 1 + s):
                    explore.append(make(EXTRAPOLATE, (a, b), {"ratio": t}, (1 - t) * coefs[a] + t * coefs[b]))
    if settings.add_difference:
        for a, b, c in itertools.permutations(range(m), 3):
            for t in settings.difference_scales:
                explore.append(make(ADD_DIFFERENCE, (a, b, c), {"scale": t}, coefs[a] + t * (coefs[b] - coefs[c])))
    if settings.crossover and len(blocks) >= 2:
        for a, b in pairs:
            for mask in _masks(len(blocks), settings.crossovers, rng):
                chosen = mask[:, None]
                coef = np.where(chosen, coefs[a], coefs[b])
                params = {"from_first": [bl for bl, on in zip(blocks, mask, strict=False) if on]}
                explore.append(make(CROSSOVER, (a, b), params, coef))
    if len(explore) > settings.max_exploratory:
        pick = np.sort(rng.choice(len(explore), size=settings.max_exploratory, replace=False))
        explore = [explore[i] for i in pick]
    out.extend(explore)

    unique, seen = [], set()
    for cand in out:
        key = (np.round(cand.coef, 9) + 0.0).tobytes()  # + 0.0 folds -0.0 into 0.0
        if key not in seen:
            seen.add(key)
            unique.append(cand)
    return unique


def _masks(n_blocks: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` distinct random block masks that are neither all-true nor all-false (fewer if n is tiny)."""
    possible = 2**n_blocks - 2 if n_blocks < 62 else count
    out: list[np.ndarray] = []
    seen = set()
    while len(out) < min(count, possible):
        mask = rng.random(n_blocks) < 0.5
        if mask.all() or not mask.any() or mask.tobytes() in seen:
            continue
        seen.add(mask.tobytes())
        out.append(mask)
    return out
