"""concat: the exact weighted sum, Σ w_i ΔW_i = [s_1 U_1 | … | s_k U_k] · [t_1 D_1; …; t_k D_k].

s_i·t_i = w_i·alpha_i/r_i with a balanced √ split (sign on up). Exact for any weights, mixed ranks and modules
missing from some inputs; the rank is the sum of the input ranks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lib_stylemix.lora.merge_methods import MergeMethod, OutModule, Parts, out_shapes, register


def merge_concat(module: str, parts: Parts, options: Mapping[str, Any]) -> OutModule:
    import numpy as np
    import torch

    ups, downs = [], []
    for file, weight in parts:
        fac = file.factors(module)
        scale = file.alpha(module) / fac.rank
        s = weight * scale
        # Û = scale·U; write sign(s)·√|s|·U and √|s|·D so both halves keep the magnitude of the original.
        ups.append(fac.up.numpy() * np.float32(math.copysign(math.sqrt(abs(s)), s) / scale))
        downs.append(fac.down.numpy() * np.float32(math.sqrt(abs(s))))
    up = torch.from_numpy(np.concatenate(ups, axis=1))
    down = torch.from_numpy(np.concatenate(downs, axis=0))
    up_shape, down_shape = out_shapes(parts[0][0], module, up.shape[1])
    return OutModule(up=up, down=down, kind=parts[0][0].modules[module].kind, up_shape=up_shape,
                     down_shape=down_shape)


register(MergeMethod(
    name="concat",
    label="concat (exact)",
    help="exact Σ w_i·ΔW_i by stacking factors (rank = sum of the input ranks)",
    merge_module=merge_concat,
    order=0,
))
