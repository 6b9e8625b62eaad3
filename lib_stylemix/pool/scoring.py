"""Scores, the strength guard, dedupe and selection, all computed from the kernel (no tensor is formed).

For a candidate x and the current members m₁…m_p (Frobenius distances of ΔW, summed over every module, from
`KernelSpace`) the registered scores (`pool/scores/`) are computed from the distance matrix; the score named
in the settings becomes `Candidate.score`, quantised to its resolution (see `scores/registry.py`), and the
selection rule (`pool/selection/`) picks the kept set.
Strength guard: with P the parents of x, keep x only if lo·min_{q∈P}‖q‖ ≤ ‖x‖ ≤ hi·max_{q∈P}‖q‖.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lib_stylemix.errors import CancelledError
from lib_stylemix.pool import scores, selection
from lib_stylemix.pool.algebra import KernelSpace
from lib_stylemix.pool.candidates import COPY, DUPLICATE, SCORED, SELECTED, STRONG, WEAK, Candidate
from lib_stylemix.pool.settings import EvolveSettings
from lib_stylemix.seams import CancelToken, Progress

CHUNK = 256


@dataclass(frozen=True)
class Reference:
    """What candidates are measured against: the members (coefficient stack and names) and the archive of
    everything the pool ever held (for `knn-novelty`; default: the members)."""

    coefs: np.ndarray
    names: list[str]
    archive: np.ndarray | None = None


@dataclass(frozen=True)
class ScoreScale:
    """The pool spacing s the scores are measured in, the score resolution (ties below it), and the
    candidates' Euclidean features (`KernelSpace.features`, one row per candidate) for dedupe and selection."""

    scale: float
    resolution: float
    feats: np.ndarray


def score_candidates(
    space: KernelSpace,
    candidates: list[Candidate],
    reference: Reference,
    settings: EvolveSettings,
    progress: Progress,
    cancel: CancelToken,
    stage: str = "scoring",
) -> ScoreScale:
    """Fill in norms, nearest member, the scores and the guard/copy status of every candidate (in place).

    Work is done in chunks of `CHUNK` candidates; the cancel token is checked between chunks. Returns the
    pool scale and the score resolution.
    """
    member_coefs, member_names = reference.coefs, reference.names
    n = len(candidates)
    progress.begin(n, stage)
    member_sq = space.sq_norms(member_coefs)
    member_norm = np.sqrt(member_sq)
    archive = reference.archive
    archive_sq = space.sq_norms(archive) if archive is not None else None
    member_dist = np.sqrt(space.sq_distances(member_coefs, member_coefs, member_sq, member_sq))
    scale = scores.pool_scale(member_dist, member_norm)
    delta = scores.registry.DISTANCE_RESOLUTION * float(member_norm.max(initial=0.0))
    score_fn = scores.get(settings.score).run
    resolution = 0.0
    norms_list = member_norm.tolist()
    feats = np.empty((n, space.features(member_coefs[:1]).shape[1]))
    start = time.monotonic()
    for first in range(0, n, CHUNK):
        if cancel.cancelled():
            raise CancelledError("evolve stopped while scoring candidates; the pool is unchanged")
        chunk = candidates[first:first + CHUNK]
        x = np.stack([c.coef for c in chunk])
        feats[first:first + len(chunk)] = space.features(x)
        x_sq = space.sq_norms(x)
        d2 = space.sq_distances(x, member_coefs, x_sq, member_sq)
        dist = np.sqrt(d2)
        norms = np.sqrt(x_sq)
        nearest = np.argmin(dist, axis=1)
        archive_dist = dist if archive is None else np.sqrt(space.sq_distances(x, archive, x_sq, archive_sq))
        values, res = score_fn(scores.ScoreInput(dist, norms, scale, archive_dist, settings.knn, delta))
        resolution = max(resolution, res)
        near_d = dist[np.arange(len(chunk)), nearest]
        novelty = np.divide(near_d, norms, out=np.zeros_like(norms), where=norms > 0)
        rows = zip(chunk, norms.tolist(), nearest.tolist(), near_d.tolist(), novelty.tolist(),
                   dist.mean(axis=1).tolist(), values.tolist(), strict=True)
        for cand, norm, near, near_dist, nov, legacy, value in rows:
            cand.score = value
            cand.norm = norm
            cand.nearest = member_names[near]
            cand.nearest_distance = near_dist
            cand.novelty = nov
            cand.legacy_average = legacy
            cand.status = _status(cand, near, norms_list, settings)
        done = min(first + CHUNK, n)
        elapsed = time.monotonic() - start
        eta = elapsed / done * (n - done) if done else 0.0
        progress.step(done, f"{stage} {done}/{n}, ETA {eta:.0f}s")
    progress.end(stage)
    quantised = scores.quantise(np.array([c.score for c in candidates]), resolution).tolist()
    for cand, value in zip(candidates, quantised, strict=True):
        cand.score = value
        cand.resolution = resolution
    return ScoreScale(scale, resolution, feats)


def _status(cand: Candidate, near: int, member_norms: list[float], settings: EvolveSettings) -> str:
    """Strength guard against the parents' norms, then the copy test against the nearest member."""
    lo, hi = settings.strength_band
    parent_norms = [member_norms[i] for i in cand.parent_index]
    if cand.norm < lo * min(parent_norms) or cand.norm == 0:
        return WEAK
    if cand.norm > hi * max(parent_norms):
        return STRONG
    if cand.nearest_distance <= settings.dedupe_tol * max(cand.norm, member_norms[near]):
        return COPY
    return SCORED


def mark_duplicates(space: KernelSpace, candidates: list[Candidate], tol: float,
                    all_feats: np.ndarray | None = None) -> int:
    """Mark valid candidates within `tol × max(‖x‖, ‖y‖)` of a better-scoring valid one as `duplicate`.

    Two such candidates have norms within the same tolerance (|‖x‖ − ‖y‖| ≤ ‖x − y‖), so each candidate is only
    compared with the ones after it in norm order up to that bound, in blocks of rows, through the Euclidean
    embedding of `KernelSpace.features` (one matrix product per block). Greedy in score order, ties keep
    generation order. Returns the number marked.
    """
    valid = np.array([i for i, c in enumerate(candidates) if c.status == SCORED], dtype=int)
    if len(valid) < 2:
        return 0
    norms = np.array([candidates[i].norm for i in valid])
    order = np.argsort(norms, kind="stable")
    valid, norms = valid[order], norms[order]
    feats = all_feats[valid] if all_feats is not None else space.features(np.stack([candidates[i].coef
                                                                                    for i in valid]))
    feat_sq = np.einsum("ad,ad->a", feats, feats)
    ends = np.searchsorted(norms, norms / (1.0 - tol) if tol < 1 else np.full(len(norms), np.inf), side="right")
    near: dict[int, list[int]] = {}
    for start in range(0, len(valid), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(valid)))
        stop = int(ends[rows].max())
        cols = np.arange(start, stop)
        d2 = feat_sq[rows, None] + feat_sq[None, cols] - 2.0 * feats[rows] @ feats[cols].T
        limit = tol * np.maximum(norms[rows, None], norms[None, cols])
        hit = (d2 <= limit**2) & (cols[None, :] > rows[:, None]) & (cols[None, :] < ends[rows, None])
        for r, c in zip(*np.nonzero(hit), strict=True):
            i, j = int(valid[rows[r]]), int(valid[cols[c]])
            near.setdefault(i, []).append(j)
            near.setdefault(j, []).append(i)
    marked = 0
    kept: set[int] = set()
    for i in sorted(near, key=lambda i: (-candidates[i].score, i)):
        if any(j in kept for j in near[i]):
            candidates[i].status = DUPLICATE
            marked += 1
        else:
            kept.add(i)
    return marked


def select(space: KernelSpace, candidates: list[Candidate], settings: EvolveSettings, scale: ScoreScale,
           among: list[int] | None = None) -> list[Candidate]:
    """Run the settings' selection rule over the valid candidates (or the indices `among`); marks `selected`."""
    valid = among if among is not None else [i for i, c in enumerate(candidates) if c.status == SCORED]
    if not valid:
        return []
    feats = scale.feats[valid]
    data = selection.SelectInput(
        scores=np.array([candidates[i].score for i in valid]), resolution=scale.resolution, feats=feats,
        parent_sets=[candidates[i].parent_set for i in valid],
        keep=settings.keep, per_parents=settings.per_parents, scale=scale.scale)
    chosen = [candidates[valid[i]] for i in selection.get(settings.select).run(data)]
    for cand in chosen:
        cand.status = SELECTED
    return chosen


def member_novelty(space: KernelSpace, coefs: np.ndarray) -> np.ndarray:
    """Novelty of each member against the others: minⱼ≠ᵢ ‖mᵢ − mⱼ‖ / ‖mᵢ‖ (used to pick whom to evict)."""
    sq = space.sq_norms(coefs)
    d = np.sqrt(space.sq_distances(coefs, coefs, sq, sq))
    np.fill_diagonal(d, np.inf)
    norms = np.sqrt(sq)
    nearest = d.min(axis=1) if len(coefs) > 1 else np.zeros(len(coefs))
    return np.divide(nearest, norms, out=np.zeros_like(norms), where=norms > 0)
