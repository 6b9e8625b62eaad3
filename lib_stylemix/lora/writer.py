"""Write a merged LoRA as a kohya-format safetensors file that A1111, Forge and sd-scripts load.

Keys `<module>.lora_down.weight` / `.lora_up.weight` (4-D for convs) / `.alpha` (0-d, float32, = rank so the
scale is 1 and survives any rank in any save dtype); metadata all strings. `sshs_model_hash` is the sha256 of
the tensor-data region and `sshs_legacy_hash` the first 8 hex digits of the sha256 of the 64 KiB at 1 MiB, both
on the final file's bytes: the header is first built with placeholders of the same length, so inserting the
real values changes no byte offset.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib_stylemix import __version__
from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import check_output_file, safe_child, write_atomic
from lib_stylemix.lora.file import LoraFile
from lib_stylemix.lora.merge import MergedLora

SAVE_DTYPES = ("fp16", "bf16", "fp32")
BASE_MODEL_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}
MODELSPEC_ARCH = {"sd1": "stable-diffusion-v1/lora", "sd2": "stable-diffusion-v2-512/lora",
                  "sdxl": "stable-diffusion-xl-v1-base/lora"}
MODELSPEC_IMPL = {"sd1": "diffusers", "sd2": "diffusers", "sdxl": "https://github.com/Stability-AI/generative-models"}
RESOLUTION = {"sd1": "512x512", "sd2": "512x512", "sdxl": "1024x1024"}
_LEGACY_OFFSET, _LEGACY_SIZE = 0x100000, 0x10000


_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class WrittenLora:
    path: Path
    model_hash: str
    notes: tuple[str, ...] = ()


def check_target(path: str | Path, *, overwrite: bool = False, estimated_bytes: int = 0,
                 suffix: str = ".safetensors") -> Path:
    """Refuse an output path before any work is done: wrong extension, a folder, an existing file without
    `overwrite`, a folder that cannot be written, or too little free space for `estimated_bytes`."""
    return check_output_file(path, suffix=suffix, overwrite=overwrite, estimated_bytes=estimated_bytes)


def estimate_bytes(files: Sequence[LoraFile], dtype: str, rank: int | None = None) -> int:
    """Size of a merge of `files` saved in `dtype`: per module (m + n)·R, R = `rank` or the sum of the ranks."""
    modules: dict[str, tuple[int, int]] = {}
    ranks: dict[str, int] = {}
    for f in files:
        for name, info in f.modules.items():
            modules[name] = (info.out_features, info.in_features)
            ranks[name] = ranks.get(name, 0) + info.rank
    return sum((m + n) * (rank or ranks[name]) * _BYTES.get(dtype, 4) for name, (m, n) in modules.items())


def bundled_embeddings(parents: Sequence[LoraFile]) -> tuple[dict[str, Any], str]:
    """The parents' `bundle_emb.*` tensors when every parent has the very same ones, else ({}, a note why not)."""
    if not parents or not any(p.bundle_keys for p in parents):
        return {}, ""
    keys = {p.bundle_keys for p in parents}
    if len(keys) != 1:
        return {}, "bundled embeddings dropped: the parents do not all bundle the same embeddings"
    first = parents[0].bundle_tensors()
    for other in parents[1:]:
        tensors = other.bundle_tensors()
        if any(not _same(first[k], tensors[k]) for k in first):
            return {}, "bundled embeddings dropped: the parents bundle different values under the same names"
    return first, ""


def _same(a: Any, b: Any) -> bool:
    return bool(a.dtype == b.dtype and a.shape == b.shape and (a == b).all())


def tensor_region_hashes(data: bytes) -> tuple[str, str]:
    """(sshs_model_hash, sshs_legacy_hash) of a serialized safetensors file, as sd-scripts / A1111 compute them."""
    (length,) = struct.unpack("<Q", data[:8])
    model_hash = hashlib.sha256(memoryview(data)[8 + length:]).hexdigest()
    legacy = hashlib.sha256(memoryview(data)[_LEGACY_OFFSET:_LEGACY_OFFSET + _LEGACY_SIZE]).hexdigest()[:8]
    return model_hash, legacy


def build_metadata(merged: MergedLora, name: str, parents: Sequence[LoraFile],
                   extra: Mapping[str, str]) -> dict[str, str]:
    """All metadata except the two hashes; every value is a string."""
    ranks = {m.rank for m in merged.modules.values()}
    conv_ranks = {m.rank for m in merged.modules.values() if m.kind == "conv3x3"}
    dim = str(ranks.pop()) if len(ranks) == 1 else "Dynamic"
    network_args = {}
    if conv_ranks:
        conv_dim = str(conv_ranks.pop()) if len(conv_ranks) == 1 else "Dynamic"
        network_args = {"conv_dim": conv_dim, "conv_alpha": conv_dim}
    now = _dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
    parent_list = [{"name": p.name, "sshs_model_hash": p.model_hash} for p in parents]
    block_weights = merged.block_weights or (None,) * len(merged.weights)
    weights = [{"name": p.name, "weight": w, **({"block_weights": dict(b)} if b else {})}
               for p, w, b in zip(merged.parents, merged.weights, block_weights, strict=True)]
    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": dim,
        "ss_network_alpha": dim,  # alpha = rank in every module
        "ss_network_args": json.dumps(network_args),
        "ss_base_model_version": BASE_MODEL_VERSION[merged.arch],
        "ss_v2": str(merged.arch == "sd2"),
        "ss_output_name": name,
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": MODELSPEC_ARCH[merged.arch],
        "modelspec.implementation": MODELSPEC_IMPL[merged.arch],
        "modelspec.title": name,
        "modelspec.date": now,
        "modelspec.resolution": RESOLUTION[merged.arch],
        "modelspec.prediction_type": "epsilon",
        "modelspec.merged_from": ", ".join(p.name for p in parents),
        "stylemix_method": merged.label,
        "stylemix_weights": json.dumps(weights),
        "stylemix_parents": json.dumps(parent_list),
        "stylemix_rank": str(merged.rank),
        "stylemix_version": __version__,
    }
    if merged.retained_energy is not None:
        meta["stylemix_retained_energy"] = f"{merged.retained_energy:.6f}"
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise StyleMixError(f"metadata {key!r}: keys and values must be strings")
        meta[key] = value
    return meta


def _as_array(factor: Any) -> Any:
    """A factor of an `OutModule` as a numpy array: numpy as given, a CPU torch tensor viewed (bf16 widened)."""
    import numpy as np

    if isinstance(factor, np.ndarray):
        return factor
    from lib_stylemix.lora.file import as_numpy

    return as_numpy(factor.detach())


def _np_all_finite(array: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(array.sum(dtype=np.float32))) or bool(np.isfinite(array).all())


def module_arrays(merged: MergedLora, dtype: str) -> dict[str, Any]:
    """Every module's up/down (stored shapes, contiguous) and alpha as numpy arrays: fp16 for fp16, float32
    otherwise (bf16 is cast when serialising); a value that overflows fp16 is an error naming the module."""
    import numpy as np

    np_dtype = np.float16 if dtype == "fp16" else np.float32
    arrays = {}
    for name, module in merged.modules.items():
        up = np.ascontiguousarray(_as_array(module.up).reshape(module.up_shape), dtype=np_dtype)
        down = np.ascontiguousarray(_as_array(module.down).reshape(module.down_shape), dtype=np_dtype)
        if not (_np_all_finite(up) and _np_all_finite(down)):
            raise StyleMixError(f"module {name}: values overflow {dtype} (try --dtype fp32 or smaller weights)")
        arrays[f"{name}.lora_up.weight"] = up
        arrays[f"{name}.lora_down.weight"] = down
        arrays[f"{name}.alpha"] = np.array(float(module.rank), dtype=np.float32)
    return arrays


def _serializer(arrays: dict[str, Any], dtype: str, bundle: Mapping[str, Any]) -> Callable[[dict[str, str]], bytes]:
    """metadata → file bytes. fp16/fp32 without bundled embeddings serialise the numpy arrays (no torch);
    bf16 (which numpy lacks) and the parents' bundled torch tensors go through safetensors' torch writer."""
    if dtype != "bf16" and not bundle:
        from safetensors.numpy import save as save_numpy

        return lambda meta: save_numpy(arrays, metadata=meta)
    import torch
    from safetensors.torch import save as save_torch

    tensors = {}
    for key, array in arrays.items():
        tensor = torch.from_numpy(array)
        if dtype == "bf16" and not key.endswith(".alpha"):
            tensor = tensor.to(torch.bfloat16)
            if not bool(torch.isfinite(tensor).all()):
                module = key.rsplit(".lora_", 1)[0]
                raise StyleMixError(f"module {module}: values overflow {dtype} (try --dtype fp32 or smaller weights)")
        tensors[key] = tensor
    tensors.update({k: v.contiguous() for k, v in bundle.items()})
    return lambda meta: save_torch(tensors, metadata=meta)


def _fill_hashes(draft: bytes, model_hash: str, legacy_hash: str) -> bytes | None:
    """`draft` with its placeholder hashes replaced in the header (same length, so no offset moves), or None
    when a placeholder is not there exactly once. A quote inside a JSON string is escaped, so `"key":"` only
    matches the key itself."""
    (length,) = struct.unpack("<Q", draft[:8])
    header = draft[8:8 + length]
    for key, value in (("sshs_model_hash", model_hash), ("sshs_legacy_hash", legacy_hash)):
        placeholder = f'"{key}":"{"0" * len(value)}"'.encode()
        if header.count(placeholder) != 1:
            return None
        header = header.replace(placeholder, f'"{key}":"{value}"'.encode())
    return draft[:8] + header + draft[8 + length:]


def write_lora(merged: MergedLora, path: str | Path, *, dtype: str = "fp16",
               extra_metadata: Mapping[str, str] | None = None, parents: Sequence[LoraFile] = (),
               overwrite: bool = False, within: str | Path | None = None) -> WrittenLora:
    """Serialize `merged` to `path` atomically; never overwrites unless `overwrite`.

    With `within` (a folder), `path` is a file name inside it and anything that would land elsewhere
    ('..', separators, absolute paths) is refused; without it, `path` is used as given.
    """
    if dtype not in SAVE_DTYPES:
        raise StyleMixError(f"unknown dtype {dtype!r} (expected one of {', '.join(SAVE_DTYPES)})")
    target = safe_child(within, str(path)) if within is not None else Path(path)
    check_target(target, overwrite=overwrite)
    parents = list(parents) or list(merged.parents)
    bundle, note = bundled_embeddings(list(merged.parents))
    save = _serializer(module_arrays(merged, dtype), dtype, bundle)
    meta = build_metadata(merged, target.stem, parents, extra_metadata or {})
    draft = save({**meta, "sshs_model_hash": "0" * 64, "sshs_legacy_hash": "0" * 8})
    model_hash, legacy_hash = tensor_region_hashes(draft)
    data = _fill_hashes(draft, model_hash, legacy_hash)
    if data is None:  # not found once each in the header: serialise again with the values
        data = save({**meta, "sshs_model_hash": model_hash, "sshs_legacy_hash": legacy_hash})
    if len(data) != len(draft) or tensor_region_hashes(data) != (model_hash, legacy_hash):
        raise StyleMixError(f"{target}: internal error: hashes changed the file layout")
    write_atomic(target, data, overwrite=overwrite)
    return WrittenLora(path=target, model_hash=model_hash, notes=(note,) if note else ())
