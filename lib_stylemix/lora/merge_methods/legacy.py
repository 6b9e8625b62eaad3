"""legacy: Σ w_i Û_i and Σ w_i D_i element-wise (equal ranks only).

NOT effect-preserving (the product has cross terms w_i w_j Û_i D_j); kept only to reproduce old results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora.merge_methods import MergeMethod, OutModule, Parts, out_shapes, register


def merge_legacy(module: str, parts: Parts, options: Mapping[str, Any]) -> OutModule:
    import torch

    ranks = {f.name: f.modules[module].rank for f, _ in parts}
    if len(set(ranks.values())) > 1:
        listing = ", ".join(f"{name} rank {r}" for name, r in ranks.items())
        raise StyleMixError(f"legacy merge needs equal ranks; module {module} has {listing} (use concat or svd)")
    up = down = None
    for file, weight in parts:
        fac = file.factors(module)
        up = fac.up.numpy() * weight if up is None else up + fac.up.numpy() * weight
        down = fac.down.numpy() * weight if down is None else down + fac.down.numpy() * weight
    assert up is not None and down is not None
    up_shape, down_shape = out_shapes(parts[0][0], module, up.shape[1])
    return OutModule(up=torch.from_numpy(up.astype("float32")), down=torch.from_numpy(down.astype("float32")),
                     kind=parts[0][0].modules[module].kind, up_shape=up_shape, down_shape=down_shape)


register(MergeMethod(
    name="legacy",
    label="legacy (not effect-preserving)",
    help="averages factors element-wise (equal ranks only; NOT effect-preserving)",
    merge_module=merge_legacy,
    effect_preserving=False,
    order=20,
))
