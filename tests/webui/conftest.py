"""Load the webui stand-in (`tests/webui/standin`, plus `standin_forge` for Forge) the way the webui loads
extensions, with our real `scripts/stylemix.py`, and hand tests a small handle on it."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STANDIN = HERE / "standin"
STANDIN_FORGE = HERE / "standin_forge"
STANDIN_PREFIXES = ("modules", "networks", "launch", "lib_controlnet", "modules_forge", "backend")


def _purge() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in STANDIN_PREFIXES:
            del sys.modules[name]


class Webui:
    """Handle on one loaded stand-in webui."""

    def __init__(self, kind: str, root: Path) -> None:
        import networks
        from modules import paths, processing, progress, script_callbacks, scripts, sd_models, shared

        self.kind = kind
        self.root = root
        self.shared, self.scripts, self.processing = shared, scripts, processing
        self.callbacks, self.sd_models, self.networks, self.progress = script_callbacks, sd_models, networks, progress
        paths.models_path = str(root / "models")
        (root / "models" / "Lora").mkdir(parents=True, exist_ok=True)
        self.script_files: list[tuple[str, str]] = []
        xyz = root / "scripts" / "xyz_grid.py"
        xyz.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(STANDIN / "xyz_grid_standin.py", xyz)
        self.script_files.append((str(xyz), str(root)))
        self.controlnet_file: tuple[str, str] | None = None
        if kind == "a1111":
            base = root / "extensions" / "sd-webui-controlnet"
            source = STANDIN / "controlnet_mikubill.py"
        else:
            base = root / "extensions-builtin" / "sd_forge_controlnet"
            source = STANDIN_FORGE / "controlnet_forge.py"
        target = base / "scripts" / "controlnet.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        self.controlnet_file = (str(target), str(base))
        self.stylemix_file = (str(REPO / "scripts" / "stylemix.py"), str(REPO))
        self.runner = None

    def load_scripts(self, with_controlnet: bool = True) -> None:
        files = list(self.script_files)
        if with_controlnet:
            files.append(self.controlnet_file)
        files.append(self.stylemix_file)
        self.scripts.load_scripts(files)

    def make_runner(self, build_ui=None):
        """A txt2img ScriptRunner; our Script's ui() is faked unless `build_ui` builds it (with gradio)."""
        from lib_stylemix.webui import script as stylemix_script

        arg_count = len(dataclasses.fields(stylemix_script.ScriptValues))

        def fake_ui(script):
            if script.title() == stylemix_script.TITLE:
                return [self.scripts.FakeControl(None) for _ in range(arg_count)]
            return script.ui(False)

        runner = self.scripts.ScriptRunner()
        runner.initialize_scripts(False, build_ui or fake_ui)
        self.scripts.scripts_txt2img = runner
        self.runner = runner
        return runner

    def script(self, title: str):
        return next(s for s in self.runner.scripts if s.title() == title)

    def load_model(self, arch: str = "sd1") -> None:
        self.sd_models.model_data.sd_model = self.sd_models.FakeModel(arch=arch)
        self.sd_models.checkpoints_list["v1-5 [abc]"] = object()


@pytest.fixture(params=["a1111", "forge"])
def webui(request, tmp_path, monkeypatch) -> Webui:
    return _make_webui(request.param, tmp_path, monkeypatch)


@pytest.fixture
def a1111(tmp_path, monkeypatch) -> Webui:
    return _make_webui("a1111", tmp_path, monkeypatch)


@pytest.fixture
def forge(tmp_path, monkeypatch) -> Webui:
    return _make_webui("forge", tmp_path, monkeypatch)


def _make_webui(kind: str, tmp_path: Path, monkeypatch) -> Webui:
    """Fresh stand-in modules on sys.path (undone by `_clean_standin`), cwd = a temporary webui root."""
    _purge()
    sys.path[:0] = [str(STANDIN)] + ([str(STANDIN_FORGE)] if kind == "forge" else [])
    root = tmp_path / "webui"
    root.mkdir()
    monkeypatch.chdir(root)
    return Webui(kind, root)


@pytest.fixture(autouse=True)
def _clean_standin():
    saved_path = list(sys.path)
    yield
    _purge()
    sys.path[:] = saved_path


def make_images(folder: Path, count: int = 2, size: int = 64) -> Path:
    """A prepared-looking image folder: striped images (so canny finds edges) with .txt descriptions."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = Image.new("RGB", (size, size), (255, 255, 255))
        for x in range(0, size, 8):
            for y in range(size):
                image.putpixel((x, y), (0, 0, 0))
        image.save(folder / f"photo{index + 1}.png")
        (folder / f"photo{index + 1}.txt").write_text(f"a test photo number {index + 1}")
    return folder


def upload(path: Path):
    """A gradio-3 style uploaded file object (a tempfile wrapper with `.name`)."""
    return types.SimpleNamespace(name=str(path))
