"""Tensor containers on disk: safetensors (validated by hand, then read lazily) and tensors-only torch pickles.

The safetensors header is checked in Python before `safe_open` sees the file, so a truncated file or a header
that lies about sizes becomes a `LoraFormatError` naming the file, not a Rust panic. Torch files are read with
`weights_only=True` only: nothing in a model file is ever executed.
"""

from __future__ import annotations

import json
import math
import re
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError

MAX_HEADER_BYTES = 100 * 1024 * 1024

# safetensors dtype code -> (bytes per element, our short name)
ST_DTYPES: dict[str, tuple[int, str]] = {
    "F64": (8, "fp64"), "F32": (4, "fp32"), "F16": (2, "fp16"), "BF16": (2, "bf16"),
    "I64": (8, "int64"), "I32": (4, "int32"), "I16": (2, "int16"), "I8": (1, "int8"), "U8": (1, "uint8"),
    "BOOL": (1, "bool"), "F8_E4M3": (1, "fp8_e4m3"), "F8_E5M2": (1, "fp8_e5m2"),
}
FLOAT_NAMES = ("fp64", "fp32", "fp16", "bf16")


_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """One terminal-safe line: ANSI escape sequences removed, other control characters (newlines too) → space."""
    return " ".join(_CONTROL.sub(" ", _ANSI.sub("", text)).split())


class LoraFormatError(StyleMixError):
    """A file StyleMix cannot read as a LoRA; the message names the file and the problem, on one safe line."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # short name: fp16, bf16, fp32, fp64, int64, ...
    shape: tuple[int, ...]


@dataclass(frozen=True)
class SafetensorsHeader:
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]
    data_start: int  # byte offset of the tensor-data region (8 + header length)


def read_header_json(path: Path) -> tuple[dict[str, Any], int, int]:
    """The raw safetensors header (8-byte little-endian length, then a JSON object), its length and the file size.

    The one header reader: LoRA files (`read_safetensors_header` checks the entries on top) and base-model
    checkpoints (`training.arch` only needs the tensor names) both read through it.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise LoraFormatError(f"{path}: truncated safetensors file ({size} bytes, too short for the "
                                      "header length)")
            (length,) = struct.unpack("<Q", head)
            if length < 2 or length > MAX_HEADER_BYTES or 8 + length > size:
                raise LoraFormatError(
                    f"{path}: safetensors header claims {length} bytes but the file has {size} bytes "
                    "(bad header length: truncated or not a safetensors file)")
            raw = fh.read(length)
    except OSError as exc:
        raise LoraFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoraFormatError(f"{path}: safetensors header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise LoraFormatError(f"{path}: safetensors header is not a JSON object")
    return header, length, size


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    """Parse and check a safetensors header against the file size; raise LoraFormatError on any lie."""
    header, length, size = read_header_json(path)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise LoraFormatError(f"{path}: safetensors metadata must map strings to strings")
    data_start = 8 + length
    data_len = size - data_start
    tensors: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for key, entry in header.items():
        info, span = _check_entry(path, key, entry, data_len)
        tensors[key] = info
        spans.append((*span, key))
    spans.sort()
    end = 0
    for begin, stop, key in spans:
        if begin < end:
            raise LoraFormatError(f"{path}: tensor {key!r} overlaps another tensor's bytes (corrupt header)")
        end = stop
    if end != data_len:
        raise LoraFormatError(
            f"{path}: tensors cover {end} bytes but the data region has {data_len} (truncated or padded file)")
    return SafetensorsHeader(metadata=dict(metadata), tensors=tensors, data_start=data_start)


def _check_entry(path: Path, key: str, entry: Any, data_len: int) -> tuple[TensorInfo, tuple[int, int]]:
    if not isinstance(entry, dict):
        raise LoraFormatError(f"{path}: header entry {key!r} is not a tensor description")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in ST_DTYPES:
        raise LoraFormatError(f"{path}: tensor {key!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise LoraFormatError(f"{path}: tensor {key!r} has an invalid shape {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise LoraFormatError(f"{path}: tensor {key!r} has invalid data_offsets {offsets!r}")
    begin, stop = offsets
    itemsize, short = ST_DTYPES[dtype]
    expected = math.prod(shape) * itemsize
    if not 0 <= begin <= stop <= data_len:
        raise LoraFormatError(
            f"{path}: tensor {key!r} lies outside the file (bytes {begin}..{stop} of {data_len}; truncated?)")
    if stop - begin != expected:
        raise LoraFormatError(
            f"{path}: tensor {key!r} shape {shape} {dtype} needs {expected} bytes but the header gives "
            f"{stop - begin}")
    return TensorInfo(short, tuple(shape)), (begin, stop)


class TensorSource:
    """Read-only access to named tensors; `get` loads one tensor now."""

    path: Path
    format: str
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]

    def get(self, key: str) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles (reopened on the next `get`)."""


class SafetensorsSource(TensorSource):
    """Lazy reader: the header is validated at open; tensors are read through `safe_open` (mmap) on demand."""

    format = "safetensors"

    def __init__(self, path: Path) -> None:
        self.path = path
        header = read_safetensors_header(path)
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.data_start = header.data_start
        self._handle: Any = None

    def get(self, key: str) -> Any:
        from safetensors import safe_open

        try:
            if self._handle is None:
                self._handle = safe_open(str(self.path), framework="pt", device="cpu")
            return self._handle.get_tensor(key)
        except Exception as exc:  # safetensors raises its own error types (and pyo3 panics) on bad files
            self._handle = None
            raise LoraFormatError(f"{self.path}: cannot read tensor {key!r} ({exc})") from exc

    def close(self) -> None:
        self._handle = None


class TorchSource(TensorSource):
    """A `.ckpt`/`.pt`/`.pth` file holding only tensors, loaded with `weights_only=True` (whole file in RAM)."""

    format = "torch"

    def __init__(self, path: Path) -> None:
        import torch

        self.path = path
        try:
            with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the refusal says enough
                warnings.simplefilter("ignore")
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # the unpickler's errors vary by torch version; all mean "refused"
            raise LoraFormatError(
                f"{path}: refused to load: not a tensors-only torch file (the safe loader, weights_only=True, "
                f"says: {unpickler_reason(exc)}). Convert it to .safetensors with a trusted tool.") from exc
        if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            obj = obj["state_dict"]
        if not isinstance(obj, Mapping):
            raise LoraFormatError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
        self._tensors: dict[str, Any] = {}
        self.tensors = {}
        for key, value in obj.items():
            if not isinstance(key, str) or not isinstance(value, torch.Tensor):
                raise LoraFormatError(
                    f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor (not a LoRA state dict)")
            short = _TORCH_DTYPE_NAMES.get(str(value.dtype).replace("torch.", ""), str(value.dtype))
            self._tensors[key] = value
            self.tensors[key] = TensorInfo(short, tuple(value.shape))
        self.metadata = {}

    def get(self, key: str) -> Any:
        return self._tensors[key]


def unpickler_reason(exc: BaseException) -> str:
    """The one sentence of torch's (long, version-dependent, sometimes coloured) refusal that says what was wrong."""
    text = _ANSI.sub("", str(exc))
    match = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\s*\n|$)", text, re.S)
    reason = printable(match[1] if match else text) or type(exc).__name__
    reason = re.split(r"(?<=[.!?])\s", reason, maxsplit=1)[0]
    if len(reason) > 160:
        reason = reason[:160].rsplit(" ", 1)[0] + " …"
    return reason.rstrip(".")


_TORCH_DTYPE_NAMES = {"float64": "fp64", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16",
                      "int64": "int64", "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8",
                      "bool": "bool"}

TORCH_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


def open_source(path: Path) -> TensorSource:
    """Pick the container reader by suffix; anything else is refused."""
    if not path.is_file():
        raise LoraFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return SafetensorsSource(path)
    if suffix in TORCH_SUFFIXES:
        return TorchSource(path)
    raise LoraFormatError(f"{path}: unsupported file type {suffix or '(none)'} (expected .safetensors, .ckpt or .pt)")
