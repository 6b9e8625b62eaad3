"""Tensors of a safetensors file as numpy arrays of their bytes: no torch, no per-tensor reader objects.

The header's `data_offsets` say where each tensor lies; each tensor's byte range is read with one `pread`
into a reused buffer and viewed as a numpy array of the stored dtype, which the caller converts in one
vectorised pass (fp16/bf16 → float32) into a preallocated stack. The header is parsed here only for the
offsets (cached per file while it is unchanged); `container.read_safetensors_header` validated it when the
file was opened, and every read is checked against the expected size again.
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib_stylemix.lora.container import LoraFormatError

if TYPE_CHECKING:
    import numpy as np

# safetensors dtype code -> numpy dtype name of the stored bytes (bf16 is read as uint16 and widened by hand)
_NP_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "uint16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


@dataclass(frozen=True)
class RawEntry:
    """Where one tensor lies: absolute byte offset, element count, stored dtype code and shape."""

    code: str
    shape: tuple[int, ...]
    start: int
    stop: int


class RawFile:
    """An open safetensors file; `array(key)` reads one tensor's byte range (one `pread`) into a reused buffer.

    One system call per tensor copies its bytes from the page cache into a buffer that stays in the CPU cache
    for the conversion that follows (a memory map instead costs a page fault per 4 KiB on first touch).
    """

    def __init__(self, path: Path) -> None:
        import numpy as np

        self.path = Path(path)
        try:
            self.entries = entries(self.path)
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise LoraFormatError(f"{self.path}: cannot read tensor data ({exc.strerror or exc})") from exc
        self._buffer = np.empty(0, dtype=np.uint8)

    def array(self, key: str) -> np.ndarray:
        """The stored tensor (bf16 as its uint16 bits), valid until the next `array` call on this file."""
        import numpy as np

        entry = self.entries[key]
        dtype = np.dtype(_NP_DTYPES.get(entry.code, np.uint8))
        size = entry.stop - entry.start
        if self._buffer.size < size:
            self._buffer = np.empty(max(size, 2 * self._buffer.size), dtype=np.uint8)
        view = self._buffer[:size]
        try:
            if hasattr(os, "preadv"):
                got = os.preadv(self._fd, [view.data], entry.start)
            else:
                got = self._pread_into(view, entry)
        except OSError as exc:
            raise LoraFormatError(f"{self.path}: cannot read tensor {key!r} ({exc.strerror or exc})") from exc
        if got != size or size != math.prod(entry.shape) * dtype.itemsize:
            raise LoraFormatError(f"{self.path}: tensor {key!r} lies outside the file (changed since it was opened?)")
        return view.view(dtype).reshape(entry.shape)

    def _pread_into(self, view: np.ndarray, entry: RawEntry) -> int:
        import numpy as np

        data = os.pread(self._fd, entry.stop - entry.start, entry.start)
        view[:len(data)] = np.frombuffer(data, dtype=np.uint8)
        return len(data)

    def into(self, key: str, out: np.ndarray) -> None:
        """Convert one tensor into `out` (float32/float64, same number of elements) in one vectorised pass."""
        import numpy as np

        src = self.array(key).reshape(out.shape)
        if self.entries[key].code == "BF16":
            widened = np.left_shift(src.astype(np.uint32), 16).view(np.float32)
            np.copyto(out, widened, casting="unsafe")
        else:
            np.copyto(out, src, casting="unsafe")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RawFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def entries(path: Path) -> dict[str, RawEntry]:
    """Where each tensor of a safetensors file lies (the parsed header, cached while the file is unchanged)."""
    st = os.stat(path)
    return _entries(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _entries(path: str, _mtime_ns: int, _size: int) -> dict[str, RawEntry]:
    try:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length).decode("utf-8"))
    except (OSError, ValueError, struct.error) as exc:
        raise LoraFormatError(f"{path}: cannot read the safetensors header ({exc})") from exc
    header.pop("__metadata__", None)
    base = 8 + length
    return {key: RawEntry(code=e["dtype"], shape=tuple(e["shape"]), start=base + e["data_offsets"][0],
                          stop=base + e["data_offsets"][1]) for key, e in header.items()}


def read_values(source: Any, key: str) -> list[float]:
    """The values of one small tensor of a `TensorSource` as floats: one `pread` of its bytes for
    safetensors (struct, no numpy or torch: `info` stays light), the source's own reader otherwise (torch
    files are already loaded as tensors)."""
    if getattr(source, "format", None) != "safetensors":
        return [float(v) for v in source.get(key).reshape(-1).double().tolist()]
    path = Path(source.path)
    entry = entries(path)[key]
    size = entry.stop - entry.start
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            data = os.pread(fd, size, entry.start)
        finally:
            os.close(fd)
    except OSError as exc:
        raise LoraFormatError(f"{path}: cannot read tensor {key!r} ({exc.strerror or exc})") from exc
    if len(data) != size:
        raise LoraFormatError(f"{path}: tensor {key!r} lies outside the file (changed since it was opened?)")
    if entry.code == "BF16":  # the upper half of a float32
        return [v for (v,) in struct.iter_unpack("<f", b"".join(b"\0\0" + data[i:i + 2] for i in range(0, size, 2)))]
    fmt = _STRUCT_CODES.get(entry.code)
    if fmt is None:
        raise LoraFormatError(f"{path}: tensor {key!r} has dtype {entry.code}, expected a number")
    return [float(v) for (v,) in struct.iter_unpack("<" + fmt, data)]


_STRUCT_CODES = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "I16": "h", "I8": "b", "U8": "B",
                 "BOOL": "?"}
