"""`crossover`: per block-weight group either A's or B's coefficients (random non-trivial block masks)."""

from __future__ import annotations

import itertools

import numpy as np

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.operators.registry import OperatorInput, register
from lib_stylemix.pool.registry import setting


@register("crossover", "per block: A's blocks where a random mask is on, B's elsewhere",
          (setting("crossovers", 1, 64, "random block masks per pair", int),), order=60)
def crossover(ctx: OperatorInput) -> list[Candidate]:
    blocks = ctx.space.blocks
    if len(blocks) < 2:
        return []
    out = []
    for a, b in itertools.combinations(range(len(ctx.names)), 2):
        for mask in _masks(len(blocks), ctx.settings.crossovers, ctx.rng):
            coef = np.where(mask[:, None], ctx.coefs[a], ctx.coefs[b])
            params = {"from_first": [bl for bl, on in zip(blocks, mask, strict=False) if on]}
            out.append(ctx.make("crossover", (a, b), params, coef))
    return out


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
