"""The compute-thread rule: resolve, cap at the cores, apply inside the block, restore after it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lib_stylemix import threads
from lib_stylemix.cli import build_parser


@pytest.fixture(autouse=True)
def _reset():
    """Tests set 2 threads to see a change; the suite's own single-thread setting comes back after each."""
    import torch  # noqa: F401  (so that its count is saved and restored too)

    saved = threads.current()
    yield
    threads.configure("auto")
    threads.set_host_busy_probe(None)
    threads._restore(saved)


def test_parse_and_cap():
    assert threads.parse_threads(None) == "auto" and threads.parse_threads(" Auto ") == "auto"
    assert threads.parse_threads("3") == 3
    for bad in ("0", "-1", "many", "1.5"):
        with pytest.raises(ValueError, match="threads must be"):
            threads.parse_threads(bad)
    assert threads.resolve(10_000) == threads.cores()
    assert threads.resolve(1) == 1


def test_auto_uses_free_cores(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    monkeypatch.setattr(threads, "busy_cores", lambda: 1.2)
    assert threads.resolve() == 3
    monkeypatch.setattr(threads, "busy_cores", lambda: 9.0)
    assert threads.resolve() == 1
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
    assert threads.resolve() == 4
    threads.set_host_busy_probe(lambda: True)  # the webui is generating
    assert threads.resolve() == 1
    threads.set_host_busy_probe(lambda: 1 / 0)  # a broken probe never stops the computation
    assert threads.resolve() == 4


def test_busy_cores_counts_runnable_tasks(monkeypatch):
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    monkeypatch.setattr(threads, "_runnable_now", lambda: 3)  # us + two others
    assert threads.busy_cores() == 2


def test_applied_inside_and_restored_after():
    import torch

    torch.set_num_threads(2)
    libs = threads._blas_libraries()
    assert libs, "numpy's BLAS thread pool should be found"
    for lib in libs:
        lib.set(2)
    before = threads.current()
    with threads.compute_threads(1) as n:
        assert n == 1
        inside = threads.current()
        assert inside.torch == 1 and set(inside.blas.values()) == {1}
        with threads.compute_threads(2) as nested:  # nested blocks keep the outer decision
            assert nested == 1 and threads.current().torch == 1
        np.ones((64, 64)) @ np.ones((64, 64))
    assert threads.current() == before


def test_restored_after_an_error():
    import torch

    torch.set_num_threads(2)
    with pytest.raises(RuntimeError), threads.compute_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_limited_decorator_uses_the_configured_choice():
    threads.configure(1)

    @threads.limited
    def work() -> int | None:
        return threads.current().torch

    import torch

    torch.set_num_threads(2)
    assert work() == 1
    assert torch.get_num_threads() == 2


def test_cli_global_option():
    parser = build_parser()
    assert parser.parse_args(["--threads", "2", "info", "x.safetensors"]).threads == 2
    assert parser.parse_args(["info", "x.safetensors"]).threads == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["--threads", "0", "info", "x.safetensors"])


def test_setting_field_defaults_to_auto():
    from lib_stylemix.settings import StyleMixSettings

    assert StyleMixSettings().compute_threads == "auto"
    assert StyleMixSettings.from_mapping({"compute_threads": "2"}).compute_threads == "2"
    threads.configure(StyleMixSettings.from_mapping({"compute_threads": "2"}).compute_threads)
    assert threads.configured() == 2


def test_torch_imported_inside_the_block_starts_with_the_count():
    import subprocess
    import sys

    code = ("import os\nfrom lib_stylemix import threads\n"
            "with threads.compute_threads(1):\n"
            "    import torch\n"
            "    inside = torch.get_num_threads()\n"
            "print(inside, os.environ.get('OMP_NUM_THREADS'))\n")
    root = str(Path(__file__).resolve().parents[1])
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": root})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["1", "None"]  # 1 thread inside; the variable is gone again after the block
