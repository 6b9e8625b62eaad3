"""LyCORIS LoHa: ΔW = (W1a·W1b) ⊙ (W2a·W2b) · alpha/r, with r = rows of hada_w1_b (as the webui computes it).

Exact factors of rank r₁·r₂ through row-wise Kronecker (face-splitting) products:
    up[o, (p,q)] = A1[o,p]·A2[o,q],  down[(p,q), i] = B1[p,i]·B2[q,i]
so Σ_{p,q} up·down = (A1B1)[o,i]·(A2B2)[o,i]. Convs: B is the flattened r×(c·kh·kw) factor. With the Tucker
cores hada_t1/t2 (r×r×kh×kw; w_a stored r×out, w_b r×in) each half is A = w_aᵀ, B[a,(i,k,l)] = Σ_b t[a,b,k,l]·w_b[b,i]
— still rank r, so the same product applies. Route per module: these factors when r₁·r₂ ≤ min(m, n), otherwise
the dense ΔW (formed once, float64) as ΔW·I or I·ΔW, which then has the smaller rank.
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
    dense_rank,
    dtype_of,
    make_info,
    module_tensors,
    scale_of,
)
from lib_stylemix.lora.formats.spec import MODULE_FORMATS, ModuleFormat

W1A, W1B, W2A, W2B, T1, T2 = "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"
_REQUIRED = (W1A, W1B, W2A, W2B)


def _detect(params: frozenset[str]) -> bool:
    return any(p.startswith("hada_") for p in params)


def _half_shape(where: str, wa: TensorInfo, wb: TensorInfo,
                t: TensorInfo | None) -> tuple[int, int, int, tuple[int, ...] | None]:
    """(rank, out, flattened in, kernel) of one Hadamard half, checked."""
    if t is None:
        if len(wa.shape) != 2 or len(wb.shape) < 2 or wa.shape[1] != wb.shape[0]:
            raise LoraFormatError(f"{where}: LoHa factors {list(wa.shape)} and {list(wb.shape)} do not multiply")
        kernel = tuple(wb.shape[2:]) or None
        return wb.shape[0], wa.shape[0], math.prod(wb.shape[1:]), kernel
    if (len(t.shape) != 4 or len(wa.shape) != 2 or len(wb.shape) != 2 or t.shape[0] != wa.shape[0]
            or t.shape[1] != wb.shape[0]):
        raise LoraFormatError(f"{where}: LoHa Tucker shapes do not fit (t {list(t.shape)}, a {list(wa.shape)}, "
                              f"b {list(wb.shape)})")
    return t.shape[0], wa.shape[1], wb.shape[1] * math.prod(t.shape[2:]), tuple(t.shape[2:])


def _half(t: Mapping[str, np.ndarray], wa: str, wb: str, core: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with A·B = this half of ΔW, flattened."""
    if core in t:
        b = np.einsum("abkl,bi->aikl", t[core], t[wb]).reshape(t[core].shape[0], -1)
        return t[wa].T, b
    return t[wa], t[wb].reshape(t[wb].shape[0], -1)


def _read(where: str, name: str, params: Mapping[str, str], tensors: Mapping[str, TensorInfo]) -> ModuleEntry:
    missing = [p for p in _REQUIRED if p not in params]
    extra = sorted(set(params) - {*_REQUIRED, T1, T2, ALPHA})
    if missing or extra:
        raise LoraFormatError(f"{where}: incomplete LoHa module (missing {missing or 'nothing'}, "
                              f"unexpected {extra or 'nothing'})")
    infos = module_tensors(where, params, tensors)
    r1, m1, n1, k1 = _half_shape(where, infos[W1A], infos[W1B], infos.get(T1))
    r2, m2, n2, k2 = _half_shape(where, infos[W2A], infos[W2B], infos.get(T2))
    if (m1, n1) != (m2, n2):
        raise LoraFormatError(f"{where}: LoHa halves have different shapes ({m1}×{n1} and {m2}×{n2})")
    dim = infos[W1B].shape[0]
    dense = r1 * r2 > dense_rank(m1, n1)
    rank = dense_rank(m1, n1) if dense else r1 * r2
    dtype = dtype_of([i for p, i in infos.items() if p != ALPHA])
    info = make_info(where, name, (m1, n1, k1 or k2), rank, dtype, "loha")

    def build(t: Mapping[str, np.ndarray], alpha: float | None) -> tuple[np.ndarray, np.ndarray]:
        a1, b1 = _half(t, W1A, W1B, T1)
        a2, b2 = _half(t, W2A, W2B, T2)
        scale = scale_of(alpha, dim)
        if dense:
            return as_dense_factors(((a1 @ b1) * (a2 @ b2)) * scale)
        up = (a1[:, :, None] * a2[:, None, :]).reshape(m1, r1 * r2)
        down = (b1[:, None, :] * b2[None, :, :]).reshape(r1 * r2, n1)
        return up * scale, down

    return ModuleEntry(info=info, keys=dict(params), build=build)


LOHA = MODULE_FORMATS.register(ModuleFormat(
    name="loha",
    help="LyCORIS LoHa (hada_w1_a/b, hada_w2_a/b, optional Tucker hada_t1/t2): exact rank r₁·r₂ factors",
    detect=_detect,
    read=_read,
    order=10,
))
