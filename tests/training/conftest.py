"""Fixtures for the training tests: a stand-in sd-scripts folder, tiny datasets and tiny base-model headers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from lib_stylemix.training.locate import SdScripts
from lib_stylemix.training.probe import EnvInfo

HERE = Path(__file__).parent
FAKE_TRAINER = HERE / "fake_trainer.py"


@pytest.fixture
def fake_sd(tmp_path: Path) -> SdScripts:
    return make_fake_sd_scripts(tmp_path / "sd-scripts")


def make_fake_sd_scripts(root: Path) -> SdScripts:
    """An sd-scripts folder whose training scripts are the stand-in trainer and whose venv Python is ours
    (with torch/diffusers/transformers package metadata so `check_sd_scripts` sees the requirements installed,
    whatever the test interpreter has)."""
    (root / "library").mkdir(parents=True)
    (root / "library" / "train_util.py").write_text("# stand-in\n")
    for name in ("train_network.py", "sdxl_train_network.py"):
        shutil.copy(FAKE_TRAINER, root / name)
    # Package metadata, so sd-scripts' requirements look installed to the version probe, and a stub torch whose
    # CUDA answer comes from $FAKE_CUDA (the probe imports torch; the real one would take seconds).
    site = root / "venv" / "fake-site"
    for name, version in (("torch", "2.1.2"), ("diffusers", "0.25.0"), ("transformers", "4.44.0")):
        add_dist_info(site, name, version)
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text(STUB_TORCH)
    python = write_python_wrapper(root / "venv" / "bin" / "python", extra_path=site)
    return SdScripts(root=root.resolve(), python=python.resolve(), source="argument")


STUB_TORCH = """
import os, types
class _T:
    def __init__(self, *a, **k):
        self.grad = None
def _available():
    return os.environ.get("FAKE_CUDA") == "1"
cuda = types.SimpleNamespace(is_available=_available, get_device_name=lambda i=0: "Stand-in GPU",
                             synchronize=lambda: None)
nn = types.SimpleNamespace(Parameter=lambda t: _T())
zeros = ones_like = _T
"""

# bitsandbytes that imports; its 8-bit optimizer step works only with FAKE_BNB_GPU=1 (else the real error text).
STUB_BNB = """
import os, types
class AdamW8bit:
    def __init__(self, params):
        pass
    def step(self):
        if os.environ.get("FAKE_BNB_GPU") != "1":
            raise RuntimeError("bitsandbytes was compiled without GPU support")
optim = types.SimpleNamespace(AdamW8bit=AdamW8bit)
"""


def add_dist_info(site: Path, name: str, version: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def add_stub_bitsandbytes(sd: SdScripts) -> None:
    site = sd.root / "venv" / "fake-site"
    add_dist_info(site, "bitsandbytes", "0.44.0")
    (site / "bitsandbytes").mkdir()
    (site / "bitsandbytes" / "__init__.py").write_text(STUB_BNB)


def write_python_wrapper(path: Path, extra_path: Path | None = None) -> Path:
    """A `venv/bin/python` that runs the test interpreter (optionally with more on PYTHONPATH)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    export = f'export PYTHONPATH="{extra_path}${{PYTHONPATH:+:$PYTHONPATH}}"\n' if extra_path else ""
    path.write_text(f'#!/bin/sh\n{export}exec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def env_plain() -> EnvInfo:
    return EnvInfo(python="3.10.14", torch="2.1.2", accelerate=None, bitsandbytes=False, cuda=True)


@pytest.fixture
def env_full() -> EnvInfo:
    return EnvInfo(python="3.10.14", torch="2.1.2", accelerate="0.30.0", bitsandbytes=True, bitsandbytes_gpu=True,
                   cuda=True)  # fmt: skip


@pytest.fixture
def env_cpu() -> EnvInfo:
    """A CPU-only torch with a bitsandbytes that imports (with a warning) but has no GPU to run on."""
    return EnvInfo(python="3.10.14", torch="2.1.2+cpu", accelerate="0.30.0", bitsandbytes=True, cuda=False)


def make_dataset(root: Path, style: str = "inkwash", images: int = 3, repeats: int = 10) -> Path:
    """`<root>/<style>/img/<repeats>_<style>/imN.png + imN.txt` as the restyle step writes it; returns `<style>`."""
    folder = root / style / "img" / f"{repeats}_{style}"
    folder.mkdir(parents=True)
    for i in range(images):
        Image.new("RGB", (32, 32), (40 * i, 80, 120)).save(folder / f"im{i}.png")
        (folder / f"im{i}.txt").write_text(f"a small square number {i}, {style} style\n", encoding="utf-8")
    return root / style


def make_checkpoint(path: Path, arch: str) -> Path:
    """A tiny .safetensors whose tensor names look like a full SD1/SD2/SDXL checkpoint."""
    key = {
        "sd1": "cond_stage_model.transformer.text_model.final_layer_norm.weight",
        "sd2": "cond_stage_model.model.ln_final.weight",
        "sdxl": "conditioner.embedders.1.model.ln_final.weight",
        "none": "first_stage_model.decoder.conv_in.weight",
    }[arch]
    save_file({key: np.zeros(2, np.float16), "model.diffusion_model.out.0.bias": np.zeros(2, np.float16)}, str(path))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "restyled")


@pytest.fixture
def sd15(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "sd15.safetensors", "sd1")


@pytest.fixture
def sdxl(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "sdxl.safetensors", "sdxl")


def pid_gone(pid: int) -> bool:
    """True when /proc shows no live process (a zombie awaiting reaping counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return text[text.rfind(")") + 2] in "ZX"


@pytest.fixture
def fake_env(monkeypatch):
    """Set FAKE_* variables for the stand-in trainer (children inherit os.environ)."""

    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    for key in list(os.environ):
        if key.startswith("FAKE_"):
            monkeypatch.delenv(key)
    return set_env
