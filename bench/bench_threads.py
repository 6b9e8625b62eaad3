"""Benchmark: compare of 8 SD1.5 rank-32 files with the libraries' default threads vs `--threads auto`,
while the benchmark itself keeps one core busy (a bounded busy loop in a child process).

    .venv/bin/python bench/bench_threads.py                 # 8 files, rank 32, 3 interleaved rounds
    .venv/bin/python bench/bench_threads.py --files 2 --ranks 2 --modules 6 --repeats 1   # smoke size

Each round starts the busy loop, runs the compare once with the default thread count (one per core, what
torch and OpenBLAS start on their own) and once with auto, each in a fresh interpreter, then stops the loop;
the order alternates between rounds. Prints the load average, the thread settings each run used, the
medians and the ratio default / auto (auto must never be slower: ratio ≥ 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lora_bench_common import BusyCore, fmt_s, make_pool, median, run_worker

SCRIPT = Path(__file__).resolve()


def worker(paths: list[str], choice: str) -> dict:
    from lib_stylemix import threads
    from lib_stylemix.lora import kernel, open_lora

    threads.configure(threads.cores() if choice == "default" else choice)
    import numpy  # noqa: F401  (so that describe() sees the BLAS pool)
    import torch  # noqa: F401  (as in a compare of a real pool, where the conversion uses torch)

    with threads.compute_threads() as n:
        described = threads.describe()
        start = time.perf_counter()
        kernel([open_lora(p) for p in paths])
        elapsed = time.perf_counter() - start
    return {"time": elapsed, "threads": n, "described": described, "load": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--ranks", default="32")
    parser.add_argument("--modules", type=int, default=None, help="use only the first N modules (smoke runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy-limit", type=float, default=300.0, help="the busy loop stops after this at most")
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the generated pool (default: temp)")
    parser.add_argument("--worker", choices=("default", "auto"), help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.paths, args.worker)))
        return 0
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start; one core kept busy by the "
          "benchmark during every run")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        for rank in (int(r) for r in args.ranks.split(",")):
            paths = [str(p) for p in make_pool(base / f"rank{rank}", count=args.files, rank=rank,
                                               modules=args.modules)]
            runs: dict[str, list[dict]] = {"default": [], "auto": []}
            for round_no in range(args.repeats):
                order = ("default", "auto") if round_no % 2 == 0 else ("auto", "default")
                for choice in order:
                    with BusyCore(args.busy_limit):
                        runs[choice].append(run_worker(SCRIPT, ["--worker", choice, "--paths", *paths]))
                    r = runs[choice][-1]
                    print(f"  round {round_no + 1} {choice:7s} {fmt_s(r['time']):>8s}  load {r['load']:.1f}  "
                          f"{r['described']}")
            t_default = median([r["time"] for r in runs["default"]])
            t_auto = median([r["time"] for r in runs["auto"]])
            ratios = [d["time"] / a["time"] for d, a in zip(runs["default"], runs["auto"], strict=True)]
            rows.append({"rank": rank, "files": args.files, "default_s": t_default, "auto_s": t_auto,
                         "default_threads": runs["default"][0]["threads"], "auto_threads": runs["auto"][0]["threads"],
                         "default_over_auto": t_default / t_auto, "ratio_runs": ratios})
            print(f"== rank {rank}, {args.files} files, one core busy: default threads "
                  f"({runs['default'][0]['threads']}) median {fmt_s(t_default)}, auto "
                  f"({'/'.join(str(r['threads']) for r in runs['auto'])}) median {fmt_s(t_auto)}  →  default / auto "
                  f"= {t_default / t_auto:.2f} (per round: {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("\nJSON " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
