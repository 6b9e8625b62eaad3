"""Settings of one evolve run (candidate generators, score, selection), with validation for user input."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from lib_stylemix.errors import StyleMixError

SCORES = ("novelty", "legacy-average")


@dataclass(frozen=True)
class EvolveSettings:
    """What one evolve generation generates, how it scores and what it keeps.

    ratios: R pair ratios k/(R+1), k = 1..R.  extrapolate: T > 0 adds ratios −T·k/R and 1 + T·k/R.
    add_difference: A + t·(B − C) for t in `difference_scales`.  crossover: per pair, `crossovers` random
    block masks (blocks from one parent, the rest from the other).  max_exploratory caps the extrapolation,
    add-difference and crossover candidates of a generation (a seeded random subset is kept).
    strength_band (lo, hi): a candidate survives only if lo·min(parent norms) ≤ ‖ΔW‖ ≤ hi·max(parent norms).
    dedupe_tol: a candidate closer than tol × the larger norm to a pool member is a `copy`, to a better-scoring
    candidate a `duplicate`; neither is kept.
    """

    iterations: int = 1
    ratios: int = 1
    keep: int = 1
    score: str = "novelty"
    extrapolate: float = 0.0
    add_difference: bool = False
    difference_scales: tuple[float, ...] = (0.5, 1.0)
    crossover: bool = False
    crossovers: int = 2
    max_exploratory: int = 4096
    strength_band: tuple[float, float] = (0.5, 2.0)
    dedupe_tol: float = 1e-3
    max_pool_size: int | None = None
    max_rank: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.iterations < 0:
            problems.append("iterations must be ≥ 0")
        if self.ratios < 1:
            problems.append("ratios must be ≥ 1")
        if self.keep < 1:
            problems.append("keep must be ≥ 1")
        if self.score not in SCORES:
            problems.append(f"score must be one of {', '.join(SCORES)}")
        if self.extrapolate < 0:
            problems.append("extrapolate must be ≥ 0")
        if self.crossovers < 1:
            problems.append("crossovers must be ≥ 1")
        lo, hi = self.strength_band
        if not 0 <= lo <= 1 <= hi:
            problems.append("strength band must satisfy 0 ≤ low ≤ 1 ≤ high")
        if self.dedupe_tol < 0:
            problems.append("dedupe tolerance must be ≥ 0")
        if self.max_pool_size is not None and self.max_pool_size < 2:
            problems.append("max pool size must be ≥ 2")
        if self.max_rank is not None and self.max_rank < 1:
            problems.append("max rank must be ≥ 1")
        if problems:
            raise StyleMixError("evolve settings: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["difference_scales"] = list(self.difference_scales)
        doc["strength_band"] = list(self.strength_band)
        return doc

    @staticmethod
    def from_json(doc: dict[str, Any], **overrides: Any) -> EvolveSettings:
        names = {f.name for f in fields(EvolveSettings)}
        values = {k: v for k, v in doc.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("difference_scales", "strength_band"):
            if key in values:
                values[key] = tuple(values[key])
        try:
            return EvolveSettings(**values)
        except TypeError as exc:
            raise StyleMixError(f"evolve settings: {exc}") from exc
