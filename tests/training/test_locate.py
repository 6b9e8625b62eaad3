"""Finding sd-scripts, checking it, and the setup command list (never run here: it needs the network)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.locate import DEFAULT_REF, ENV_VAR, REPO_URL, SdScripts, locate_sd_scripts, venv_python
from lib_stylemix.training.probe import check_sd_scripts, probe_environment
from lib_stylemix.training.setup import SetupPlan, fetch_step, run_setup, setup_commands
from tests.training.conftest import STUB_TORCH, add_dist_info, write_python_wrapper


def make_checkout(folder: Path, venv: bool = True) -> Path:
    folder.mkdir(parents=True)
    if venv:
        (folder / "venv" / "bin").mkdir(parents=True)
        (folder / "venv" / "bin" / "python").write_text("")
    return folder


def test_location_order(tmp_path, monkeypatch):
    a, b, c = (make_checkout(tmp_path / n) for n in ("a", "b", "c"))
    ext = tmp_path / "ext"
    make_checkout(ext / "sd-scripts")
    monkeypatch.setenv(ENV_VAR, str(b))
    assert locate_sd_scripts(a, setting=c, extension_dir=ext).root == a.resolve()
    found = locate_sd_scripts(None, setting=c, extension_dir=ext)
    assert (found.root, found.source) == (b.resolve(), f"${ENV_VAR}")
    monkeypatch.delenv(ENV_VAR)
    assert locate_sd_scripts(None, setting=c, extension_dir=ext).source == "setting"
    found = locate_sd_scripts(None, extension_dir=ext)
    assert found.source == "extension folder" and found.python == ext.resolve() / "sd-scripts" / "venv/bin/python"


def test_location_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(StyleMixError, match=r"nope: sd-scripts folder \(from argument\) does not exist"):
        locate_sd_scripts(tmp_path / "nope")
    with pytest.raises(StyleMixError, match=r"sd-scripts not found .*sd-scripts setup"):
        locate_sd_scripts(extension_dir=tmp_path)
    with pytest.raises(StyleMixError, match=r"not found .*: use the field$"):
        locate_sd_scripts(extension_dir=tmp_path, how_to_set="use the field")
    bare = make_checkout(tmp_path / "bare", venv=False)
    with pytest.raises(StyleMixError, match="has no venv/"):
        locate_sd_scripts(bare)
    assert locate_sd_scripts(bare, python_setting="/opt/py/bin/python").python == Path("/opt/py/bin/python")


def test_check_reports_versions_and_optimizer(fake_sd):
    report = check_sd_scripts(fake_sd)
    assert report.ok, report.problems
    assert report.env.python == sys.version.split()[0]
    assert report.env.torch is not None
    assert any("plain python" in note for note in report.notes)
    assert any("default optimizer AdamW" in note for note in report.notes)
    assert report.env.sd_scripts_import is True  # the stand-in library/train_util.py really imported
    assert report.to_dict()["ok"] is True
    assert (report.env.diffusers, report.env.transformers) == ("0.25.0", "4.44.0")


def test_check_names_missing_requirements(fake_sd):
    site = fake_sd.root / "other-venv" / "site"  # torch only (the stand-in torch)
    add_dist_info(site, "torch", "2.1.2")
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text(STUB_TORCH)
    bare = write_python_wrapper(fake_sd.root / "other-venv" / "bin" / "python", extra_path=site)
    report = check_sd_scripts(SdScripts(root=fake_sd.root, python=bare, source="setting"))
    assert not report.ok
    assert report.problems == [f"{bare}: diffusers and transformers not installed (run: pip install -r "
                               f"requirements.txt in {fake_sd.root})"]  # fmt: skip


def test_check_names_each_failure(tmp_path):
    root = make_checkout(tmp_path / "broken")
    python = root / "venv" / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'ImportError: libpython3.10.so' >&2\nexit 3\n")
    python.chmod(0o755)
    report = check_sd_scripts(SdScripts(root=root, python=python, source="argument"))
    assert not report.ok
    assert any(
        p.endswith("train_network.py: missing (is this a kohya-ss/sd-scripts checkout?)") for p in report.problems
    )
    assert any("sdxl_train_network.py: missing" in p for p in report.problems)
    assert any("failed to run (exit 3): ImportError: libpython3.10.so" in p for p in report.problems)
    missing = SdScripts(root=root, python=tmp_path / "no-python", source="setting")
    with pytest.raises(StyleMixError, match="Python does not exist"):
        probe_environment(missing)


def test_setup_commands_are_pinned_and_ordered(tmp_path):
    target = tmp_path / "sd"
    plan = SetupPlan(target, base_python="/usr/bin/python3.10", torch_index="https://example/cu121")
    py = str(target / "venv" / "bin" / "python")
    assert fetch_step(plan) == ["git", "clone", "--depth", "1", "--branch", DEFAULT_REF, REPO_URL, str(target)]
    assert setup_commands(plan) == [
        ["/usr/bin/python3.10", "-m", "venv", str(target / "venv")],
        [py, "-m", "pip", "install", "--upgrade", "pip"],
        [py, "-m", "pip", "install", "torch==2.1.2", "torchvision==0.16.2", "numpy<2",
         "--index-url", "https://example/cu121", "--extra-index-url", "https://pypi.org/simple"],
        [py, "-m", "pip", "install", "-r", "requirements.txt", "numpy<2"],
        [py, "-m", "pip", "install", "accelerate"],
    ]  # fmt: skip
    main = setup_commands(SetupPlan(target, ref="main", family="v0.10"))
    assert main[2][-2:] == ["torch>=2.6.0", "torchvision"] and main[3][-1] == "requirements.txt"


def test_setup_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(StyleMixError, match="already exists and is not empty"):
        run_setup(SetupPlan(tmp_path), echo=lambda s: None)


def test_venv_python_per_os():
    assert venv_python(Path("sd/venv"), windows=False) == Path("sd/venv/bin/python")
    assert venv_python(Path("sd/venv"), windows=True) == Path("sd/venv/Scripts/python.exe")
