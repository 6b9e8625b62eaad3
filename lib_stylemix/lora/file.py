"""`LoraFile`: a lazy, validated handle on one LoRA file; `Factors`: one module's ΔW = up @ down.

Opening checks the container, the key layout and every module's shapes without reading tensor data, so a
pool of many files costs a header each. Tensors are read one module at a time, checked for NaN/Inf, and
returned with the alpha/rank scale folded into `up`. Modules of other formats (LyCORIS LoHa/LoKr/Tucker,
diffusers/PEFT names: see `formats/`) are presented as kohya modules whose factors are built exactly on read,
with the scale already folded in (their `alpha` is their rank, so alpha/rank = 1).
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
from lib_stylemix.lora.container import LoraFormatError, SafetensorsSource, TensorSource, open_source
from lib_stylemix.lora.formats import ALPHA, DOWN, UP, ModuleInfo, ParsedFile, parse_keys
from lib_stylemix.lora.rawread import RawFile, read_values
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

KINDS = ("linear", "conv1x1", "conv3x3")
_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

__all__ = ["KINDS", "Factors", "LoraFile", "ModuleInfo", "as_numpy", "open_lora"]


@dataclass
class Factors:
    """One module with the scale folded in: ΔW = up @ down (`up` is m×r times alpha/r, `down` is r×n)."""

    up: Any  # torch.Tensor (`factors`) or numpy array (`array_factors`)
    down: Any
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
    """A validated LoRA on disk; tensors are read only when `factors` asks for them."""

    def __init__(self, path: Path, source: TensorSource, parsed: ParsedFile) -> None:
        self.path = path
        self.name = path.stem
        self.format = source.format
        self.metadata: dict[str, str] = dict(source.metadata)
        self._source = source
        self.ignored: list[str] = list(parsed.ignored)
        self.bundle_keys: tuple[str, ...] = tuple(sorted(parsed.bundle))
        self.notes: list[str] = list(parsed.notes)
        guess = detect_arch({n: e.info.in_features for n, e in parsed.modules.items()}, self.metadata)
        self.arch = guess.arch
        self.arch_source = guess.source
        self.arch_note = guess.conflict
        entries = {}
        for name, entry in parsed.modules.items():
            try:
                _block_of(name, self.arch)
            except StyleMixError:
                self.ignored.extend(entry.keys.values())  # e.g. conv_in, time_embedding: no block-weight group
                continue
            entries[name] = entry
        if not entries:
            raise LoraFormatError(f"{path}: no usable LoRA module (none is a text-encoder or U-Net block module; "
                                  f"e.g. {sorted(parsed.modules)[0]})")
        self._entries = entries
        self._keys = {n: e.keys for n, e in entries.items()}
        self.modules: dict[str, ModuleInfo] = {n: e.info for n, e in entries.items()}
        self.module_names: tuple[str, ...] = tuple(sorted(self.modules))
        self.rank = max(m.rank for m in self.modules.values())
        dtypes = Counter(m.dtype for m in self.modules.values())
        self.dtype = dtypes.most_common(1)[0][0] if len(dtypes) == 1 else "mixed"
        self.algo = "+".join(sorted({m.algo for m in self.modules.values()}))
        self.nbytes = path.stat().st_size
        self._alphas: dict[str, float] = {}
        self._hash: str | None = None
        self._raw: RawFile | None = None

    @property
    def warnings(self) -> list[str]:
        """One line per thing the reader left out (unknown keys), for the caller to show."""
        if not self.ignored:
            return []
        more = f" and {len(self.ignored) - 3} more" if len(self.ignored) > 3 else ""
        shown = ", ".join(sorted(self.ignored)[:3]) + more
        return [f"{self.path}: ignored {len(self.ignored)} unknown key(s): {shown}"]

    def bundle_tensors(self) -> dict[str, Any]:
        """The `bundle_emb.*` tensors (textual-inversion embeddings shipped in the file), as stored."""
        return {k: self._source.get(k) for k in self.bundle_keys}

    def is_plain(self, module: str) -> bool:
        """True when the module is stored as kohya lora_up/lora_down (read directly, no factor building)."""
        return self._entries[self.module_info(module).name].build is None

    def __repr__(self) -> str:
        return f"LoraFile({str(self.path)!r}, arch={self.arch!r}, modules={len(self.modules)}, rank={self.rank})"

    @property
    def params(self) -> int:
        """Number of stored parameters (every module's factors as written; alphas not counted)."""
        total = 0
        for entry in self._entries.values():
            stored = [self._source.tensors[k].shape for p, k in entry.keys.items() if p != ALPHA]
            total += sum(math.prod(shape) for shape in stored)
        return total

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
        """The module's alpha (missing or 0 → rank, as kohya and the webui treat it).

        For a module whose factors are built (LoHa, LoKr, …) the scale is already in them: alpha = rank.
        """
        if module not in self._alphas:
            info = self.module_info(module)
            stored = self.stored_alpha(module) if self.is_plain(module) else None
            self._alphas[module] = stored if stored else float(info.rank)
        return self._alphas[module]

    def stored_alpha(self, module: str) -> float | None:
        """The `.alpha` value as written (None when the module has none), checked to be one finite number."""
        keys = self._keys[self.module_info(module).name]
        if ALPHA not in keys:
            return None
        values = read_values(self._source, keys[ALPHA])  # no torch for safetensors: `info` stays light
        if len(values) != 1:
            raise LoraFormatError(f"{self.path}: {module}.alpha has {len(values)} values, expected 1")
        value = values[0]
        if not math.isfinite(value):
            raise LoraFormatError(f"{self.path}: {module}.alpha is {value} (NaN/Inf)")
        return value

    def raw(self, module: str) -> tuple[Any, Any]:
        """The (up, down) tensors in the stored kohya shapes, unscaled — or, for a built module (LoHa, LoKr, …),
        its exact factors in kohya shapes with the scale folded in (float64)."""
        entry = self._entries[self.module_info(module).name]
        if entry.build is None:
            return self._source.get(entry.keys[UP]), self._source.get(entry.keys[DOWN])
        return self._built(module, entry)

    def _built(self, module: str, entry: Any) -> tuple[Any, Any]:
        import torch

        up, down = self._built_arrays(module, entry)
        return torch.from_numpy(up), torch.from_numpy(down)

    def _built_arrays(self, module: str, entry: Any) -> tuple[Any, Any]:
        import numpy as np

        stored = {p: self._stored(k, np.float64) for p, k in entry.keys.items() if p != ALPHA}
        up, down = entry.build(stored, self.stored_alpha(module))
        info = entry.info
        return (np.ascontiguousarray(up).reshape(info.up_shape), np.ascontiguousarray(down).reshape(info.down_shape))

    def plain_keys(self, module: str) -> tuple[str, str] | None:
        """(up key, down key) when the module is a plain kohya up/down pair in a safetensors file, else None.

        The kernel's fast path reads such modules straight from their bytes (`rawread`); every other
        module or format goes through `factors`.
        """
        entry = self._entries.get(module)
        keys = entry.keys if entry is not None else {}
        if (entry is None or entry.build is not None or self.format != "safetensors"
                or set(keys) - {UP, DOWN, ALPHA} or UP not in keys or DOWN not in keys):
            return None
        return keys[UP], keys[DOWN]

    def factors(self, module: str, dtype: Any = None) -> Factors:
        """Read one module now as float32 (or float64 with `dtype=torch.float64`), scale folded into `up`, as
        torch tensors wrapping the arrays of `array_factors` (same memory)."""
        import torch

        arrays = self.array_factors(module, dtype)
        return Factors(up=torch.from_numpy(arrays.up), down=torch.from_numpy(arrays.down), kind=arrays.kind,
                       up_shape=arrays.up_shape, down_shape=arrays.down_shape)

    def array_factors(self, module: str, dtype: Any = None) -> Factors:
        """`factors` as numpy arrays (float64 when `dtype` is numpy's or torch's float64, else float32).

        NaN/Inf is an error naming the file and module. Safetensors files are read from their bytes
        (`rawread`), so this path never imports torch.
        """
        import numpy as np

        info = self.module_info(module)
        np_dtype = np.float64 if dtype is not None and "float64" in str(dtype) else np.float32
        up_raw, down_raw = self._raw_arrays(module, np_dtype)
        up = up_raw.reshape(info.out_features, info.rank).astype(np_dtype, copy=False)
        down = down_raw.reshape(info.rank, info.in_features).astype(np_dtype, copy=False)
        for part in (up, down):
            if not np.isfinite(part.sum()) and not np.isfinite(part).all():
                raise LoraFormatError(f"{self.path}: module {module} contains NaN or Inf values")
        scale = self.alpha(module) / info.rank
        if scale != 1.0:
            up *= scale
        return Factors(up=up, down=down, kind=info.kind, up_shape=info.up_shape, down_shape=info.down_shape)

    def _raw_arrays(self, module: str, dtype: Any) -> tuple[Any, Any]:
        """`raw` as new numpy arrays of at least `dtype` (float32/float64), without torch for safetensors files."""
        entry = self._entries[self.module_info(module).name]
        if entry.build is None:
            return self._stored(entry.keys[UP], dtype), self._stored(entry.keys[DOWN], dtype)
        return self._built_arrays(module, entry)

    def _stored(self, key: str, dtype: Any) -> Any:
        """One stored tensor as a new array of `dtype` (float64 when stored so), converted in one pass."""
        import numpy as np

        if self.format != "safetensors":
            stored = as_numpy(self._source.get(key))
            return stored.astype(np.float64 if stored.dtype == np.float64 else dtype)
        if self._raw is None:
            self._raw = RawFile(self.path)
        entry = self._raw.entries[key]
        out = np.empty(entry.shape, dtype=np.float64 if entry.code == "F64" else dtype)
        self._raw.into(key, out)
        return out
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
        """Drop the open file handles (they are reopened on the next read)."""
        self._source.close()
        if self._raw is not None:
            self._raw.close()
            self._raw = None

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
    """Open and validate a LoRA (.safetensors lazily; .ckpt/.pt only if tensors-only), any registered format."""
    path = Path(path)
    source = open_source(path)
    return LoraFile(path, source, parse_keys(path, source.tensors, source.metadata))
