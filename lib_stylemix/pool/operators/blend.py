"""`blend`: (1 − t)·A + t·B for every unordered pair and t = k/(R+1), k = 1..R (the seed's mixes)."""

from __future__ import annotations

import itertools

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.operators.registry import OperatorInput, register
from lib_stylemix.pool.registry import setting


@register("blend", "(1 − t)·A + t·B, t = k/(R+1) for k = 1..R: convex mixes, never farther than 0.5 × the "
          "parents' distance from the nearer parent",
          (setting("ratios", 1, 99, "R, the number of ratios per pair", int),), order=0)
def blend(ctx: OperatorInput) -> list[Candidate]:
    r = ctx.settings.ratios
    ratios = [k / (r + 1) for k in range(1, r + 1)]
    out = []
    for a, b in itertools.combinations(range(len(ctx.names)), 2):
        for t in ratios:
            out.append(ctx.make("blend", (a, b), {"ratio": t}, (1 - t) * ctx.coefs[a] + t * ctx.coefs[b]))
    return out
