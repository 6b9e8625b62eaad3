"""The cold path: `--help`, `info` and `compare --by-block` planning load neither torch nor gradio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI in a fresh interpreter, then reports which heavy libraries ended up imported.
WRAPPER = """
import json, sys
from lib_stylemix.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "gradio", "matplotlib", "safetensors", "cv2") if m in sys.modules)
print("HEAVY " + json.dumps({"code": code, "heavy": heavy}))
print("LOADED " + json.dumps(sorted(m for m in sys.modules if m == "numpy" or m.startswith("lib_stylemix."))))
"""


def _run(*args: str) -> dict:
    return _run_loaded(*args)[0]


def _run_loaded(*args: str) -> tuple[dict, set[str]]:
    """(exit code and heavy libraries, every numpy/lib_stylemix module loaded) of one CLI run."""
    res = subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    lines = res.stdout.splitlines()
    heavy = next(ln for ln in lines if ln.startswith("HEAVY "))
    loaded = next(ln for ln in lines if ln.startswith("LOADED "))
    return json.loads(heavy.removeprefix("HEAVY ")), set(json.loads(loaded.removeprefix("LOADED ")))


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory) -> Path:
    from lib_stylemix.lora import make_lora_file
    from tests.lora.conftest import SD1_SMALL

    folder = tmp_path_factory.mktemp("cold")
    for i, dtype in enumerate(("fp16", "bf16")):
        make_lora_file(folder / f"f{i}.safetensors", rank=4, seed=i, modules=SD1_SMALL, dtype=dtype, alpha=2.0)
    return folder / "f0.safetensors"


@pytest.mark.parametrize("args", [["--help"], ["info", "--help"], ["compare", "--help"]])
def test_help_is_torch_free(args):
    out = _run(*args)
    assert out["code"] == 0
    assert "torch" not in out["heavy"] and "gradio" not in out["heavy"]


@pytest.mark.parametrize("args", [["--help"], ["evolve", "--help"], ["demo", "--help"], ["train", "--help"]])
def test_help_loads_no_engine(args):
    """The pool and training packages export their names lazily: building the parser loads no pool engine,
    no kernel, no training runner and no figure code."""
    out, loaded = _run_loaded(*args)
    assert out["code"] == 0 and out["heavy"] == []
    engine = {"lib_stylemix.pool.pool", "lib_stylemix.pool.evolve", "lib_stylemix.pool.figures",
              "lib_stylemix.lora.kernel", "lib_stylemix.lora.merge", "lib_stylemix.training.runner",
              "lib_stylemix.training.queue"}
    assert not loaded & engine


@pytest.mark.parametrize("args", [["compare", "--help"], ["info", "--help"]])
def test_lora_help_loads_no_numpy(args):
    """The LoRA commands' parsers (metric choices included) need no numpy."""
    out, loaded = _run_loaded(*args)
    assert out["code"] == 0 and "numpy" not in loaded


def test_info_reads_headers_and_alphas_without_torch(lora_file):
    out = _run("info", "--json", str(lora_file), str(lora_file.with_name("f1.safetensors")))
    assert out == {"code": 0, "heavy": []}


def test_info_alpha_matches_the_torch_reader(lora_file):
    """The struct-based alpha read gives the value safetensors+torch give (fp16 and bf16 files)."""
    from safetensors.torch import load_file

    from lib_stylemix.lora import open_lora

    for path in (lora_file, lora_file.with_name("f1.safetensors")):
        tensors = load_file(str(path))
        lora = open_lora(path)
        for module in lora.module_names:
            assert lora.alpha(module) == float(tensors[f"{module}.alpha"].double())


def test_small_compare_by_block_runs_without_torch(lora_file):
    """A compare of a few files reads and converts with numpy: torch is not worth importing for it."""
    out = _run("compare", "--by-block", str(lora_file), str(lora_file.with_name("f1.safetensors")))
    assert out == {"code": 0, "heavy": []}


def test_by_block_planning_is_torch_free(lora_file):
    """Opening files, checking the arch and listing block names (what `compare --by-block` plans with)."""
    code = (
        "import sys\n"
        "from lib_stylemix.lora import block_names, check_same_arch, open_lora\n"
        f"files = [open_lora(p) for p in {[str(lora_file), str(lora_file.with_name('f1.safetensors'))]!r}]\n"
        "arch = check_same_arch(files)\n"
        "blocks = {files[0].block_of(m) for m in files[0].module_names}\n"
        "assert blocks <= set(block_names(arch, full=True)) | set(block_names(arch))\n"
        "print(sorted(m for m in ('torch', 'gradio') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_demo_runs_without_torch(tmp_path):
    """The whole tour — example pool, compare, evolve with saved LoRAs, figures — in numpy: no torch import."""
    out_dir = tmp_path / "demo"
    out = _run("demo", "--out", str(out_dir))
    assert out["code"] == 0
    assert "torch" not in out["heavy"] and "gradio" not in out["heavy"]
    saved = sorted((out_dir / "evolved").glob("*.safetensors"))
    assert saved, "the demo saved no LoRA"
    from safetensors.torch import load_file

    from lib_stylemix.lora import open_lora

    for path in saved:  # the numpy-written files read back through the torch reader, alpha = rank
        tensors = load_file(str(path))
        lora = open_lora(path)
        module = lora.module_names[0]
        assert tensors[f"{module}.lora_down.weight"].shape[0] == lora.modules[module].rank
        assert float(tensors[f"{module}.alpha"]) == lora.modules[module].rank
