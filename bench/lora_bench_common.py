"""Shared pieces of the LoRA engine benchmarks: synthetic pools, timing, RSS, isolated worker processes.

Each measured method runs in a fresh interpreter (`subprocess`) so its peak RSS (`ru_maxrss`) is its own and
not inflated by file generation or by the other methods.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def make_pool(folder: Path, *, count: int, rank: int, modules: int | None, seed: int = 0) -> list[Path]:
    """`count` SD1.5 fp16 LoRAs with the real module set (or its first `modules` modules)."""
    from lib_stylemix.lora import default_modules, make_lora_file

    names = default_modules("sd1")
    if modules:
        names = names[:modules]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"r{rank}_{i:02d}.safetensors"
        if not path.exists():
            make_lora_file(path, arch="sd1", rank=rank, modules=names, seed=seed + 1000 * rank + i, dtype="fp16",
                           alpha=rank)
        paths.append(path)
    return paths


def matmul_rate(size: int = 3072, repeats: int = 5) -> float:
    """Multiply-adds per second of one large fp32 matmul: the best of `repeats` runs with numpy and with torch.

    The best run, not the median, because other processes share the machine: the floor should be what the
    hardware can do, so that the efficiency figure is strict.
    """
    import numpy as np
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    an, bn = a.numpy(), b.numpy()
    best = min(min(timed(lambda: a @ b, repeats)), min(timed(lambda: np.matmul(an, bn), repeats)))
    return size**3 / best


def read_floor(paths: list[Path], repeats: int) -> float:
    """Median seconds to read every byte of the files (page cache warm, as after writing them)."""
    def read_all() -> None:
        for p in paths:
            with p.open("rb") as fh:
                while fh.read(1 << 24):
                    pass

    read_all()
    return median(timed(read_all, repeats))


def run_worker(script: Path, args: list[str]) -> dict:
    """Run `script --worker ...` in a fresh interpreter; it prints one JSON object as its last stdout line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def spin(seconds: float) -> None:
    """Keep one core busy for at most `seconds` (the parent stops it earlier)."""
    deadline = time.monotonic() + seconds
    x = 0
    while time.monotonic() < deadline:
        x += 1


class BusyCore:
    """A bounded busy loop on one core, started and stopped around a block."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.process: multiprocessing.Process | None = None

    def __enter__(self) -> BusyCore:
        self.process = multiprocessing.get_context("spawn").Process(target=spin, args=(self.limit_s,), daemon=True)
        self.process.start()
        time.sleep(0.5)  # let it reach the scheduler's run queue
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.join(5)
