"""LyCORIS LoKr: ΔW = kron(W1, W2) · scale, each factor full or low-rank (W = W_a·W_b), W2 optionally Tucker.

Scale as the webui and LyCORIS apply it: alpha/dim with dim = rows of lokr_w2_b if present, else of lokr_w1_b;
when both factors are full there is no dim and the scale is 1 (LyCORIS stores alpha = dim then).
Convs: W2 is c×d×kh×kw (or its flattened c×(d·kh·kw) low-rank form) and kron over the first two axes equals
kron(W1, W2 flattened) on the flattened ΔW, so everything is 2-D here.
Exact factors: with W1 = U1·V1 and W2 = U2·V2, kron(W1, W2) = kron(U1, U2)·kron(V1, V2), rank k1·k2. A full
factor is written W·I or I·W (the smaller identity), so k1·k2 ≤ min(m, n) always: this route is never worse
than the dense one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from lib_stylemix.lora.container import LoraFormatError, TensorInfo
from lib_stylemix.lora.formats.base import (
    ALPHA,
    ModuleEntry,
    as_dense_factors,
    dtype_of,
    make_info,
    module_tensors,
    scale_of,
)
from lib_stylemix.lora.formats.spec import MODULE_FORMATS, ModuleFormat

W1, W1A, W1B, W2, W2A, W2B, T2 = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b",
                                  "lokr_t2")
_ALL = {W1, W1A, W1B, W2, W2A, W2B, T2, ALPHA}


def _detect(params: frozenset[str]) -> bool:
    return any(p.startswith("lokr_") for p in params)


def _factor_shape(where: str, infos: Mapping[str, TensorInfo], which: str) -> tuple[int, int, int, tuple | None]:
    """(rows, flattened cols, factor rank, conv kernel) of W1 or W2, checked."""
    full, a, b = (W1, W1A, W1B) if which == "1" else (W2, W2A, W2B)
    if full in infos:
        if a in infos or b in infos:
            raise LoraFormatError(f"{where}: LoKr has both {full} and {a}/{b}")
        s = infos[full].shape
        if len(s) not in (2, 4):
            raise LoraFormatError(f"{where}: {full} has shape {list(s)}")
        return s[0], math.prod(s[1:]), min(s[0], math.prod(s[1:])), tuple(s[2:]) or None
    if a not in infos or b not in infos:
        raise LoraFormatError(f"{where}: LoKr needs {full} or both {a} and {b}")
    sa, sb = infos[a].shape, infos[b].shape
    if which == "2" and T2 in infos:
        st = infos[T2].shape
        if len(st) != 4 or len(sa) != 2 or len(sb) != 2 or st[0] != sa[0] or st[1] != sb[0]:
            raise LoraFormatError(f"{where}: LoKr Tucker shapes do not fit (t2 {list(st)}, a {list(sa)}, "
                                  f"b {list(sb)})")
        return sa[1], sb[1] * math.prod(st[2:]), st[0], tuple(st[2:])
    if len(sa) != 2 or len(sb) < 2 or sa[1] != sb[0]:
        raise LoraFormatError(f"{where}: LoKr factors {list(sa)} and {list(sb)} do not multiply")
    return sa[0], math.prod(sb[1:]), sb[0], tuple(sb[2:]) or None


def _factor(t: Mapping[str, np.ndarray], which: str) -> tuple[np.ndarray, np.ndarray]:
    """(U, V) with U·V = W1 or W2 (flattened 2-D), exactly."""
    full, a, b = (W1, W1A, W1B) if which == "1" else (W2, W2A, W2B)
    if full in t:
        w = t[full].reshape(t[full].shape[0], -1)
        return as_dense_factors(w)
    if which == "2" and T2 in t:
        core = np.einsum("abkl,bi->aikl", t[T2], t[b]).reshape(t[T2].shape[0], -1)
        return t[a].T, core
    return t[a], t[b].reshape(t[b].shape[0], -1)


def _read(where: str, name: str, params: Mapping[str, str], tensors: Mapping[str, TensorInfo]) -> ModuleEntry:
    extra = sorted(set(params) - _ALL)
    if extra:
        raise LoraFormatError(f"{where}: unexpected LoKr parameters {extra}")
    infos = module_tensors(where, params, tensors)
    a, b, k1, _ = _factor_shape(where, infos, "1")
    c, d, k2, kernel = _factor_shape(where, infos, "2")
    dim = infos[W2B].shape[0] if W2B in infos else (infos[W1B].shape[0] if W1B in infos else None)
    dtype = dtype_of([i for p, i in infos.items() if p != ALPHA])
    info = make_info(where, name, (a * c, b * d, kernel), k1 * k2, dtype, "lokr")

    def build(t: Mapping[str, np.ndarray], alpha: float | None) -> tuple[np.ndarray, np.ndarray]:
        u1, v1 = _factor(t, "1")
        u2, v2 = _factor(t, "2")
        return np.kron(u1, u2) * scale_of(alpha, dim), np.kron(v1, v2)

    return ModuleEntry(info=info, keys=dict(params), build=build)


LOKR = MODULE_FORMATS.register(ModuleFormat(
    name="lokr",
    help="LyCORIS LoKr (lokr_w1 or lokr_w1_a/b, lokr_w2 or lokr_w2_a/b, optional Tucker lokr_t2): exact "
         "Kronecker factors",
    detect=_detect,
    read=_read,
    order=20,
))
