"""Benchmark: one evolve generation scored from the kernel K vs the seed's materialise-and-compare approach.

Default: 16 synthetic SD1.5 rank-32 fp16 LoRAs (all 264 modules), R = 9 → 16·15/2·9 = 1,080 pair candidates.
Timed (median of --repeats runs):
  read    reading every file's bytes (the floor for anything that looks at the weights)
  K       the engine's `kernel` over all files (fresh `LoraFile`s each run)
  score   generating + scoring + deduping + selecting all candidates from K (`propose`, K-only pool), blends
          only (the seed's candidate set)
  select  issue 10's figure: scoring (pool-novelty) + dedupe + greedy max–min selection of every candidate of
          all linear operators (blend, orthogonal, extrapolate, add-difference, crossover; ≥ 5,000 for the
          default pool), candidates generated beforehand; and the previous pipeline (old novelty + top-k) on
          the same candidates
  seed    the seed's approach: materialise each candidate's dense ΔW and compare it with every member's dense
          ΔW (mean |a − b| over the flattened weights). Made as cheap as memory allows (members' dense ΔW once
          per module, shared by the sampled candidates). Too slow to run for all candidates, so it is timed on
          --seed-sample candidates and EXTRAPOLATED linearly: members' time + candidates × per-candidate time.

Run: .venv/bin/python bench/bench_evolve.py [--files 16 --rank 32 --ratios 9 --repeats 3 --seed-sample 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _seed_scores(files, sample) -> tuple[float, float, list[float]]:
    """The seed's way, made as cheap as memory allows: dense ΔW of every member (once per module, since all
    members' dense ΔW together do not fit in memory) and of each sampled candidate, flattened, mean |a − b|.

    Returns (seconds materialising the members, seconds materialising + comparing the candidates, scores).
    """
    import torch

    totals = torch.zeros(len(sample), len(files), dtype=torch.float64)
    count = 0
    t_members = t_cands = 0.0
    for module in files[0].module_names:
        start = time.perf_counter()
        members = [f.factors(module).dense().reshape(-1) for f in files]
        t_members += time.perf_counter() - start
        start = time.perf_counter()
        for row, (pair, ratio) in enumerate(sample):
            a, b = pair
            cand = (1 - ratio) * members[a] + ratio * members[b]
            for j, w in enumerate(members):
                totals[row, j] += (cand - w).abs().sum().double()
        t_cands += time.perf_counter() - start
        count += members[0].numel()
    return t_members, t_cands, (totals / count).mean(dim=1).tolist()


def _score_select(pool, settings, candidates_fn):
    """Time score + dedupe + select only (candidates are regenerated outside the timed part each run)."""
    import numpy as np

    from lib_stylemix.pool.scoring import Reference, mark_duplicates, score_candidates, select
    from lib_stylemix.seams import NeverCancel, NullProgress

    coefs = pool.coefficients()
    times = []
    for _ in range(3):
        cands = candidates_fn()
        start = time.perf_counter()
        scale = score_candidates(pool.space, cands, Reference(coefs, pool.names), settings, NullProgress(),
                                 NeverCancel())
        mark_duplicates(pool.space, cands, settings.dedupe_tol, scale.feats)
        select(pool.space, cands, settings, scale)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(cands), int(np.sum([c.status == "selected" for c in cands]))


def run(n_files: int, rank: int, n_modules: int | None, ratios: int, repeats: int, seed_sample: int,
        folder: Path) -> dict:
    from lib_stylemix.lora import default_modules, kernel, make_lora_file, open_lora
    from lib_stylemix.pool.evolve import propose
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.settings import EvolveSettings

    modules = default_modules("sd1")[:n_modules] if n_modules else None
    paths = [make_lora_file(folder / f"bench_{i:02d}.safetensors", rank=rank, modules=modules, seed=i)
             for i in range(n_files)]
    size_mb = sum(p.stat().st_size for p in paths) / 1e6

    def read_all() -> int:
        return sum(len(p.read_bytes()) for p in paths)

    def compute_k():
        return kernel([open_lora(p) for p in paths])

    t_read, _ = _median_time(read_all, repeats)
    t_k, k = _median_time(compute_k, repeats)
    pool = Pool.from_kernel(k.names, k.total, k.by_block)
    settings = EvolveSettings(ratios=ratios, keep=1, operators=("blend",))
    t_score, candidates = _median_time(lambda: propose(pool, settings), repeats)
    n_cand = len(candidates)
    import numpy as np

    from lib_stylemix.pool.generation import generate

    linear = ("blend", "orthogonal", "extrapolate", "add-difference", "crossover")
    explore = EvolveSettings(ratios=ratios, keep=8, operators=linear, max_exploratory=100_000)
    old = EvolveSettings(ratios=ratios, keep=8, operators=linear, max_exploratory=100_000, score="novelty",
                         select="topk", per_parents=0)

    def cands():
        return generate(pool.coefficients(), pool.names, pool.space, explore, np.random.default_rng(0))[0]

    t_select, n_select, n_kept = _score_select(pool, explore, cands)
    t_old, _, _ = _score_select(pool, old, cands)

    files = [open_lora(p) for p in paths]
    picks = candidates[:: max(1, n_cand // seed_sample)][:seed_sample]
    t_members, t_cands, _ = _seed_scores(files, [(c.parent_index, c.params["ratio"]) for c in picks])
    t_seed_each = t_cands / len(picks)
    t_seed_all = t_members + t_seed_each * n_cand
    return {
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cpus": os.cpu_count(),
        "files": n_files, "rank": rank, "modules": len(files[0].module_names), "ratios": ratios,
        "candidates": n_cand, "repeats": repeats, "total_mb": round(size_mb, 1),
        "read_s": t_read, "kernel_s": t_k, "kernel_over_read": t_k / t_read,
        "score_all_s": t_score, "score_per_candidate_ms": 1000 * t_score / n_cand,
        "select_candidates": n_select, "score_select_s": t_select, "selected": n_kept,
        "old_score_topk_s": t_old, "threads": {k: os.environ.get(k) for k in
                                               ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "seed_sample": len(picks), "seed_members_dense_s": t_members, "seed_per_candidate_s": t_seed_each,
        "seed_all_s_extrapolated": t_seed_all,
        "speedup_vs_seed": t_seed_all / t_score,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--modules", type=int, default=None, help="use only the first N modules (smoke tests)")
    parser.add_argument("--ratios", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed-sample", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stylemix-bench-") as tmp:
        r = run(args.files, args.rank, args.modules, args.ratios, args.repeats, args.seed_sample, Path(tmp))
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"{r['files']} SD1.5 files, rank {r['rank']}, {r['modules']} modules, fp16, {r['total_mb']} MB; "
          f"R = {r['ratios']} -> {r['candidates']} candidates; medians of {r['repeats']} runs; "
          f"{r['cpus']} CPUs, load average {r['load_average_1min']} at the end")
    print(f"  read all file bytes        {r['read_s']:9.3f} s")
    print(f"  kernel K (engine)          {r['kernel_s']:9.3f} s   = {r['kernel_over_read']:.2f} x read")
    print(f"  score all candidates (K)   {r['score_all_s']:9.3f} s   ({r['score_per_candidate_ms']:.3f} ms each)")
    print(f"  threads: {r['threads']}")
    print(f"  score + dedupe + maxmin    {r['score_select_s']:9.3f} s   ({r['select_candidates']} candidates of all "
          f"linear operators, {r['selected']} kept; median of 3)")
    print(f"  old novelty + top-k        {r['old_score_topk_s']:9.3f} s   (same candidates; the previous rule)")
    seed_same = r["seed_members_dense_s"] + r["seed_per_candidate_s"] * r["select_candidates"]
    print(f"  seed method, same count    {seed_same:9.1f} s   EXTRAPOLATED -> score + maxmin is "
          f"{seed_same / r['score_select_s']:.0f} x faster")
    print(f"  seed: members' dense ΔW    {r['seed_members_dense_s']:9.3f} s   (once, all modules)")
    print(f"  seed: per candidate        {r['seed_per_candidate_s']:9.3f} s   (timed on {r['seed_sample']})")
    print(f"  seed: all candidates       {r['seed_all_s_extrapolated']:9.1f} s   EXTRAPOLATED = members + "
          f"{r['candidates']} x per candidate")
    print(f"  K scoring vs seed          {r['speedup_vs_seed']:9.0f} x faster (extrapolated)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
