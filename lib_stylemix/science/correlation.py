"""Does ΔW distance predict image-space style distance? Spearman ρ between the two distance matrices.

Only the upper triangles are compared (each unordered pair once). The n(n−1)/2 pairs are *not*
independent: every member appears in n−1 of them, so resampling pairs would understate the uncertainty.
The bootstrap therefore resamples **members** with replacement and recomputes ρ over the pairs of
distinct drawn members (a member drawn twice contributes its pairs twice, never a pair with itself);
the interval is the percentile interval of those ρ values, with a fixed seed so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError

REPORT_FORMAT = "stylemix-style-correlation"
MIN_MEMBERS = 3


def rank_average(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank (what Spearman's ρ needs)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson on average ranks); NaN when either side is constant."""
    rx, ry = rank_average(x), rank_average(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = float(np.sqrt(np.sum(rx**2) * np.sum(ry**2)))
    return float(np.sum(rx * ry) / denom) if denom > 0 else float("nan")


def upper(m: np.ndarray) -> np.ndarray:
    """The strict upper triangle of a square matrix as a vector (row-major pair order)."""
    return m[np.triu_indices(len(m), k=1)]


def _check(dw: np.ndarray, image: np.ndarray) -> None:
    if dw.shape != image.shape or dw.ndim != 2 or dw.shape[0] != dw.shape[1]:
        raise StyleMixError(f"distance matrices must be square and the same size: {dw.shape} vs {image.shape}")
    if dw.shape[0] < MIN_MEMBERS:
        raise StyleMixError(f"need at least {MIN_MEMBERS} members for a correlation (got {dw.shape[0]})")
    if not (np.all(np.isfinite(dw)) and np.all(np.isfinite(image))):
        raise StyleMixError("distance matrices contain NaN or infinity")


def bootstrap_rho(dw: np.ndarray, image: np.ndarray, *, samples: int = 1000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float, int]:
    """Percentile CI of ρ from resampling members (see the module docstring); returns (low, high, used)."""
    n = len(dw)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        idx = rng.integers(0, n, size=n)
        a, b = np.triu_indices(n, k=1)
        keep = idx[a] != idx[b]
        if int(np.count_nonzero(keep)) < 3:
            continue
        rho = spearman(dw[idx[a][keep], idx[b][keep]], image[idx[a][keep], idx[b][keep]])
        if np.isfinite(rho):
            values.append(rho)
    if not values:
        return float("nan"), float("nan"), 0
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high), len(values)


@dataclass(frozen=True)
class Disagreement:
    """A pair whose ΔW rank and image rank differ most (rank 1 = closest pair)."""

    a: str
    b: str
    dw_rank: float
    image_rank: float

    @property
    def gap(self) -> float:
        return abs(self.dw_rank - self.image_rank)


def disagreements(names: Sequence[str], dw: np.ndarray, image: np.ndarray, top: int = 5) -> list[Disagreement]:
    """The `top` pairs with the largest |rank_ΔW − rank_image| (ties broken by pair order)."""
    ia, ib = np.triu_indices(len(names), k=1)
    rd, ri = rank_average(upper(dw)), rank_average(upper(image))
    order = sorted(range(len(ia)), key=lambda k: (-abs(rd[k] - ri[k]), k))[:top]
    return [Disagreement(names[ia[k]], names[ib[k]], float(rd[k]), float(ri[k])) for k in order]


def block_distances(by_block: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-block ΔW distance matrices ‖ΔWᵢ − ΔWⱼ‖ restricted to block b, from the members' per-block K."""
    out = {}
    for block, k in by_block.items():
        k = np.asarray(k, dtype=np.float64)
        diag = np.diag(k)
        d = np.sqrt(np.maximum(diag[:, None] + diag[None, :] - 2.0 * k, 0.0))
        np.fill_diagonal(d, 0.0)
        out[block] = d
    return out


@dataclass
class CorrelationReport:
    """ΔW vs image-space style distance over one set of members."""

    names: list[str]
    dw: np.ndarray
    image: np.ndarray
    rho: float
    ci_low: float
    ci_high: float
    bootstrap_samples: int
    seed: int
    level: float
    block_rho: dict[str, float] = field(default_factory=dict)
    worst: list[Disagreement] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best_block(self) -> str | None:
        finite = {b: r for b, r in self.block_rho.items() if np.isfinite(r)}
        return max(finite, key=lambda b: finite[b]) if finite else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "names": list(self.names),
            "spearman_rho": _num(self.rho),
            "ci": [_num(self.ci_low), _num(self.ci_high)],
            "ci_level": self.level,
            "bootstrap": {"samples": self.bootstrap_samples, "seed": self.seed, "resampling": "members"},
            "pairs": len(upper(self.dw)),
            "block_rho": {b: _num(r) for b, r in self.block_rho.items()},
            "best_block": self.best_block,
            "disagreements": [
                {"a": d.a, "b": d.b, "dw_rank": d.dw_rank, "image_rank": d.image_rank, "gap": d.gap}
                for d in self.worst
            ],
            "dw_distance": self.dw.tolist(),
            "image_distance": self.image.tolist(),
            **self.extra,
        }


def _num(value: float) -> float | None:
    """JSON has no NaN: undefined statistics are written as null."""
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class CorrelationSettings:
    """How the report is computed: bootstrap size, seed, CI level, how many disagreeing pairs to list."""

    samples: int = 1000
    seed: int = 0
    level: float = 0.95
    top: int = 5


def correlate(names: Sequence[str], dw: np.ndarray, image: np.ndarray, *,
              by_block: Mapping[str, np.ndarray] | None = None,
              settings: CorrelationSettings | None = None) -> CorrelationReport:
    """Spearman ρ (ΔW vs image), bootstrap CI over members, per-block ρ and the most disagreeing pairs."""
    s = settings or CorrelationSettings()
    dw = np.asarray(dw, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    _check(dw, image)
    if len(names) != len(dw):
        raise StyleMixError(f"{len(names)} names for {len(dw)} members")
    rho = spearman(upper(dw), upper(image))
    low, high, used = bootstrap_rho(dw, image, samples=s.samples, seed=s.seed, level=s.level)
    block_rho = {b: spearman(upper(d), upper(image)) for b, d in block_distances(by_block or {}).items()}
    return CorrelationReport(list(names), dw, image, rho, low, high, used, s.seed, s.level, block_rho,
                             disagreements(names, dw, image, s.top))


def load_matrix(doc: Any, what: str) -> tuple[list[str] | None, np.ndarray]:
    """A distance matrix from JSON: a bare list of rows, or {"names": [...], "matrix"|"distances": rows}."""
    names = None
    rows = doc
    if isinstance(doc, dict):
        names = doc.get("names")
        rows = doc.get("matrix", doc.get("distances", doc.get("dw_distance")))
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise StyleMixError(f"{what}: not a matrix of numbers") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise StyleMixError(f"{what}: expected a square matrix, got shape {matrix.shape}")
    if names is not None and (not isinstance(names, list) or len(names) != len(matrix)):
        raise StyleMixError(f"{what}: 'names' must list one name per row")
    return names, matrix
