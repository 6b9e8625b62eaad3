"""Benchmark: 2-file svd merge to rank 32 — QR-core (ours) vs dense ΔW + full SVD per module (svd_merge_lora.py).

    .venv/bin/python bench/bench_svd_merge.py                     # SD1.5 fp16, input ranks 32 and 128, 264 modules
    .venv/bin/python bench/bench_svd_merge.py --ranks 2 --modules 4 --target 2 --repeats 1   # smoke size

Ours: thin QR of the stacked factors + SVD of the R×R core (float64), timed end to end (open, read, merge).
Dense (what kohya's svd_merge_lora.py does): ΔW = Σ w·(alpha/r)·up@down in fp32, `torch.linalg.svd(ΔW)` with its
default full_matrices=True, keep k. It is timed on one module of each distinct shape and extrapolated by the number
of modules with that shape (printed as such). Accuracy: for those modules, max ‖ours − best_k‖ / ‖best_k‖ where
best_k is the exact best rank-k approximation from a float64 SVD of the dense sum.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lora_bench_common import fmt_s, make_pool, median, peak_rss_mb, run_worker, timed

SCRIPT = Path(__file__).resolve()
WEIGHTS = (0.7, -0.4)


def worker(kind: str, paths: list[str], repeats: int, target: int) -> dict:
    import numpy as np
    import torch

    from lib_stylemix.lora import MergeTerm, merge, open_lora

    def ours():
        files = [open_lora(p) for p in paths]
        return merge([MergeTerm(f, w) for f, w in zip(files, WEIGHTS, strict=True)], method="svd", rank=target)

    if kind == "ours":
        times = timed(ours, repeats)
        return {"times": times, "peak_rss_mb": peak_rss_mb()}
    files = [open_lora(p) for p in paths]
    shapes = Counter((m.out_features, m.in_features) for m in files[0].modules.values())
    representative = {}
    for name, m in files[0].modules.items():
        representative.setdefault((m.out_features, m.in_features), name)
    merged = ours()
    total = 0.0
    per_shape = []
    max_err = max_err_dense = 0.0
    for shape, count in sorted(shapes.items()):
        module = representative[shape]

        def dense_svd(module: str = module):
            delta = sum(w * f.factors(module).dense() for f, w in zip(files, WEIGHTS, strict=True))
            u, s, vh = torch.linalg.svd(delta)
            k = min(target, s.shape[0])
            return u[:, :k] * s[:k], vh[:k]

        times = timed(dense_svd, repeats)
        total += median(times) * count
        per_shape.append({"shape": list(shape), "modules": count, "median_s": median(times)})
        exact = sum(w * f.factors(module, dtype=torch.float64).dense() for f, w in zip(files, WEIGHTS, strict=True))
        u, s, vh = np.linalg.svd(exact.numpy(), full_matrices=False)
        k = merged.modules[module].rank
        best = (u[:, :k] * s[:k]) @ vh[:k]
        ours_dense = merged.modules[module].dense().double().numpy()
        max_err = max(max_err, float(np.linalg.norm(ours_dense - best) / np.linalg.norm(best)))
        up, down = dense_svd()
        max_err_dense = max(max_err_dense,
                            float(np.linalg.norm((up @ down).double().numpy() - best) / np.linalg.norm(best)))
    return {"extrapolated_s": total, "per_shape": per_shape, "max_rel_err_ours": max_err,
            "max_rel_err_dense_fp32": max_err_dense, "retained_energy": merged.retained_energy,
            "peak_rss_mb": peak_rss_mb()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", default="32,128", help="input ranks to run (two files each)")
    parser.add_argument("--target", type=int, default=32, help="output rank")
    parser.add_argument("--modules", type=int, default=None, help="use only the first N modules (smoke runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the generated files (default: temp)")
    parser.add_argument("--worker", choices=("ours", "dense"), help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.paths, args.repeats, args.target)))
        return 0
    rows = []
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        for rank in (int(r) for r in args.ranks.split(",")):
            paths = [str(p) for p in make_pool(base / f"rank{rank}", count=2, rank=rank, modules=args.modules)]
            common = ["--repeats", str(args.repeats), "--target", str(args.target), "--paths", *paths]
            ours = run_worker(SCRIPT, ["--worker", "ours", *common])
            dense = run_worker(SCRIPT, ["--worker", "dense", *common])
            t_ours, t_dense = median(ours["times"]), dense["extrapolated_s"]
            row = {"input_rank": rank, "target_rank": args.target, "ours_s": t_ours, "ours_runs_s": ours["times"],
                   "dense_extrapolated_s": t_dense, "dense_vs_ours": t_dense / t_ours,
                   "max_rel_err_ours": dense["max_rel_err_ours"],
                   "max_rel_err_dense_fp32": dense["max_rel_err_dense_fp32"],
                   "retained_energy": dense["retained_energy"], "ours_peak_rss_mb": ours["peak_rss_mb"],
                   "per_shape": dense["per_shape"]}
            rows.append(row)
            print(f"\n== 2 SD1.5 fp16 files of rank {rank}, weights {WEIGHTS}, svd merge to rank {args.target}")
            print(f"QR-core (ours, median of {args.repeats})   {fmt_s(t_ours)}   runs: "
                  + ", ".join(fmt_s(t) for t in ours["times"]) + f"   peak RSS {ours['peak_rss_mb']:.0f} MB")
            print(f"dense ΔW + full SVD (EXTRAPOLATED from one module per shape × module count, median of "
                  f"{args.repeats}) {fmt_s(t_dense)}   → dense / ours = {row['dense_vs_ours']:.0f}×")
            for item in dense["per_shape"]:
                print(f"    {item['shape'][0]}×{item['shape'][1]}: {item['modules']} modules × "
                      f"{fmt_s(item['median_s'])}")
            print(f"max relative ΔW error vs exact best rank-k (fp64): ours {row['max_rel_err_ours']:.1e}, "
                  f"dense fp32 SVD {row['max_rel_err_dense_fp32']:.1e}; retained energy {row['retained_energy']:.4f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share this machine)")
    print("\nJSON " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
