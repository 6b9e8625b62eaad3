"""The engine benchmarks still run (tiny sizes; the real runs are in the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("script", "args"), [
    ("bench_compare.py", ["--files", "3", "--ranks", "2", "--modules", "5", "--repeats", "1", "--matmul-size", "256"]),
    ("bench_svd_merge.py", ["--ranks", "3", "--target", "2", "--modules", "4", "--repeats", "1"]),
])
def test_bench_runs_at_tiny_size(tmp_path, script, args):
    res = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, "--dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "median" in res.stdout and "EXTRAPOLATED" in res.stdout
    rows = json.loads(res.stdout.strip().splitlines()[-1].removeprefix("JSON "))
    assert len(rows) == 1
    row = rows[0]
    if script == "bench_compare.py":
        assert row["gram_s"] > 0 and row["dense_extrapolated_s"] > 0 and row["legacy_s"] > 0
        assert row["dense_max_rel_err_vs_gram"] < 1e-9
    else:
        assert row["ours_s"] > 0 and row["max_rel_err_ours"] < 1e-5
