"""Fixtures for the UI tests: small real LoRA files, image folders, and hosts (standalone and a fake webui)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lib_stylemix.epochs.tags import with_loras
from lib_stylemix.restyle.generator import GeneratedImage
from lib_stylemix.seams import CancelFlag, FolderRegistry, NoGpuHandoff, NullProgress
from lib_stylemix.settings import StyleMixSettings

N_MODULES = 6


def write_small_loras(folder: Path, count: int = 4) -> list[Path]:
    """`count` sd1 LoRAs over a few real modules (fast to write and compare, same layout as real files)."""
    from lib_stylemix.lora import default_modules, make_lora_file

    modules = default_modules("sd1")[:: max(1, len(default_modules("sd1")) // N_MODULES)][:N_MODULES]
    folder.mkdir(parents=True, exist_ok=True)
    return [make_lora_file(folder / f"style_{i}.safetensors", rank=4, modules=modules, seed=i) for i in range(count)]


@pytest.fixture(autouse=True)
def work_in_tmp(tmp_path, monkeypatch):
    """Run every UI test in its own folder: default output folders are relative (`outputs/stylemix/…`)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def lora_source(tmp_path_factory) -> Path:
    """A read-only folder of four small LoRAs shared by the tests (tests copy it before writing next to it)."""
    folder = tmp_path_factory.mktemp("loras") / "Lora"
    write_small_loras(folder)
    return folder


@pytest.fixture
def lora_dir(tmp_path, lora_source) -> Path:
    """A fresh LoRA folder holding copies of the shared files (merges are written here)."""
    import shutil

    target = tmp_path / "Lora"
    shutil.copytree(lora_source, target)
    return target


def draw_image(path: Path, size: tuple[int, int], seed: int) -> Path:
    image = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(image)
    for k in range(6):
        x0, y0 = (seed * 37 + k * 53) % (size[0] // 2), (seed * 11 + k * 29) % (size[1] // 2)
        draw.rectangle([x0, y0, x0 + size[0] // 3, y0 + size[1] // 3], outline=(20, 20, 20), width=3)
    image.save(path)
    return path


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Three drawn images with descriptive file names (a person's untouched source folder)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(["boy_on_beach_01.png", "red_house.png", "tree_in_field.jpg"]):
        draw_image(folder / name, (160, 128), i)
    return folder


@pytest.fixture
def fake_sd_scripts(tmp_path, monkeypatch):
    """An sd-scripts folder whose training scripts are the training tests' stand-in trainer."""
    import sys

    from tests.training.conftest import FAKE_TRAINER

    root = tmp_path / "sd-scripts"
    (root / "library").mkdir(parents=True)
    (root / "library" / "train_util.py").write_text("# stand-in\n")
    for name in ("train_network.py", "sdxl_train_network.py"):
        (root / name).write_text(FAKE_TRAINER.read_text())
    python = root / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    monkeypatch.delenv("STYLEMIX_SD_SCRIPTS", raising=False)
    return root


class FakeTxt2Img:
    """Txt2img stand-in that records prompts and returns one grey image per call."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def generate(self, request):
        prompt, seed, width, height = with_loras(request.prompt, request.loras), request.seed, request.width, \
            request.height
        self.prompts.append(prompt)
        return [GeneratedImage(Image.new("RGB", (width, height), (seed % 256, 90, 120)), f"{prompt}\nSeed: {seed}")]


class FakeWebuiHost:
    """A host that can generate (with fakes), like the webui adapter's, for building the full tab."""

    label = "fake webui"

    def __init__(self, lora_dir: Path, settings: StyleMixSettings | None = None) -> None:
        self.registry = FolderRegistry(lora_dir)
        self.refreshed = 0
        self.txt2img = FakeTxt2Img()
        self.wrapped: list[str] = []
        self._settings = settings or StyleMixSettings(width=64, height=64, preview_prompts=("a cat",),
                                                      preview_seeds=(1, 2))

    def settings(self):
        return self._settings

    def lora_registry(self):
        host = self

        class Registry:
            def folder(self):
                return host.registry.folder()

            def refresh(self):
                host.refreshed += 1

        return Registry()

    def can_generate(self):
        return None

    def restyle_generator(self):
        from lib_stylemix.restyle.preview import PreviewGenerator

        return PreviewGenerator()

    def txt2img_generator(self):
        return self.txt2img

    def progress(self):
        return NullProgress()

    def cancel_token(self):
        return CancelFlag()

    def gpu_handoff(self):
        return NoGpuHandoff()

    def wrap_gpu(self, fn):
        self.wrapped.append(fn.__name__)
        return fn

    def current_checkpoint(self):
        return None

    def checkpoint_arch(self):
        return "sd1"
