"""`add-difference`: A + t·(B − C) for ordered triples of distinct members."""

from __future__ import annotations

import itertools

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.operators.registry import OperatorInput, register
from lib_stylemix.pool.registry import setting


@register("add-difference", "A + t·(B − C): moves A along the difference between two other members",
          (setting("difference_scales", -4, 4, "the values of t"),), order=50)
def add_difference(ctx: OperatorInput) -> list[Candidate]:
    c = ctx.coefs
    out = []
    for a, b, d in itertools.permutations(range(len(ctx.names)), 3):
        for t in ctx.settings.difference_scales:
            out.append(ctx.make("add-difference", (a, b, d), {"scale": t}, c[a] + t * (c[b] - c[d])))
    return out
