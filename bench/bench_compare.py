"""Benchmark: pairwise compare of a LoRA pool — Gram method vs dense ΔW vs the seed's flatten-everything metric.

    .venv/bin/python bench/bench_compare.py                      # 8 SD1.5 files, rank 32 and 128, all 264 modules
    .venv/bin/python bench/bench_compare.py --files 2 --ranks 2 --modules 6 --repeats 1   # smoke size

Interleaved rounds: in each, a fresh process measures the floors with the thread count the kernel gets
(`--threads`, default auto) — reading every byte of the pool from the page cache, and the fp32 matmul rate
— then runs the Gram method once; the seed's legacy metric follows in its own process. Prints the load
average, the thread settings, the ratio to max(read floor, compute floor) per round and its median. Two
dense-ΔW baselines (each ΔW formed once and a Gram of the flattened ΔW; and the naive per-pair
‖ΔW_i − ΔW_j‖) are timed on one module of each distinct shape and extrapolated by the number of modules with
that shape (printed as such).
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

from lora_bench_common import (
    fmt_s,
    make_pool,
    matmul_rate,
    median,
    peak_rss_mb,
    read_floor,
    run_worker,
    timed,
)

SCRIPT = Path(__file__).resolve()


def worker(kind: str, paths: list[str], repeats: int, threads_choice: str = "auto") -> dict:
    import numpy as np
    import torch

    from lib_stylemix import threads
    from lib_stylemix.lora import kernel, legacy_distance_matrix, open_lora

    threads.configure(threads_choice)
    baseline = peak_rss_mb()
    if kind == "gram":
        # one round: the floors measured in this process with the threads the kernel gets, then the kernel
        with threads.compute_threads() as n:
            described = threads.describe()
            rate = matmul_rate(2048, repeats=3)
            floor_read = read_floor([Path(p) for p in paths], 1)
        baseline = peak_rss_mb()
        times = timed(lambda: kernel([open_lora(p) for p in paths]), repeats)
        return {"times": times, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb(), "rate": rate,
                "read_floor": floor_read, "threads": n, "described": described}
    if kind == "legacy":
        times = timed(lambda: legacy_distance_matrix([open_lora(p) for p in paths]), repeats)
        return {"times": times, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}
    # dense: one representative module per distinct shape, timed, then weighted by how many modules share it
    files = [open_lora(p) for p in paths]
    shapes = Counter((m.out_features, m.in_features) for m in files[0].modules.values())
    representative = {}
    for name, m in files[0].modules.items():
        representative.setdefault((m.out_features, m.in_features), name)
    total = total_pairs = 0.0
    per_shape = []
    max_rel_err = 0.0
    for shape, count in sorted(shapes.items()):
        module = representative[shape]

        def dense_gram(module: str = module) -> np.ndarray:
            flat = torch.stack([f.factors(module).dense().reshape(-1) for f in files])
            return (flat @ flat.T).double().numpy()

        def dense_pairs(module: str = module) -> np.ndarray:
            out = np.zeros((len(files), len(files)))
            for i in range(len(files)):
                for j in range(i + 1, len(files)):
                    diff = files[i].factors(module).dense() - files[j].factors(module).dense()
                    out[i, j] = out[j, i] = float((diff * diff).sum())
            return out

        times = timed(dense_gram, repeats)
        pair_times = timed(dense_pairs, repeats)
        total += median(times) * count
        total_pairs += median(pair_times) * count
        per_shape.append({"shape": list(shape), "modules": count, "median_s": median(times),
                          "pairwise_median_s": median(pair_times)})
        gram = kernel(files, modules=[module], dtype=torch.float64).total
        flat64 = torch.stack([f.factors(module, dtype=torch.float64).dense().reshape(-1) for f in files])
        dense = (flat64 @ flat64.T).numpy()
        max_rel_err = max(max_rel_err, float(np.abs(gram - dense).max() / np.abs(dense).max()))
    return {"extrapolated_s": total, "pairwise_extrapolated_s": total_pairs, "per_shape": per_shape,
            "max_rel_err_vs_gram": max_rel_err,
            "peak_rss_mb": peak_rss_mb()}


def measure_rank(args: argparse.Namespace, base: Path, rank: int, rate: float) -> dict:
    """Interleaved rounds at one rank: per round the Gram method (with its floors) and the legacy metric."""
    from lib_stylemix.lora import open_lora

    paths = make_pool(base / f"rank{rank}", count=args.files, rank=rank, modules=args.modules)
    files = [open_lora(p) for p in paths]
    pool_mb = sum(p.stat().st_size for p in paths) / 1e6
    macs = 0
    n = len(files)
    pairs = n * (n + 1) // 2  # unordered pairs incl. i == j (the norms)
    for m in files[0].modules.values():
        macs += pairs * (m.out_features + m.in_features) * m.rank * m.rank
    str_paths = [str(p) for p in paths]
    grams, legacies = [], []
    for _ in range(args.repeats):  # interleaved rounds: floors, Gram and legacy measured side by side
        grams.append(run_worker(SCRIPT, ["--worker", "gram", "--repeats", "1", "--threads", args.threads,
                                         "--paths", *str_paths]))
        legacies.append(run_worker(SCRIPT, ["--worker", "legacy", "--repeats", "1", "--paths", *str_paths]))
    dense = run_worker(SCRIPT, ["--worker", "dense", "--repeats", str(args.repeats), "--paths", *str_paths])
    gram_times = [g["times"][0] for g in grams]
    floors = [max(g["read_floor"], macs / g["rate"]) for g in grams]
    ratios = [t / f for t, f in zip(gram_times, floors, strict=True)]
    floor_read = median([g["read_floor"] for g in grams])
    compute_floor = median([macs / g["rate"] for g in grams])
    t_gram = median(gram_times)
    t_legacy = median([leg["times"][0] for leg in legacies])
    t_dense = dense["extrapolated_s"]
    gram = grams[-1]
    row = {
        "rank": rank, "files": n, "modules": len(files[0].modules), "pool_mb": pool_mb,
        "threads": gram["threads"], "read_floor_s": floor_read, "compute_floor_s": compute_floor,
        "compute_floor_all_cores_s": macs / rate, "gram_s": t_gram,
        "gram_runs_s": gram_times, "legacy_s": t_legacy, "dense_extrapolated_s": t_dense,
        "dense_vs_gram": t_dense / t_gram,
        "dense_pairwise_extrapolated_s": dense["pairwise_extrapolated_s"],
        "dense_pairwise_vs_gram": dense["pairwise_extrapolated_s"] / t_gram,
        "legacy_vs_gram": t_legacy / t_gram,
        "gram_vs_floor": median(ratios), "gram_vs_floor_runs": ratios, "efficiency": 1 / median(ratios),
        "gram_peak_rss_mb": gram["peak_rss_mb"], "gram_baseline_rss_mb": gram["baseline_rss_mb"],
        "dense_max_rel_err_vs_gram": dense["max_rel_err_vs_gram"],
    }
    print_rank(row, gram, dense, macs, rate)
    return row


def print_rank(r: dict, gram: dict, dense: dict, macs: float, rate: float) -> None:
    """The human-readable lines of one rank's results."""
    rank, n, pool_mb = r["rank"], r["files"], r["pool_mb"]
    floor_read, compute_floor, t_gram, t_legacy = r["read_floor_s"], r["compute_floor_s"], r["gram_s"], r["legacy_s"]
    t_dense, gram_times, ratios = r["dense_extrapolated_s"], r["gram_runs_s"], r["gram_vs_floor_runs"]
    print(f"\n== rank {rank}: {n} SD1.5 fp16 files × {r['modules']} modules, {pool_mb:.1f} MB total")
    print(f"{gram['described']}")
    print(f"read floor (bytes, page cache)    {fmt_s(floor_read)}")
    print(f"compute floor ({macs / 1e9:.1f} G MAC)       {fmt_s(compute_floor)} at the kernel's "
          f"{gram['threads']} thread(s), measured in each round ({fmt_s(macs / rate)} at the all-core rate)")
    print(f"Gram method (median of {len(gram_times)})        {fmt_s(t_gram)}   runs: "
          + ", ".join(fmt_s(t) for t in gram_times))
    print("  ratio to max(read, compute floor), per round: "
          + ", ".join(f"{x:.2f}" for x in ratios) + f"   median {r['gram_vs_floor']:.2f}×")
    print(f"  peak RSS {gram['peak_rss_mb']:.0f} MB for the whole worker (interpreter, torch, the floor "
          f"measurements and the kernel; {gram['baseline_rss_mb']:.0f} MB before the kernel ran)")
    print(f"seed's legacy metric (median)     {fmt_s(t_legacy)}   → legacy / Gram = {r['legacy_vs_gram']:.2f}")
    print("dense ΔW, EXTRAPOLATED from one module per distinct shape × the number of modules of that shape:")
    print(f"  each ΔW formed once per module, Gram of the flattened ΔW  {fmt_s(t_dense)}   "
          f"→ dense / Gram = {r['dense_vs_gram']:.1f}×")
    print(f"  naive: both ΔW formed for every pair, ‖ΔW_i − ΔW_j‖²     "
          f"{fmt_s(r['dense_pairwise_extrapolated_s'])}   → naive / Gram = {r['dense_pairwise_vs_gram']:.1f}×")
    print(f"  Gram (fp64) vs dense ΔW (fp64) on those modules: max relative difference "
          f"{dense['max_rel_err_vs_gram']:.1e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--ranks", default="32,128")
    parser.add_argument("--modules", type=int, default=None, help="use only the first N modules (smoke runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the generated pool (default: temp)")
    parser.add_argument("--matmul-size", type=int, default=3072, help="size of the matmul that measures the rate")
    parser.add_argument("--threads", default="auto", help="compute threads for the Gram method (default auto)")
    parser.add_argument("--worker", choices=("gram", "legacy", "dense"), help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.paths, args.repeats, args.threads)))
        return 0

    import torch


    rate = matmul_rate(args.matmul_size)
    print(f"machine: {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, fp32 matmul "
          f"{rate / 1e9:.1f} GMAC/s (best of 5 runs of one {args.matmul_size}³ matmul, numpy and torch); load average "
          f"{os.getloadavg()[0]:.1f} at start")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        for rank in (int(r) for r in args.ranks.split(",")):
            rows.append(measure_rank(args, base, rank, rate))
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share this machine)")
    print("\nJSON " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
