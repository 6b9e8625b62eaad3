"""`LoraFile`: a lazy, validated handle on one kohya LoRA; `Factors`: one module's ΔW = up @ down.

Opening checks the container, the key layout and every module's shapes without reading tensor data, so a
pool of many files costs a header each. Tensors are read one module at a time, checked for NaN/Inf, and
returned with the alpha/rank scale folded into `up`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.lora.arch import block_of as _block_of
from lib_stylemix.lora.arch import detect_arch
from lib_stylemix.lora.container import FLOAT_NAMES, LoraFormatError, SafetensorsSource, TensorSource, open_source
from lib_stylemix.lora.formats import ALPHA, DOWN, UP, group_kohya_keys
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

KINDS = ("linear", "conv1x1", "conv3x3")
_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ModuleInfo:
    """Shapes of one module as stored; `in_features` is the flattened input size (c·kh·kw for convs)."""

    name: str
    kind: str
    rank: int
    out_features: int
    in_features: int
    up_shape: tuple[int, ...]
    down_shape: tuple[int, ...]
    dtype: str
    has_alpha: bool


@dataclass
class Factors:
    """One module with the scale folded in: ΔW = up @ down (`up` is m×r times alpha/r, `down` is r×n)."""

    up: Any  # torch.Tensor
    down: Any  # torch.Tensor
    kind: str
    up_shape: tuple[int, ...]
    down_shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    def dense(self) -> Any:
        """The m×n ΔW (for tests and benchmarks; the algebra never needs it)."""
        return self.up @ self.down


class LoraFile:
    """A validated kohya LoRA on disk; tensors are read only when `factors` asks for them."""

    def __init__(self, path: Path, source: TensorSource, modules: dict[str, ModuleInfo],
                 keys: dict[str, dict[str, str]]) -> None:
        self.path = path
        self.name = path.stem
        self.format = source.format
        self.metadata: dict[str, str] = dict(source.metadata)
        self._source = source
        self._keys = keys
        self.modules = modules
        self.module_names: tuple[str, ...] = tuple(sorted(modules))
        self.rank = max(m.rank for m in modules.values())
        dtypes = Counter(m.dtype for m in modules.values())
        self.dtype = dtypes.most_common(1)[0][0] if len(dtypes) == 1 else "mixed"
        self.nbytes = path.stat().st_size
        guess = detect_arch({n: m.in_features for n, m in modules.items()}, self.metadata)
        self.arch = guess.arch
        self.arch_source = guess.source
        self.arch_note = guess.conflict
        for name in self.module_names:
            try:
                _block_of(name, self.arch)
            except StyleMixError as exc:
                raise LoraFormatError(f"{path}: {exc}") from exc
        self._alphas: dict[str, float] = {}
        self._hash: str | None = None

    def __repr__(self) -> str:
        return f"LoraFile({str(self.path)!r}, arch={self.arch!r}, modules={len(self.modules)}, rank={self.rank})"

    @property
    def params(self) -> int:
        """Number of factor parameters (up and down of every module; alphas not counted)."""
        return sum(m.rank * (m.in_features + m.out_features) for m in self.modules.values())

    @property
    def model_hash(self) -> str:
        """`sshs_model_hash`: sha256 of the tensor-data region (trusts a well-formed stored value)."""
        if self._hash is None:
            stored = self.metadata.get("sshs_model_hash", "")
            self._hash = stored.lower().removeprefix("0x") if _HEX64.match(stored) else self.compute_model_hash()
        return self._hash

    def compute_model_hash(self) -> str:
        """Hash the bytes now: tensor region for safetensors (as A1111/AddNet do), whole file otherwise."""
        start = self._source.data_start if isinstance(self._source, SafetensorsSource) else 0
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            fh.seek(start)
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def block_of(self, module: str) -> str:
        return _block_of(module, self.arch)

    def module_info(self, module: str) -> ModuleInfo:
        try:
            return self.modules[module]
        except KeyError:
            raise LoraFormatError(f"{self.path}: has no module {module}") from None

    def alpha(self, module: str) -> float:
        """The module's alpha (missing or 0 → rank, as kohya and the webui treat it)."""
        if module not in self._alphas:
            info = self.module_info(module)
            value = float(info.rank)
            if info.has_alpha:
                tensor = self._source.get(self._keys[module][ALPHA])
                if tensor.numel() != 1:
                    raise LoraFormatError(f"{self.path}: {module}.alpha has {tensor.numel()} values, expected 1")
                stored = float(tensor.reshape(()).item())
                if not math.isfinite(stored):
                    raise LoraFormatError(f"{self.path}: {module}.alpha is {stored} (NaN/Inf)")
                if stored != 0.0:
                    value = stored
            self._alphas[module] = value
        return self._alphas[module]

    def raw(self, module: str) -> tuple[Any, Any]:
        """The stored (up, down) tensors as written, unscaled and unflattened."""
        keys = self._keys[self.module_info(module).name]
        return self._source.get(keys[UP]), self._source.get(keys[DOWN])

    def factors(self, module: str, dtype: Any = None) -> Factors:
        """Read one module now as float32 (or float64 with `dtype=torch.float64`), scale folded into `up`.

        NaN/Inf is an error naming the file and module. The work runs in numpy (single pass, no thread-pool
        start-up per small tensor) and the result wraps the same memory as torch tensors.
        """
        import numpy as np
        import torch

        info = self.module_info(module)
        np_dtype = np.float64 if dtype == torch.float64 else np.float32
        up_raw, down_raw = self.raw(module)
        up = as_numpy(up_raw).reshape(info.out_features, info.rank).astype(np_dtype)
        down = as_numpy(down_raw).reshape(info.rank, info.in_features).astype(np_dtype)
        for part in (up, down):
            if not np.isfinite(part.sum()) and not np.isfinite(part).all():
                raise LoraFormatError(f"{self.path}: module {module} contains NaN or Inf values")
        scale = self.alpha(module) / info.rank
        if scale != 1.0:
            up *= scale
        return Factors(up=torch.from_numpy(up), down=torch.from_numpy(down), kind=info.kind,
                       up_shape=info.up_shape, down_shape=info.down_shape)

    def validate(self, progress: Progress | None = None, cancel: CancelToken | None = None) -> None:
        """Read every module once (NaN/Inf, alpha); raises LoraFormatError naming the first bad module."""
        progress = progress or NullProgress()
        cancel = cancel or NeverCancel()
        progress.begin(len(self.module_names), f"checking {self.name}")
        for done, module in enumerate(self.module_names, 1):
            _check_cancel(cancel)
            self.factors(module)
            progress.step(done)
        progress.end()

    def close(self) -> None:
        """Drop the open file handle (it is reopened on the next read)."""
        self._source.close()

    def __enter__(self) -> LoraFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_numpy(tensor: Any) -> Any:
    """A numpy view of a stored tensor (bf16, which numpy lacks, is widened to float32 by torch first)."""
    import torch

    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def _check_cancel(cancel: CancelToken) -> None:
    if cancel.cancelled():
        raise CancelledError("stopped by request")


def open_lora(path: str | Path) -> LoraFile:
    """Open and validate a kohya LoRA (.safetensors lazily; .ckpt/.pt only if tensors-only)."""
    path = Path(path)
    source = open_source(path)
    keys = group_kohya_keys(path, source.tensors)
    modules = {name: _module_info(path, name, params, source) for name, params in keys.items()}
    return LoraFile(path, source, modules, keys)


def _module_info(path: Path, name: str, params: dict[str, str], source: TensorSource) -> ModuleInfo:  # noqa: C901
    down = source.tensors[params[DOWN]]
    up = source.tensors[params[UP]]
    where = f"{path}: module {name}"
    for label, info in (("lora_down", down), ("lora_up", up)):
        if info.dtype not in FLOAT_NAMES:
            raise LoraFormatError(f"{where}: {label} has dtype {info.dtype}, expected a float type")
    if ALPHA in params:
        alpha = source.tensors[params[ALPHA]]
        if math.prod(alpha.shape) != 1:
            raise LoraFormatError(f"{where}: alpha has shape {list(alpha.shape)}, expected a scalar")
        if alpha.dtype == "bool":
            raise LoraFormatError(f"{where}: alpha is boolean, expected a number")
    if len(down.shape) == 2 and len(up.shape) == 2:
        kind = "linear"
    elif len(down.shape) == 4 and len(up.shape) == 4:
        if tuple(up.shape[2:]) != (1, 1):
            raise LoraFormatError(f"{where}: conv lora_up kernel is {list(up.shape[2:])}, expected 1×1")
        kernel_size = tuple(down.shape[2:])
        if kernel_size == (1, 1):
            kind = "conv1x1"
        elif kernel_size == (3, 3):
            kind = "conv3x3"
        else:
            raise LoraFormatError(f"{where}: conv kernel {list(kernel_size)} is not supported (1×1 or 3×3)")
    else:
        raise LoraFormatError(
            f"{where}: lora_down shape {list(down.shape)} and lora_up shape {list(up.shape)} do not form a "
            "Linear or Conv LoRA pair")
    rank = down.shape[0]
    if up.shape[1] != rank:
        raise LoraFormatError(
            f"{where}: rank mismatch — lora_down has rank {rank} (shape {list(down.shape)}) but lora_up has "
            f"{up.shape[1]} (shape {list(up.shape)})")
    if rank == 0 or up.shape[0] == 0 or math.prod(down.shape[1:]) == 0:
        raise LoraFormatError(f"{where}: empty factor (down {list(down.shape)}, up {list(up.shape)})")
    dtype = down.dtype if down.dtype == up.dtype else "mixed"
    return ModuleInfo(name=name, kind=kind, rank=rank, out_features=up.shape[0],
                      in_features=math.prod(down.shape[1:]), up_shape=up.shape, down_shape=down.shape,
                      dtype=dtype, has_alpha=ALPHA in params)
