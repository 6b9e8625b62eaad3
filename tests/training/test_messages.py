"""Issue 12 items 8 and 9: failure messages that name the cause, the offline tokenizer, `train run --json` on
cancel, and progress that keeps moving while sd-scripts generates sample images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.progress import SAMPLING, ProgressParser
from lib_stylemix.training.runner import explain_failure, run_training
from lib_stylemix.training.tokenizers import missing_tokenizers, offline_problem, tokenizer_ids
from lib_stylemix.training.validate import validate_job

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty Hugging Face cache, so "is the tokenizer cached?" does not depend on this machine."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "hf"


def make_job(fake_sd, env, dataset, sd15, tmp_path, *pairs: str):
    settings = apply_overrides(TrainSettings(), ["max_train_epochs=2", *pairs])
    return plan_training(dataset, sd15, sd=fake_sd, env=env, settings=settings, output_root=tmp_path / "loras")


def test_undecodable_image_is_named_instead_of_zero_division(fake_sd, env_plain, dataset, sd15, tmp_path, fake_env):
    fake_env(FAKE_MODE="badimage")
    result = run_training(make_job(fake_sd, env_plain, dataset, sd15, tmp_path))
    assert result.status == "failed"
    assert "10_style/broken.png: image could not be read" in result.error
    assert "ZeroDivisionError: division by zero" in result.error


@pytest.mark.parametrize("launcher", [False, True], ids=["direct", "accelerate"])
def test_sigkilled_trainer_gets_an_out_of_memory_hint(fake_sd, env_cpu, dataset, sd15, tmp_path, fake_env, launcher):
    fake_env(FAKE_KILL_AT_EPOCH="2", **({"FAKE_SPAWN_CHILD": "1"} if launcher else {}))
    job = make_job(fake_sd, env_cpu, dataset, sd15, tmp_path, "use_accelerate=false")
    result = run_training(job)
    assert result.status == "failed" and result.exit_code == (1 if launcher else -9)
    assert "the trainer was killed (SIGKILL): out of memory?" in result.error
    assert "needs about 6.5 GB free RAM" in result.error


def test_explain_failure_knows_exit_137():
    assert explain_failure(["loading model"], 137).startswith("the trainer was killed (SIGKILL): out of memory?")


def test_tokenizer_cache_is_a_setting_and_names_what_sd_scripts_downloads(
    fake_sd, env_plain, dataset, sd15, sdxl, tmp_path, hf_home
):
    cache = tmp_path / "tok"
    job = make_job(fake_sd, env_plain, dataset, sd15, tmp_path, f"tokenizer_cache_dir={cache}")
    assert job.toml_args["tokenizer_cache_dir"] == str(cache.resolve())
    assert any("downloads the tokenizer openai/clip-vit-large-patch14" in n for n in job.notes)
    assert tokenizer_ids("sdxl") == ["openai/clip-vit-large-patch14", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"]
    (cache / "openai_clip-vit-large-patch14").mkdir(parents=True)  # what sd-scripts saves after a download
    assert missing_tokenizers(cache, "sd1") == [] and missing_tokenizers(cache, "sdxl") == [
        "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"]  # fmt: skip
    job = make_job(fake_sd, env_plain, dataset, sd15, tmp_path, f"tokenizer_cache_dir={cache}")
    assert not any("downloads the tokenizer" in n for n in job.notes)


def test_offline_without_a_cached_tokenizer_is_refused_up_front(
    fake_sd, env_plain, dataset, sd15, tmp_path, hf_home, monkeypatch
):
    job = make_job(fake_sd, env_plain, dataset, sd15, tmp_path, f"tokenizer_cache_dir={tmp_path / 'tok'}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(StyleMixError, match=r"tokenizer openai/clip-vit-large-patch14 is not cached in .*tok"):
        validate_job(job)
    (hf_home / "hub" / "models--openai--clip-vit-large-patch14").mkdir(parents=True)  # in the HF cache: fine
    assert offline_problem(tmp_path / "tok", "sd1") is None
    validate_job(job)


def test_failed_tokenizer_download_says_where_to_put_it(fake_sd, env_plain, dataset, sd15, tmp_path, hf_home,
                                                        fake_env):  # fmt: skip
    fake_env(FAKE_MODE="offline")
    job = make_job(fake_sd, env_plain, dataset, sd15, tmp_path, f"tokenizer_cache_dir={tmp_path / 'tok'}")
    result = run_training(job)
    assert result.status == "failed"
    assert "tokenizer openai/clip-vit-large-patch14 is not cached in" in result.error
    assert "openai_clip-vit-large-patch14" in result.error and "--tokenizer-cache-dir" in result.error


SAMPLE_LINES = [
    "steps:  50%|█████     | 2/4 [00:01<00:01,  2.00it/s, avr_loss=0.1]",
    "generating sample images at step / サンプル画像生成 ステップ: 2",
    "prompt: a cat",
    "negative_prompt: lowres",
    "  0%|          | 0/24 [00:00<?, ?it/s]",
    " 50%|█████     | 12/24 [00:03<00:03,  4.00it/s]",
    "prompt: a dog",
    "100%|██████████| 24/24 [00:06<00:00,  4.00it/s]",
    "steps:  75%|███████▌  | 3/4 [00:09<00:03,  3.00s/it, avr_loss=0.09]",
]


def test_sample_generation_is_a_stage_with_its_own_progress():
    parser = ProgressParser(epochs=2)
    events = [parser.feed(line) for line in SAMPLE_LINES]
    assert [e.kind for e in events] == ["step", "sample", "sample", "line", "sample", "sample", "sample", "sample",
                                        "step"]  # fmt: skip
    assert events[5].stage == SAMPLING and events[5].describe() == "generating samples (image 1, step 12/24)"
    assert events[7].describe() == "generating samples (image 2, step 24/24)"
    assert events[7].step == 2 and events[-1].stage == "training" and events[-1].step == 3
    idle = ProgressParser()
    assert idle.feed(" 50%|█████     | 12/24 [00:03<00:03,  4.00it/s]").kind == "line"  # latent caching bar


def test_runner_reports_sampling_from_the_stand_in(fake_sd, env_plain, dataset, sd15, tmp_path, fake_env):
    fake_env(FAKE_SAMPLES="2", FAKE_STEPS_PER_EPOCH="2")
    events = []
    result = run_training(make_job(fake_sd, env_plain, dataset, sd15, tmp_path), on_event=events.append)
    assert result.ok
    sampling = [e for e in events if e.kind == "sample"]
    assert {e.sample for e in sampling if e.sample} == {1, 2} and max(e.sample_step or 0 for e in sampling) == 4
    assert sum(1 for e in sampling if e.sample == 0) == 2  # one sampling round after each of the 2 epochs


def test_train_run_json_is_printed_on_cancel(fake_sd, dataset, sd15, tmp_path):
    pid_file = tmp_path / "pids.txt"
    env = {**os.environ, "FAKE_MODE": "hang", "FAKE_PID_FILE": str(pid_file)}
    cli = subprocess.Popen(
        [sys.executable, "-m", "lib_stylemix", "train", "run", "--dataset", str(dataset), "--base-model", str(sd15),
         "--sd-scripts", str(fake_sd.root), "--output-root", str(tmp_path / "loras"), "--grace", "1", "--json"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not pid_file.exists():
        time.sleep(0.05)
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 130, err
    doc = json.loads(out)
    assert doc["status"] == "cancelled" and doc["style"] == "inkwash" and doc["files"] == []
    assert b"interrupted: training cancelled" in err
