"""Benchmark: wall time of the cold commands — `demo`, `info` on one file, `--help` — with one core kept busy.

    .venv/bin/python bench/bench_demo.py                 # 3 interleaved rounds
    .venv/bin/python bench/bench_demo.py --repeats 1     # quick look
    .venv/bin/python bench/bench_demo.py --old /tmp/demo-old   # also the demo of an older checkout, same rounds

Every command runs as a user runs it: a fresh `python -m lib_stylemix …` process (so imports count), the
demo into a new folder each round (so the example pool is written each time). In the same rounds and under
the same busy core, the floors are timed: `python -c pass` (the interpreter) and `python -c "import torch"`
(what any torch-using command pays once). Prints the load average, the thread setting, each round and the
medians; the ratios are taken against those floors. With `--old DIR` (a checkout of earlier code, e.g.
`git worktree add --detach /tmp/demo-old <commit>`), that code's demo runs in the same rounds, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lora_bench_common import ROOT, BusyCore, fmt_s, median


def wall(args: list[str], code: Path = ROOT) -> float:
    """Seconds of one fresh interpreter running `args` with the package from `code` (its working folder, so
    `-m` finds that package first) to its end; it must succeed."""
    env = dict(os.environ, PYTHONPATH=str(code))
    cwd = code
    start = time.perf_counter()
    res = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy-limit", type=float, default=600.0, help="the busy loop stops after this at most")
    parser.add_argument("--no-busy", action="store_true", help="do not keep a core busy (for comparison)")
    parser.add_argument("--old", type=Path, help="checkout of earlier code whose demo runs in the same rounds")
    args = parser.parse_args(argv)

    from lib_stylemix import threads

    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start; "
          f"{'no extra load' if args.no_busy else 'one core kept busy by the benchmark'}; CLI threads setting "
          f"{threads.configured()} (resolved per command at its start)")
    commands = {
        "python -c pass": ["-c", "pass"],
        "import torch": ["-c", "import torch"],
        "--help": ["-m", "lib_stylemix", "--help"],
        "info (1 file)": ["-m", "lib_stylemix", "info", "{file}"],
        "demo": ["-m", "lib_stylemix", "demo", "--out", "{out}"],
    }
    code = {name: ROOT for name in commands}
    if args.old is not None:
        commands["demo (old code)"] = ["-m", "lib_stylemix", "demo", "--out", "{out}-old"]
        code["demo (old code)"] = args.old.resolve()
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        subprocess.run([sys.executable, "-m", "lib_stylemix", "example", str(base / "one"), "--count", "1"],
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, check=True)
        file = next((base / "one").glob("*.safetensors"))
        for checkout in set(code.values()):  # compile the byte code once, outside the timing
            wall(["-m", "lib_stylemix", "--help"], checkout)
        for round_no in range(args.repeats):
            names = list(commands) if round_no % 2 == 0 else list(reversed(commands))
            for name in names:
                argv_ = [a.format(file=file, out=base / f"demo{round_no}") for a in commands[name]]
                if args.no_busy:
                    times[name].append(wall(argv_, code[name]))
                else:
                    with BusyCore(args.busy_limit):
                        times[name].append(wall(argv_, code[name]))
            print(f"  round {round_no + 1}: " + ", ".join(f"{n} {fmt_s(times[n][-1])}" for n in commands)
                  + f"  (load {os.getloadavg()[0]:.1f})")
    med = {name: median(ts) for name, ts in times.items()}
    print("medians: " + ", ".join(f"{n} {fmt_s(t)}" for n, t in med.items()))
    print(f"demo − import torch = {fmt_s(med['demo'] - med['import torch'])} (the demo's own work); "
          f"info / python -c pass = {med['info (1 file)'] / med['python -c pass']:.1f}×")
    if args.old is not None:
        ratios = [o / n for o, n in zip(times["demo (old code)"], times["demo"], strict=True)]
        print(f"demo old code / new, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"ratio of medians {med['demo (old code)'] / med['demo']:.2f}×")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("\nJSON " + json.dumps({"median_s": med, "runs_s": times, "busy_core": not args.no_busy}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
