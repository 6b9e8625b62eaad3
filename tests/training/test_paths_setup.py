"""Issue 12 items 4 and 10: relative sd-scripts paths resolved once (root and Python), and `sd-scripts setup`
from a local checkout or archive, with a plain word about the torch download."""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from lib_stylemix.cli import main
from lib_stylemix.errors import StyleMixError
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.locate import ENV_VAR, locate_sd_scripts
from lib_stylemix.training.runner import run_training
from lib_stylemix.training.setup import (
    CPU_INDEX,
    SetupPlan,
    check_base_python,
    family_of_ref,
    family_of_source,
    place_source,
    setup_commands,
    torch_notice,
)
from lib_stylemix.ui import train_logic

TE_LR_LIST = 'parser.add_argument("--text_encoder_lr", type=float, default=None, nargs="*")\n'


@pytest.mark.parametrize("how", ["argument", "env", "setting"])
def test_relative_sd_scripts_path_runs_from_anywhere(fake_sd, env_plain, dataset, sd15, tmp_path, monkeypatch,
                                                     fake_env, how):  # fmt: skip
    """`sd-scripts` relative to the current folder; the trainer itself runs in the sd-scripts folder."""
    fake_env()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    relative = "sd-scripts"
    if how == "argument":
        sd = locate_sd_scripts(relative)
    elif how == "env":
        monkeypatch.setenv(ENV_VAR, relative)
        sd = locate_sd_scripts()
    else:
        sd = train_logic.locate("", "", StyleMixSettings(sd_scripts_dir=relative))
    assert sd.root.is_absolute() and sd.python.is_absolute() and sd.python.parent.parent.name == "venv"
    settings = apply_overrides(TrainSettings(), ["max_train_epochs=1"])
    job = plan_training(dataset, sd15, sd=sd, env=env_plain, settings=settings, output_root="loras")
    assert Path(job.command[0]).is_absolute() and Path(job.config_path).is_absolute() and job.cwd == str(sd.root)
    result = run_training(job)
    assert result.ok, result.error
    assert Path(result.final_file) == tmp_path / "loras" / "inkwash" / "inkwash.safetensors"


def test_relative_python_setting_is_made_absolute(tmp_path, monkeypatch):
    root = tmp_path / "sd"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    found = locate_sd_scripts(root, python_setting="envs/py/bin/python")
    assert found.python == tmp_path / "envs" / "py" / "bin" / "python"
    bare = locate_sd_scripts(root, python_setting="sh")  # a command name is looked up on PATH
    assert bare.python == Path(shutil.which("sh")).absolute()


def make_source(folder: Path, train_network: str = TE_LR_LIST) -> Path:
    (folder / "library").mkdir(parents=True)
    (folder / "train_network.py").write_text(train_network)
    (folder / "sdxl_train_network.py").write_text("# sdxl\n")
    (folder / "library" / "train_util.py").write_text("# util\n")
    (folder / "requirements.txt").write_text("accelerate==1.6.0\n-e .\n")
    (folder / "venv").mkdir()  # a checkout's own venv is not copied
    return folder


def make_archive(source: Path, archive: Path) -> Path:
    """Like GitHub's source archives: everything under one top folder."""
    top = "sd-scripts-0.10.1"
    files = [p for p in source.rglob("*") if p.is_file()]
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as handle:
            for path in files:
                handle.write(path, f"{top}/{path.relative_to(source)}")
    else:
        with tarfile.open(archive, "w:gz") as handle:
            for path in files:
                handle.add(path, f"{top}/{path.relative_to(source)}")
    return archive


@pytest.mark.parametrize("kind", ["dir", "zip", "tar.gz"])
def test_setup_from_a_local_checkout_or_archive(tmp_path, kind):
    source = make_source(tmp_path / "checkout")
    if kind != "dir":
        source = make_archive(source, tmp_path / f"sd-scripts.{kind}")
    assert family_of_source(source) == "v0.10"
    target = tmp_path / "installed"
    place_source(source, target)
    assert (target / "train_network.py").read_text() == TE_LR_LIST
    assert (target / "library" / "train_util.py").is_file() and not (target / "venv").exists()


def test_setup_from_refuses_what_is_not_sd_scripts(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(StyleMixError, match=r"has no train_network\.py"):
        family_of_source(tmp_path / "other")
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as handle:
        data = b"x"
        info = tarfile.TarInfo("../escape.py")
        info.size = len(data)
        handle.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("top/train_network.py")
        info.size = len(data)
        handle.addfile(info, io.BytesIO(data))
    with pytest.raises(StyleMixError, match=r"unsafe archive member '\.\./escape\.py'"):
        place_source(evil, tmp_path / "target")
    assert not (tmp_path / "escape.py").exists()


def test_setup_dry_run_from_an_archive_prints_the_steps(capsys, tmp_path):
    archive = make_archive(make_source(tmp_path / "checkout"), tmp_path / "sd.zip")
    code = main(["sd-scripts", "setup", str(tmp_path / "new"), "--from", str(archive), "--torch", "cpu", "--dry-run",
                 "--json"])  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["family"] == "v0.10"
    assert doc["commands"][0] == ["extract", str(archive), str(tmp_path / "new")]
    assert all(part != "clone" for command in doc["commands"] for part in command)
    assert doc["commands"][3][-2:] == ["--index-url", CPU_INDEX] and "CPU-only" in doc["torch"]
    assert not (tmp_path / "new").exists()


def test_default_tag_pins_numpy_below_2_and_says_what_torch_costs(tmp_path):
    plan = SetupPlan(tmp_path / "sd")
    commands = setup_commands(plan)
    assert next(c for c in commands if "requirements.txt" in c)[-1] == "numpy<2"
    assert "multi-GB download" in torch_notice(plan) and "--torch cpu" in torch_notice(plan)
    existing = SetupPlan(tmp_path / "sd", torch="existing", base_python="/opt/py/bin/python")
    commands = setup_commands(existing)
    assert commands[0][-1] == "--system-site-packages" and not any("torch==2.1.2" in c for c in commands)
    assert "/opt/py/bin/python" in torch_notice(existing)
    assert [family_of_ref(r) for r in ("v0.8.7", "v0.9.1", "v0.10.1", "main")] == ["v0.8", "v0.9", "v0.10", "v0.10"]


def test_setup_refuses_a_python_the_pinned_torch_has_no_wheels_for(tmp_path):
    new = tmp_path / "py313"
    new.write_text("#!/bin/sh\necho 3 13\n")
    new.chmod(0o755)
    with pytest.raises(StyleMixError, match=r"Python 3\.13, but the torch that sd-scripts v0\.9\.x needs"):
        check_base_python(SetupPlan(tmp_path / "sd", base_python=str(new)))
    check_base_python(SetupPlan(tmp_path / "sd", base_python=str(new), family="v0.10"))
    check_base_python(SetupPlan(tmp_path / "sd", base_python=sys.executable))  # 3.10/3.11 here: fine


def test_service_shows_what_the_gpu_handoff_did():
    class Handoff:
        note = "the webui runs on the CPU: handing over frees no memory"

        def release(self):
            pass

        def restore(self):
            pass

    service = train_logic.TrainingService(Path("unused.json"), Handoff())
    assert service.handoff_note().endswith("frees no memory")
