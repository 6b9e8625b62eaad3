"""Benchmark: compare of LoHa files — exact face-splitting factors through the Gram kernel vs the dense route.

    .venv/bin/python bench/bench_loha_compare.py                       # 8 SD1.5 LoHa files, dim 8, all modules
    .venv/bin/python bench/bench_loha_compare.py --files 3 --modules 6 --repeats 1   # smoke size

Factor route: `kernel(files)` — each LoHa module read as up = W1a • W2a, down = (W1bᵀ • W2bᵀ)ᵀ (rank dim², or the
dense ΔW when dim² > min(m, n)), then the r×r Gram products. Dense route (what tools that convert LyCORIS to
ΔW first do): per module, ΔW_i = (W1a·W1b) ⊙ (W2a·W2b)·alpha/dim for every file, and the Gram of the flattened
ΔW. Both read the same tensors and multiply in float32. Prints the median of `--repeats` runs of each, the
ratio, each route's float32 error against the float64 factor kernel, the load average and the thread settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lora_bench_common import fmt_s, median, timed


def make_loha_pool(folder: Path, *, count: int, dim: int, modules: int | None, seed: int = 0) -> list[Path]:
    """`count` fp16 SD1.5 LoHa files over the real module table (LoCon-style conv layers included)."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from lib_stylemix.lora.synthetic import module_table

    table = [m for m in module_table("sd1") if not m.locon_only]
    table = table[:modules] if modules else table
    rng = np.random.default_rng(seed)
    paths = []
    for f in range(count):
        tensors = {}
        for spec in table:
            n = spec.in_features * (9 if spec.kind == "conv3x3" else 1)
            for half in ("1", "2"):
                tensors[f"{spec.name}.hada_w{half}_a"] = rng.standard_normal((spec.out_features, dim)) * 0.05
                tensors[f"{spec.name}.hada_w{half}_b"] = rng.standard_normal((dim, n)) * 0.05
            tensors[f"{spec.name}.alpha"] = np.array(dim / 2.0)
        path = folder / f"loha_{f:02d}.safetensors"
        save_file({k: torch.from_numpy(np.asarray(v, dtype=np.float16 if v.ndim else np.float32))
                   for k, v in tensors.items()}, str(path), metadata={"ss_base_model_version": "sd_v1"})
        paths.append(path)
    return paths


def dense_kernel(paths: list[Path]):
    """Σ_modules Gram of the flattened dense ΔW of every file (float32 products, float64 sums)."""
    import numpy as np
    import torch
    from safetensors import safe_open

    handles = [safe_open(str(p), framework="pt") for p in paths]
    keys = handles[0].keys()
    modules = sorted({k.split(".", 1)[0] for k in keys})
    total = np.zeros((len(paths), len(paths)))
    for module in modules:
        flat = []
        for h in handles:
            w = {k: h.get_tensor(f"{module}.{k}").float() for k in ("hada_w1_a", "hada_w1_b", "hada_w2_a",
                                                                   "hada_w2_b")}
            scale = float(h.get_tensor(f"{module}.alpha")) / w["hada_w1_b"].shape[0]
            flat.append(((w["hada_w1_a"] @ w["hada_w1_b"]) * (w["hada_w2_a"] @ w["hada_w2_b"]) * scale).reshape(-1))
        stacked = torch.stack(flat)
        total += (stacked @ stacked.T).double().numpy()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--dim", type=int, default=8, help="LoHa dim (factor rank dim²)")
    parser.add_argument("--modules", type=int, help="only the first N modules (default all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch

    from lib_stylemix.lora import kernel, open_lora

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_loha_pool(Path(tmp), count=args.files, dim=args.dim, modules=args.modules)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        exact = kernel([open_lora(p) for p in paths], dtype=torch.float64).total  # float64 reference
        factor_k = kernel([open_lora(p) for p in paths]).total
        dense_k = dense_kernel(paths)
        scale = float(np.max(np.abs(exact)))
        err_factor = float(np.max(np.abs(factor_k - exact))) / scale
        err_dense = float(np.max(np.abs(dense_k - exact))) / scale
        t_factor = timed(lambda: kernel([open_lora(p) for p in paths]), args.repeats)
        t_dense = timed(lambda: dense_kernel(paths), args.repeats)
    load = os.getloadavg()
    print(f"compare of {args.files} LoHa SD1.5 files, dim {args.dim} (factor rank {args.dim ** 2}), "
          f"{args.modules or 'all'} modules, {size_mb:.0f} MB")
    print(f"factor route (Gram kernel):  median {fmt_s(median(t_factor))}  runs {[round(t, 2) for t in t_factor]}")
    print(f"dense route (ΔW then Gram):  median {fmt_s(median(t_dense))}  runs {[round(t, 2) for t in t_dense]}")
    print(f"ratio dense / factor: {median(t_dense) / median(t_factor):.1f}×")
    print(f"float32 error against the float64 factor kernel, max |ΔK| / max |K|: factor route {err_factor:.2e}, "
          f"dense route {err_dense:.2e}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; torch threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
