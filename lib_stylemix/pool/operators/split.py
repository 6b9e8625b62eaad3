"""`split`: text encoder from A, U-Net from B (every ordered pair), a block mask over the BASE block."""

from __future__ import annotations

import itertools

import numpy as np

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.operators.registry import OperatorInput, register

TEXT_ENCODER_BLOCKS = ("BASE",)


@register("split", "text encoder (BASE block) from A, every U-Net block from B", order=30)
def split(ctx: OperatorInput) -> list[Candidate]:
    te = np.array([b in TEXT_ENCODER_BLOCKS for b in ctx.space.blocks])
    if not te.any() or te.all():
        return []
    out = []
    for a, b in itertools.permutations(range(len(ctx.names)), 2):
        coef = np.where(te[:, None], ctx.coefs[a], ctx.coefs[b])
        out.append(ctx.make("split", (a, b), {"text_encoder": ctx.names[a], "unet": ctx.names[b]}, coef))
    return out
