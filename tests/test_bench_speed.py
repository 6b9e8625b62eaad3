"""The speed benchmarks still run (tiny sizes; the real figures are in docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_threads_runs_at_tiny_size(tmp_path):
    args = ["--files", "2", "--ranks", "2", "--modules", "4", "--repeats", "1", "--busy-limit", "60",
            "--dir", str(tmp_path)]
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_threads.py"), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "load average" in res.stdout and "threads: setting" in res.stdout
    rows = json.loads(res.stdout.strip().splitlines()[-1].removeprefix("JSON "))
    assert len(rows) == 1 and rows[0]["default_s"] > 0 and rows[0]["auto_s"] > 0
    assert 1 <= rows[0]["auto_threads"] <= rows[0]["default_threads"]
