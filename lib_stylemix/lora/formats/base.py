"""What every format reader produces: per module, the shapes to present and how to build exact factors.

A reader never approximates. It maps a module's stored tensors to ΔW = up @ down (scale folded into `up`),
choosing per module the cheaper exact route: the format's own factor algebra, or the dense m×n ΔW written as
ΔW·I (or I·ΔW) when that has the smaller rank. Plain kohya modules have no builder: the engine reads their
`lora_up`/`lora_down` directly (the fast path).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.lora.container import FLOAT_NAMES, LoraFormatError, TensorInfo

KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
DOWN, UP, ALPHA = "lora_down.weight", "lora_up.weight", "alpha"

# tensors (float64, as stored) and the module's alpha (None when absent) -> (up m×k, down k×n), scale folded in
Builder = Callable[[Mapping[str, np.ndarray], "float | None"], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ModuleInfo:
    """Shapes of one module as the engine sees it; `in_features` is the flattened input size (c·kh·kw for convs).

    For plain kohya modules the shapes are the stored ones. For other formats `rank` is the rank of the exact
    factorisation the reader builds, and `up_shape`/`down_shape` are the kohya shapes of that factorisation.
    """

    name: str
    kind: str
    rank: int
    out_features: int
    in_features: int
    up_shape: tuple[int, ...]
    down_shape: tuple[int, ...]
    dtype: str
    has_alpha: bool
    algo: str = "lora"


@dataclass(frozen=True)
class ModuleEntry:
    """One module: its info, the keys it reads (role -> key) and, for non-kohya modules, the factor builder."""

    info: ModuleInfo
    keys: dict[str, str]
    build: Builder | None = None


@dataclass
class ParsedFile:
    """Everything the key scan found: usable modules, ignored keys (named in a warning), bundled embeddings."""

    modules: dict[str, ModuleEntry]
    ignored: list[str] = field(default_factory=list)
    bundle: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_float(where: str, role: str, info: TensorInfo) -> None:
    if info.dtype not in FLOAT_NAMES:
        raise LoraFormatError(f"{where}: {role} has dtype {info.dtype}, expected a float type")


def check_scalar(where: str, info: TensorInfo) -> None:
    if math.prod(info.shape) != 1:
        raise LoraFormatError(f"{where}: alpha has shape {list(info.shape)}, expected a scalar")
    if info.dtype == "bool":
        raise LoraFormatError(f"{where}: alpha is boolean, expected a number")


def module_tensors(where: str, params: Mapping[str, str], tensors: Mapping[str, TensorInfo]) -> dict[str, TensorInfo]:
    """The tensors of one module by parameter name, checked: alpha a number, every other one a float tensor."""
    infos = {p: tensors[k] for p, k in params.items()}
    for p, info in infos.items():
        if p == ALPHA:
            check_scalar(where, info)
        else:
            check_float(where, p, info)
    return infos


@cache
def _table_kinds() -> dict[str, tuple[str, int, int]]:
    """kohya module name -> (kind, out, in channels) from the SD1.5 and SDXL tables shipped with the engine."""
    out: dict[str, tuple[str, int, int]] = {}
    data = Path(__file__).resolve().parent.parent / "data"
    for name in ("sd15_lora_modules.json", "sdxl_lora_modules.json"):
        for m in json.loads((data / name).read_text(encoding="utf-8"))["modules"]:
            out.setdefault(m["name"], (m["kind"], int(m["out"]), int(m["in"])))
    return out


def known_module(name: str) -> bool:
    return name in _table_kinds()


def module_kind(where: str, name: str, out_features: int, in_flat: int, kernel: tuple[int, ...] | None) -> str:
    """linear / conv1x1 / conv3x3 for a ΔW of out×in_flat; the module tables decide when they know the name.

    Formats that store a conv's factors flattened (LoKr's 2-D w2_b) do not show the kernel size, and a 1×1
    conv and a Linear look alike; the tables (derived from sd-scripts) say what the webui will apply.
    """
    known = _table_kinds().get(name)
    if known is not None:
        kind, _, channels = known
        size = channels * (9 if kind == "conv3x3" else 1)
        if size == in_flat:
            return kind
    if kernel is None:
        return "linear"
    if tuple(kernel) == (1, 1):
        return "conv1x1"
    if tuple(kernel) == (3, 3):
        return "conv3x3"
    raise LoraFormatError(f"{where}: conv kernel {list(kernel)} is not supported (1×1 or 3×3)")


def kohya_shapes(kind: str, out_features: int, in_flat: int, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes a kohya LoRA of this module and rank stores (4-D for convs)."""
    if kind == "linear":
        return (out_features, rank), (rank, in_flat)
    k = 3 if kind == "conv3x3" else 1
    return (out_features, rank, 1, 1), (rank, in_flat // (k * k), k, k)


def make_info(where: str, name: str, shape: tuple[int, int, tuple[int, ...] | None], rank: int,
              dtype: str, algo: str) -> ModuleInfo:
    """ModuleInfo of a computed module; `shape` = (out, flattened in, conv kernel or None)."""
    out_features, in_flat, kernel = shape
    if out_features == 0 or in_flat == 0 or rank == 0:
        raise LoraFormatError(f"{where}: empty factor ({out_features}×{in_flat}, rank {rank})")
    kind = module_kind(where, name, out_features, in_flat, kernel)
    if kind == "conv3x3" and in_flat % 9:
        raise LoraFormatError(f"{where}: input size {in_flat} is not a 3×3 conv's")
    up_shape, down_shape = kohya_shapes(kind, out_features, in_flat, rank)
    return ModuleInfo(name=name, kind=kind, rank=rank, out_features=out_features, in_features=in_flat,
                      up_shape=up_shape, down_shape=down_shape, dtype=dtype, has_alpha=False, algo=algo)


def dense_rank(out_features: int, in_flat: int) -> int:
    return min(out_features, in_flat)


def as_dense_factors(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An exact factorisation of a dense ΔW with the smaller identity: ΔW·I_n or I_m·ΔW (rank min(m, n))."""
    m, n = delta.shape
    if n <= m:
        return delta, np.eye(n, dtype=delta.dtype)
    return np.eye(m, dtype=delta.dtype), delta


def dtype_of(infos: list[TensorInfo]) -> str:
    dtypes = {i.dtype for i in infos}
    return dtypes.pop() if len(dtypes) == 1 else "mixed"


def scale_of(alpha: float | None, dim: int | None) -> float:
    """alpha/dim as the webui applies it: 1 when either is missing, and alpha 0 means 'alpha = dim'."""
    if alpha is None or dim is None or alpha == 0:
        return 1.0
    return float(alpha) / dim


def flat(tensor: Any, rows: int) -> np.ndarray:
    return np.asarray(tensor).reshape(rows, -1)
