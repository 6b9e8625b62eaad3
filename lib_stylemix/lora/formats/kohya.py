"""kohya LoRA and LoCon (`lora_down`/`lora_up`/`alpha`, 3×3 convs with conv_dim), and LoCon with a Tucker core.

ΔW = (alpha/r)·U·D with U = up (m×r) and D = down (r×c·kh·kw) flattened. With LyCORIS' Tucker core `lora_mid`
(r×r×kh×kw, 1×1 up and down), ΔW[o, (i,k,l)] = Σ_{a,b} U[o,a]·mid[a,b,k,l]·D[b,i]: still rank r, with the
down factor D'[a,(i,k,l)] = Σ_b mid[a,b,k,l]·D[b,i]. Plain modules are read by the engine's fast path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from lib_stylemix.lora.container import LoraFormatError, TensorInfo
from lib_stylemix.lora.formats.base import (
    ALPHA,
    DOWN,
    UP,
    ModuleEntry,
    ModuleInfo,
    check_float,
    check_scalar,
    dtype_of,
    make_info,
    scale_of,
)
from lib_stylemix.lora.formats.spec import MODULE_FORMATS, ModuleFormat

MID = "lora_mid.weight"


def _detect(params: frozenset[str]) -> bool:
    return bool(params & {DOWN, UP}) and params <= {DOWN, UP, ALPHA, MID}


def _read(where: str, name: str, params: Mapping[str, str], tensors: Mapping[str, TensorInfo]) -> ModuleEntry:
    missing = [p for p in (DOWN, UP) if p not in params]
    if missing:
        raise LoraFormatError(f"{where} has no {' / '.join(missing)} tensor")
    down, up = tensors[params[DOWN]], tensors[params[UP]]
    for label, info in (("lora_down", down), ("lora_up", up)):
        check_float(where, label, info)
    if ALPHA in params:
        check_scalar(where, tensors[params[ALPHA]])
    if MID in params:
        return _read_tucker(where, name, params, tensors)
    kind = _plain_kind(where, down.shape, up.shape)
    rank = down.shape[0]
    if up.shape[1] != rank:
        raise LoraFormatError(
            f"{where}: rank mismatch — lora_down has rank {rank} (shape {list(down.shape)}) but lora_up has "
            f"{up.shape[1]} (shape {list(up.shape)})")
    if rank == 0 or up.shape[0] == 0 or math.prod(down.shape[1:]) == 0:
        raise LoraFormatError(f"{where}: empty factor (down {list(down.shape)}, up {list(up.shape)})")
    module = ModuleInfo(name=name, kind=kind, rank=rank, out_features=up.shape[0],
                        in_features=math.prod(down.shape[1:]), up_shape=up.shape, down_shape=down.shape,
                        dtype=dtype_of([down, up]), has_alpha=ALPHA in params)
    return ModuleEntry(info=module, keys=dict(params))


def _plain_kind(where: str, down: tuple[int, ...], up: tuple[int, ...]) -> str:
    if len(down) == 2 and len(up) == 2:
        return "linear"
    if len(down) == 4 and len(up) == 4:
        if tuple(up[2:]) != (1, 1):
            raise LoraFormatError(f"{where}: conv lora_up kernel is {list(up[2:])}, expected 1×1")
        kernel = tuple(down[2:])
        if kernel == (1, 1):
            return "conv1x1"
        if kernel == (3, 3):
            return "conv3x3"
        raise LoraFormatError(f"{where}: conv kernel {list(kernel)} is not supported (1×1 or 3×3)")
    raise LoraFormatError(
        f"{where}: lora_down shape {list(down)} and lora_up shape {list(up)} do not form a Linear or Conv LoRA pair")


def _read_tucker(where: str, name: str, params: Mapping[str, str],
                 tensors: Mapping[str, TensorInfo]) -> ModuleEntry:
    down, up, mid = tensors[params[DOWN]], tensors[params[UP]], tensors[params[MID]]
    check_float(where, "lora_mid", mid)
    rank = down.shape[0]
    if (len(mid.shape) != 4 or len(up.shape) < 2 or up.shape[1] != mid.shape[0]
            or mid.shape[1] != rank or len(down.shape) < 2):
        raise LoraFormatError(f"{where}: Tucker LoCon shapes do not fit (up {list(up.shape)}, mid "
                              f"{list(mid.shape)}, down {list(down.shape)})")
    kernel = tuple(mid.shape[2:])
    info = make_info(where, name, (up.shape[0], down.shape[1] * math.prod(kernel), kernel), mid.shape[0],
                     dtype_of([down, up, mid]), "locon-tucker")

    def build(t: Mapping[str, np.ndarray], alpha: float | None) -> tuple[np.ndarray, np.ndarray]:
        u = t[UP].reshape(t[UP].shape[0], -1)
        d = t[DOWN].reshape(rank, -1)
        core = np.einsum("abkl,bi->aikl", t[MID], d).reshape(t[MID].shape[0], -1)
        return u * scale_of(alpha, rank), core

    return ModuleEntry(info=info, keys=dict(params), build=build)


LORA = MODULE_FORMATS.register(ModuleFormat(
    name="lora",
    help="kohya LoRA / LoCon (lora_down, lora_up, alpha; 3×3 convs with conv_dim; LyCORIS Tucker lora_mid)",
    detect=_detect,
    read=_read,
    order=0,
))
