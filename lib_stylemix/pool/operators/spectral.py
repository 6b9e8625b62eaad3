"""`spectral`: rescale a member's per-module singular values (a derived root, see `derived.py`).

Per member: `spectral_draws` random log-normal rescalings σᵢ·exp(a·zᵢ) with a = `spectral_sigma`, and, when
`spectral_gamma` ≠ 1, the sharpened (σ^γ) and flattened (σ^(1/γ)) spectrum; each keeps every module's norm.
Needs the pool's files (a kernel-only pool yields no spectral candidates).
"""

from __future__ import annotations

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.derived import DerivedRoot
from lib_stylemix.pool.operators.registry import OperatorInput, register
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.pool.registry import setting


@register("spectral", "P·f(σ)·Qᵀ per module from the exact SVD of a member: random log-normal rescaling of its "
          "singular values, or a sharpened / flattened spectrum (norm kept)",
          (setting("spectral_draws", 0, 16, "random log-normal draws per member", int),
           setting("spectral_sigma", 0, 2, "a, the log-normal spread of the factors"),
           setting("spectral_gamma", 0.1, 10, "γ: σ^γ and σ^(1/γ) (1: off)")), order=20)
def spectral(ctx: OperatorInput) -> list[Candidate]:
    if ctx.pool is None or not any(r.lora is not None for r in ctx.pool.roots.values()):
        return []
    s = ctx.settings
    out = []
    for a, name in enumerate(ctx.names):
        source = Recipe.from_dense(ctx.coefs[a], ctx.space.keys, ctx.space.blocks)
        modes = [("lognormal", s.spectral_sigma, int(ctx.rng.integers(2**31))) for _ in range(s.spectral_draws)]
        if s.spectral_gamma != 1:
            modes += [("power", s.spectral_gamma, 0), ("power", 1.0 / s.spectral_gamma, 0)]
        for mode, amount, seed in modes:
            root = DerivedRoot(source, mode, amount, seed, f"spectral({name})")
            cand = ctx.make("spectral", (a,), {"mode": mode, "amount": amount, "seed": seed}, ctx.coefs[a] * 0)
            cand.derived = root
            out.append(cand)
    return out
