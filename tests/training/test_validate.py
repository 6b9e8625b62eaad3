"""Every pre-launch check fails with its own message naming the thing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.validate import LOCK_NAME, output_lock, validate_job


@pytest.fixture
def plan(fake_sd, env_plain, dataset, sd15, tmp_path):
    def make(*pairs: str, data=None, base=None):
        settings = apply_overrides(TrainSettings(), list(pairs))
        return plan_training(
            data or dataset, base or sd15, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "loras"
        )

    return make


def test_a_good_job_passes(plan):
    validate_job(plan())


def test_missing_base_model(plan, sd15):
    job = plan()
    sd15.unlink()
    with pytest.raises(StyleMixError, match=r"sd15\.safetensors: base model does not exist"):
        validate_job(job)


def test_no_subset_folders(plan, dataset):
    job = plan()
    (dataset / "img" / "10_inkwash").rename(dataset / "img" / "inkwash")
    with pytest.raises(StyleMixError, match=r"no '<repeats>_<name>' sub-folders .*No data found"):
        validate_job(job)


def test_no_images(plan, dataset):
    job = plan()
    for png in (dataset / "img" / "10_inkwash").glob("*.png"):
        png.unlink()
    with pytest.raises(StyleMixError, match="contain no images"):
        validate_job(job)


def test_missing_and_empty_captions(plan, dataset):
    job = plan()
    (dataset / "img" / "10_inkwash" / "im2.txt").write_text("\n")
    with pytest.raises(StyleMixError, match=r"im2\.txt: caption file is empty"):
        validate_job(job)
    (dataset / "img" / "10_inkwash" / "im1.txt").unlink()
    with pytest.raises(StyleMixError, match=r"im1\.txt: caption missing \(1 of 3 images lack one\)"):
        validate_job(job)


def test_existing_lora_files_are_not_overwritten_without_flag(plan):
    job = plan()
    out = Path(job.output_dir)
    out.mkdir(parents=True)
    (out / "inkwash-000003.safetensors").write_bytes(b"user file")
    with pytest.raises(StyleMixError, match=r"inkwash-000003\.safetensors: already exists .*overwrite=true"):
        validate_job(job)
    validate_job(plan("overwrite=true"))
    validate_job(job, own_files=frozenset({str(out / "inkwash-000003.safetensors")}))
    (out / "inkwash-other.safetensors").write_bytes(b"not ours")  # other names are not a clash
    validate_job(job, own_files=frozenset({str(out / "inkwash-000003.safetensors")}))


def test_output_folder_must_be_creatable(plan, tmp_path):
    job = plan()
    (tmp_path / "loras").write_text("a file where the folder should be")
    with pytest.raises(StyleMixError, match="is a file, cannot create the output folder"):
        validate_job(job)


def test_not_enough_disk(plan, monkeypatch):
    job = plan()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5 * 2**20, 5 * 2**20))
    with pytest.raises(StyleMixError, match=r"only 5 MiB free, 20 LoRA files need about"):
        validate_job(job)


def test_another_job_writing_there(plan):
    job = plan()
    out = Path(job.output_dir)
    out.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / LOCK_NAME).write_text(json.dumps({"pid": other.pid}))
        with pytest.raises(StyleMixError, match=f"another StyleMix training \\(pid {other.pid}\\)"):
            validate_job(job)
    finally:
        other.kill()
        other.wait()
    validate_job(job)  # the holder is gone: a stale lock does not block
    with output_lock(out):
        with pytest.raises(StyleMixError, match="another StyleMix training"):
            validate_job(job)
        with pytest.raises(StyleMixError, match="in this process"), output_lock(out):
            pass
    assert not (out / LOCK_NAME).exists()


def test_missing_trainer_script(plan, fake_sd):
    job = plan()
    (fake_sd.root / "train_network.py").unlink()
    with pytest.raises(StyleMixError, match=r"train_network\.py: training script does not exist"):
        validate_job(job)
