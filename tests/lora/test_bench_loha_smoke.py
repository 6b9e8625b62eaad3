"""bench/bench_loha_compare.py still runs, and its factor route agrees with the float64 kernel (tiny size)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loha_bench_runs_at_tiny_size():
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_loha_compare.py"), "--files", "2",
                          "--modules", "4", "--repeats", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert "ratio dense / factor" in res.stdout and "load average" in res.stdout
    factor_err = float(re.search(r"factor route ([0-9.e+-]+),", res.stdout)[1])
    assert factor_err < 1e-6
