"""Realistic synthetic pools for tests, benchmarks and the demo: style clusters plus an outlier.

Independently trained LoRAs are nearly orthogonal in ΔW space (lora_math.md §7), while LoRAs of one style
share a direction. Per module, member f of cluster c is

    ΔW_f = s_f · ( A_c·D_c  +  β · N_f·M_f )          (A_c m×h, D_c h×n shared; N_f, M_f individual)

written as one rank-r factor pair up = s_f·[A_c | β·N_f]·G_f, down = G_fᵀ·[D_c; M_f] with a random rotation
G_f (same ΔW, scrambled factors). With h = r/2 and β = 0.8 the in-cluster cosine is ≈ 1/(1 + β²) ≈ 0.6 and
unrelated files have cosine ≈ 0. Alpha equals the rank (scale 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError

# 3 style clusters (3 + 2 + 2 files) and one outlier: the pool of issue 10's acceptance.
REALISTIC_CLUSTERS = (3, 2, 2, 1)
NOISE = 0.8


def cluster_labels(clusters: Sequence[int] = REALISTIC_CLUSTERS) -> list[int]:
    """Cluster index of every file, in file order."""
    return [c for c, size in enumerate(clusters) for _ in range(size)]


def write_cluster_pool(folder: str | Path, *, clusters: Sequence[int] = REALISTIC_CLUSTERS, rank: int = 32,
                       arch: str = "sd1", modules: Sequence[str] | None = None, seed: int = 0,
                       noise: float = NOISE) -> list[Path]:
    """Write `sum(clusters)` LoRA files `style_<cluster>_<i>.safetensors` into an empty (or new) `folder`.

    `modules` picks a subset of the architecture's LoRA modules (default: all of kohya's plain LoRA modules).
    """
    import torch

    from lib_stylemix.lora.synthetic import (
        _shapes,
        default_modules,
        module_table,
        save_lora_tensors,
        synthetic_metadata,
    )

    if rank < 2:
        raise StyleMixError(f"rank must be at least 2 (got {rank})")
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StyleMixError(f"{folder}: not an empty folder (refusing to write example files into it)")
    folder.mkdir(parents=True, exist_ok=True)
    labels = cluster_labels(clusters)
    names = [f"style_{c}_{sum(1 for x in labels[:f] if x == c)}" for f, c in enumerate(labels)]
    table = {m.name: m for m in module_table(arch)}
    chosen = list(modules) if modules is not None else default_modules(arch)
    gen = torch.Generator().manual_seed(seed)
    shared = rank // 2
    scales = 0.8 + 0.45 * torch.rand(len(labels), generator=gen)
    rotations = [torch.linalg.qr(torch.randn(rank, rank, generator=gen, dtype=torch.float64))[0] for _ in labels]
    tensors: list[dict[str, Any]] = [{} for _ in labels]
    for name in chosen:
        spec = table[name]
        up_shape, down_shape = _shapes(spec, rank)
        fan_in = math.prod(down_shape[1:])
        m = spec.out_features
        atoms = [(torch.randn(m, shared, generator=gen, dtype=torch.float64) * 0.02,
                  torch.randn(shared, fan_in, generator=gen, dtype=torch.float64) / math.sqrt(fan_in))
                 for _ in clusters]
        for f, c in enumerate(labels):
            own = rank - shared
            up = torch.cat([atoms[c][0], noise * 0.02 * torch.randn(m, own, generator=gen, dtype=torch.float64)], 1)
            down = torch.cat([atoms[c][1], torch.randn(own, fan_in, generator=gen, dtype=torch.float64)
                              / math.sqrt(fan_in)], 0)
            up, down = float(scales[f]) * up @ rotations[f], rotations[f].T @ down
            tensors[f][f"{name}.lora_up.weight"] = up.reshape(up_shape).half()
            tensors[f][f"{name}.lora_down.weight"] = down.reshape(down_shape).half()
            tensors[f][f"{name}.alpha"] = torch.tensor(float(rank), dtype=torch.float16)
    paths = []
    for f, name in enumerate(names):
        meta = synthetic_metadata(arch, rank, float(rank), name, conv3x3=False)
        meta["stylemix_synthetic_family"] = str(labels[f])
        paths.append(save_lora_tensors(folder / f"{name}.safetensors", tensors[f], meta))
    return paths
