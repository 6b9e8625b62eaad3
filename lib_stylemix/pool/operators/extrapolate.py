"""`extrapolate`: the mixing line beyond the parents, t = −T·k/R and 1 + T·k/R."""

from __future__ import annotations

import itertools

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.operators.registry import OperatorInput, register
from lib_stylemix.pool.registry import setting


@register("extrapolate", "(1 − t)·A + t·B with t = −T·k/R and 1 + T·k/R: steps past a parent, away from the other",
          (setting("extrapolate", 0, 4, "T, how far past the parents the line goes (0 with the operator on: 0.5)"),),
          order=40)
def extrapolate(ctx: OperatorInput) -> list[Candidate]:
    r, span = ctx.settings.ratios, ctx.settings.extrapolate_span
    steps = [span * k / r for k in range(1, r + 1)]
    out = []
    for a, b in itertools.combinations(range(len(ctx.names)), 2):
        for s in steps:
            for t in (-s, 1 + s):
                out.append(ctx.make("extrapolate", (a, b), {"ratio": t}, (1 - t) * ctx.coefs[a] + t * ctx.coefs[b]))
    return out
