"""Synthetic LoRA files with the real SD1.5 / SD2 / SDXL module layout, for tests, benchmarks and the example pool.

The module tables (`data/*.json`) were derived from sd-scripts' `networks/lora.py`; SD2 is derived from SD1.5
(1024-wide, 23-layer text encoder and 1024-wide cross-attention context). Weights are random: these files
exercise every code path but carry no style; their names and metadata say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_with
from lib_stylemix.lora.writer import BASE_MODEL_VERSION, MODELSPEC_ARCH

_DATA = Path(__file__).with_name("data")
_TABLE_FILES = {"sd1": "sd15_lora_modules.json", "sdxl": "sdxl_lora_modules.json"}
SAVE_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
EXAMPLE_MARKER = ".stylemix-example-pool"


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    kind: str  # linear | conv1x1 | conv3x3
    in_features: int  # input channels (before ×9 for 3×3)
    out_features: int
    locon_only: bool


@cache
def module_table(arch: str) -> tuple[ModuleSpec, ...]:
    """Every module kohya's networks.lora (with conv_dim: LoCon) creates for `arch`, in file order."""
    if arch == "sd2":
        return tuple(_sd2_from_sd1(m) for m in module_table("sd1")) + _sd2_extra_layers()
    if arch not in _TABLE_FILES:
        raise StyleMixError(f"unknown architecture {arch!r} (expected sd1, sd2 or sdxl)")
    raw = json.loads((_DATA / _TABLE_FILES[arch]).read_text(encoding="utf-8"))
    return tuple(ModuleSpec(m["name"], m["kind"], int(m["in"]), int(m["out"]), bool(m["locon_only"]))
                 for m in raw["modules"])


def _sd2_from_sd1(m: ModuleSpec) -> ModuleSpec:
    if m.name.startswith("lora_te_"):
        scale = 1024 / 768
        return ModuleSpec(m.name, m.kind, int(m.in_features * scale), int(m.out_features * scale), m.locon_only)
    if m.name.endswith(("attn2_to_k", "attn2_to_v")):
        return ModuleSpec(m.name, m.kind, 1024, m.out_features, m.locon_only)
    return m


def _sd2_extra_layers() -> tuple[ModuleSpec, ...]:
    """SD2's text encoder has 23 trained layers (12..22 beyond SD1's 0..11)."""
    out = []
    for layer in range(12, 23):
        base = f"lora_te_text_model_encoder_layers_{layer}_"
        for child, (n_in, n_out) in (("self_attn_k_proj", (1024, 1024)), ("self_attn_v_proj", (1024, 1024)),
                                     ("self_attn_q_proj", (1024, 1024)), ("self_attn_out_proj", (1024, 1024)),
                                     ("mlp_fc1", (1024, 4096)), ("mlp_fc2", (4096, 1024))):
            out.append(ModuleSpec(base + child, "linear", n_in, n_out, False))
    return tuple(out)


def default_modules(arch: str, *, conv3x3: bool = False) -> list[str]:
    """Module names of a plain LoRA (or LoCon with `conv3x3`)."""
    return [m.name for m in module_table(arch) if conv3x3 or not m.locon_only]


def _shapes(spec: ModuleSpec, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if spec.kind == "linear":
        return (spec.out_features, rank), (rank, spec.in_features)
    kernel = 3 if spec.kind == "conv3x3" else 1
    return (spec.out_features, rank, 1, 1), (rank, spec.in_features, kernel, kernel)


def synthetic_metadata(arch: str, rank: int, alpha: float, name: str, *, conv3x3: bool) -> dict[str, str]:
    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(float(alpha)),
        "ss_network_args": json.dumps({"conv_dim": str(rank), "conv_alpha": str(float(alpha))} if conv3x3 else {}),
        "ss_base_model_version": BASE_MODEL_VERSION[arch],
        "ss_v2": str(arch == "sd2"),
        "ss_output_name": name,
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": MODELSPEC_ARCH[arch],
        "modelspec.title": f"{name} (synthetic, not trained)",
        "stylemix_synthetic": "true",
    }
    return meta


def save_lora_tensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str], *,
                      overwrite: bool = False) -> Path:
    """Write a tensor dict (all numpy arrays, or all torch tensors) as safetensors atomically."""
    import numpy as np

    def writer(tmp: Path) -> None:
        if all(isinstance(v, np.ndarray) for v in tensors.values()):
            from safetensors.numpy import save_file as save_numpy

            save_numpy({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=dict(metadata))
        else:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=dict(metadata))

    return write_with(path, writer, overwrite=overwrite)


def make_lora_file(path: str | Path, *, arch: str = "sd1", rank: int = 4, modules: Sequence[str] | None = None,  # noqa: PLR0913
                   seed: int = 0, dtype: str = "fp16", alpha: float | None = None, conv3x3: bool = False,
                   extra: Mapping[str, str] | None = None, overwrite: bool = False) -> Path:
    """Write a random kohya LoRA with the real module layout; returns the path.

    `modules` picks a subset of names (default: every LoRA module, plus LoCon modules with `conv3x3`);
    `alpha` defaults to rank/2 (a common training choice, so the alpha/rank scale is exercised); `extra` adds
    metadata strings. Down ~ N(0, 1/n), up ~ N(0, 0.02²): ΔW entries of the order real LoRAs have.
    """
    import torch

    if dtype not in SAVE_DTYPES:
        raise StyleMixError(f"unknown dtype {dtype!r} (expected one of {', '.join(SAVE_DTYPES)})")
    table = {m.name: m for m in module_table(arch)}
    names = list(modules) if modules is not None else default_modules(arch, conv3x3=conv3x3)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise StyleMixError(f"unknown {arch} module(s): {', '.join(unknown[:3])}")
    alpha = float(rank) / 2 if alpha is None else float(alpha)
    gen = torch.Generator().manual_seed(seed)
    torch_dtype = getattr(torch, SAVE_DTYPES[dtype])
    tensors: dict[str, Any] = {}
    for name in names:
        spec = table[name]
        up_shape, down_shape = _shapes(spec, rank)
        fan_in = math.prod(down_shape[1:])
        down = torch.randn(down_shape, generator=gen) / math.sqrt(fan_in)
        up = torch.randn(up_shape, generator=gen) * 0.02
        tensors[f"{name}.lora_down.weight"] = down.to(torch_dtype)
        tensors[f"{name}.lora_up.weight"] = up.to(torch_dtype)
        tensors[f"{name}.alpha"] = torch.tensor(alpha, dtype=torch_dtype)
    meta = synthetic_metadata(arch, rank, alpha, Path(path).stem, conv3x3=conv3x3)
    meta.update(extra or {})
    return save_lora_tensors(path, tensors, meta, overwrite=overwrite)


def write_example_pool(folder: str | Path, *, count: int = 6, arch: str = "sd1", rank: int = 8,
                       seed: int = 0) -> list[Path]:
    """Write `count` synthetic LoRAs whose ΔW share a few "style" directions, so compare/merge have structure.

    Per module, three style atoms A_s (m×r) share one down basis D; file f is (Σ_s c_fs A_s + noise)·(D + noise)
    with most weight on atom f mod 3, then re-factorised by a random rotation G_f (Û·G, Gᵀ·D). The rotation leaves
    ΔW unchanged but scrambles the raw factors, which is exactly what the legacy metric cannot see through.
    Refuses a non-empty folder that is not a previous example pool.
    """
    import numpy as np

    if count < 1 or count > 99:
        raise StyleMixError(f"example pool size must be 1..99 (got {count})")
    if rank < 1:
        raise StyleMixError(f"rank must be at least 1 (got {rank})")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StyleMixError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / EXAMPLE_MARKER).exists():
        raise StyleMixError(f"{folder}: folder is not empty (refusing to write example files into it)")
    names = [f"synthetic_style_{i + 1:02d}" for i in range(count)]
    paths = [folder / f"{n}.safetensors" for n in names]
    clash = [p for p in paths if p.exists()]
    if clash:
        raise StyleMixError(f"{clash[0]}: already exists (choose an empty folder)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXAMPLE_MARKER).write_text("synthetic example pool written by StyleMix\n", encoding="utf-8")
    rng = np.random.default_rng(seed)
    n_atoms = min(3, count)
    coeffs = rng.random((count, n_atoms), dtype=np.float32) * 0.35
    for f in range(count):
        coeffs[f, f % n_atoms] += 1.0
    rotations = [np.linalg.qr(rng.standard_normal((rank, rank)))[0].astype(np.float32) for _ in range(count)]
    tensors: list[dict[str, Any]] = [{} for _ in range(count)]
    alpha = float(rank)
    for spec in module_table(arch):
        if spec.locon_only:
            continue
        up_shape, down_shape = _shapes(spec, rank)
        fan_in = math.prod(down_shape[1:])
        basis = rng.standard_normal((rank, fan_in), dtype=np.float32) / math.sqrt(fan_in)
        atoms = rng.standard_normal((n_atoms, spec.out_features, rank), dtype=np.float32) * 0.02
        ups = np.einsum("fs,smr->fmr", coeffs, atoms)
        ups += 0.2 * 0.02 * rng.standard_normal((count, spec.out_features, rank), dtype=np.float32)
        downs = basis + 0.3 * rng.standard_normal((count, rank, fan_in), dtype=np.float32) / math.sqrt(fan_in)
        for f in range(count):
            rotation = rotations[f]
            tensors[f][f"{spec.name}.lora_up.weight"] = (ups[f] @ rotation).reshape(up_shape).astype(np.float16)
            tensors[f][f"{spec.name}.lora_down.weight"] = (rotation.T @ downs[f]).reshape(down_shape).astype(np.float16)
            tensors[f][f"{spec.name}.alpha"] = np.array(alpha, dtype=np.float16)
    for f, (name, path) in enumerate(zip(names, paths, strict=True)):
        meta = synthetic_metadata(arch, rank, alpha, name, conv3x3=False)
        meta["stylemix_synthetic_family"] = str(f % n_atoms)
        save_lora_tensors(path, tensors[f], meta)
    return paths
