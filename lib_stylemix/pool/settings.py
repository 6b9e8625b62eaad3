"""Settings of one evolve run (operators, score, selection, archive, saving), validated against the registries.

The parameter ranges are declared by the registry entries that use them (`Param`), so the CLI, the UI and
this validation agree by construction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from lib_stylemix.errors import StyleMixError

EXTRAPOLATE_DEFAULT = 0.5
TUPLE_FIELDS = ("difference_scales", "strength_band", "operators", "orthogonal_scales", "archive_poles")


@dataclass(frozen=True)
class EvolveSettings:
    """What one evolve generation generates, how it scores, what it keeps and how kept children are saved.

    operators: names from the operator registry (`blend`, `orthogonal`, `spectral`, `split`, `extrapolate`,
    `add-difference`, `crossover`); the legacy switches `extrapolate > 0`, `add_difference` and `crossover`
    add their operator too. max_exploratory caps the candidates of all operators but `blend` (seeded subset).
    score / select: registry names. per_parents: at most this many kept children share a parent set (0: any).
    strength_band (lo, hi): a candidate survives only if lo·min(parent norms) ≤ ‖ΔW‖ ≤ hi·max(parent norms).
    dedupe_tol: a candidate closer than tol × the larger norm to a member is a `copy`, to a better candidate
    a `duplicate`. archive: keep a MAP-Elites grid of `archive_bins`² cells on two descriptor axes (the pool
    map, or the directions towards `archive_poles`). energy: share of ‖ΔW‖² a saved child keeps at least
    (rank grows up to `rank_cap` / `max_file_mb`); max_rank: a fixed rank instead.
    """

    iterations: int = 1
    ratios: int = 1
    keep: int = 1
    score: str = "pool-novelty"
    select: str = "maxmin"
    per_parents: int = 1
    knn: int = 3
    operators: tuple[str, ...] = ("blend", "orthogonal", "spectral")
    extrapolate: float = 0.0
    add_difference: bool = False
    difference_scales: tuple[float, ...] = (0.5, 1.0)
    crossover: bool = False
    crossovers: int = 2
    orthogonal_scales: tuple[float, ...] = (1.0, 1.5)
    spectral_draws: int = 2
    spectral_sigma: float = 0.7
    spectral_gamma: float = 2.0
    max_exploratory: int = 4096
    strength_band: tuple[float, float] = (0.5, 2.0)
    dedupe_tol: float = 1e-3
    archive: bool = False
    archive_bins: int = 6
    archive_poles: tuple[str, ...] = ()
    max_pool_size: int | None = None
    max_rank: int | None = None
    energy: float = 0.99
    rank_cap: int | None = None
    max_file_mb: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = self._basic_problems() + self._registry_problems()
        if problems:
            raise StyleMixError("evolve settings: " + "; ".join(problems))

    def _basic_problems(self) -> list[str]:
        checks = [
            (self.iterations >= 0, "iterations must be ≥ 0"),
            (self.keep >= 1, "keep must be ≥ 1"),
            (self.per_parents >= 0, "per_parents must be ≥ 0"),
            (0 <= self.strength_band[0] <= 1 <= self.strength_band[1], "strength band must satisfy 0 ≤ low ≤ 1 ≤ high"),
            (self.dedupe_tol >= 0, "dedupe tolerance must be ≥ 0"),
            (self.max_pool_size is None or self.max_pool_size >= 2, "max pool size must be ≥ 2"),
            (self.max_rank is None or self.max_rank >= 1, "max rank must be ≥ 1"),
            (self.rank_cap is None or self.rank_cap >= 1, "rank cap must be ≥ 1"),
            (self.max_file_mb is None or self.max_file_mb > 0, "max file size must be > 0 MB"),
            (0 < self.energy <= 1, "energy must be in (0, 1]"),
            (2 <= self.archive_bins <= 64, "archive bins must be in [2, 64]"),
            (len(self.archive_poles) in (0, 2), "archive poles must be two member names"),
            (bool(self.operators) or self.add_difference or self.crossover or self.extrapolate > 0,
             "at least one operator is needed"),
        ]
        return [text for ok, text in checks if not ok]

    def _registry_problems(self) -> list[str]:
        from lib_stylemix.pool import operators, scores, selection

        problems = []
        registry: Any
        for name, registry in ((self.score, scores.SCORES), (self.select, selection.SELECTIONS)):
            if name not in registry.names():
                problems.append(f"{registry.kind} must be one of {', '.join(registry.names())} (got {name!r})")
        unknown = [o for o in self.operators if o not in operators.OPERATORS.names()]
        if unknown:
            problems.append(f"unknown operator(s) {', '.join(unknown)} (expected {', '.join(operators.names())})")
        for registry in (scores.SCORES, selection.SELECTIONS, operators.OPERATORS):
            for entry in registry.entries():
                for p in entry.params:
                    value = getattr(self, p.name)
                    values = value if isinstance(value, tuple) else (value,)
                    if not all(p.low <= float(v) <= p.high for v in values):
                        problems.append(f"{p.name} must be in [{p.low:g}, {p.high:g}] (got {value})")
        return problems

    @property
    def active_operators(self) -> tuple[str, ...]:
        """The operators that run: `operators` plus the ones the legacy switches turn on."""
        switches = (("extrapolate", self.extrapolate > 0), ("add-difference", self.add_difference),
                    ("crossover", self.crossover))
        return tuple(dict.fromkeys(self.operators + tuple(name for name, on in switches if on)))

    @property
    def extrapolate_span(self) -> float:
        return self.extrapolate if self.extrapolate > 0 else EXTRAPOLATE_DEFAULT

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for key in TUPLE_FIELDS:
            doc[key] = list(getattr(self, key))
        return doc

    @staticmethod
    def from_json(doc: dict[str, Any], **overrides: Any) -> EvolveSettings:
        names = {f.name for f in fields(EvolveSettings)}
        values = {k: v for k, v in doc.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in TUPLE_FIELDS:
            if key in values:
                values[key] = tuple(values[key])
        try:
            return EvolveSettings(**values)
        except TypeError as exc:
            raise StyleMixError(f"evolve settings: {exc}") from exc


def parse_operators(text: str) -> tuple[str, ...]:
    """`blend,orthogonal` or `all` → operator names (validated when the settings are built)."""
    from lib_stylemix.pool import operators

    if text.strip() == "all":
        return operators.names()
    return tuple(part.strip() for part in text.split(",") if part.strip())
