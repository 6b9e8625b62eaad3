"""The runner against the stand-in trainer: progress, files, failures, exit-0-without-file, cancel."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.seams import CancelFlag
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.runner import TrainingRunner, explain_failure, run_training
from tests.training.conftest import pid_gone


class RecordingHandoff:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def release(self) -> None:
        self.calls.append("release")

    def restore(self) -> None:
        self.calls.append("restore")


@pytest.fixture
def job(fake_sd, env_plain, dataset, sd15, tmp_path):
    settings = apply_overrides(TrainSettings(), ["max_train_epochs=3"])
    return plan_training(dataset, sd15, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "loras")


def test_success_reports_progress_files_and_log(job, fake_env):
    fake_env(FAKE_STEPS_PER_EPOCH="4")
    events, announced, handoff = [], [], RecordingHandoff()
    runner = TrainingRunner(job, on_event=events.append, on_file=announced.append, handoff=handoff)
    runner.start()
    result = runner.wait(timeout=60)
    assert result.ok and result.exit_code == 0 and result.error is None
    out = Path(job.output_dir)
    names = ["inkwash-000001.safetensors", "inkwash-000002.safetensors", "inkwash.safetensors"]
    assert [Path(f).name for f in result.files] == names
    assert [Path(f).name for f in announced] == names  # each announced once, in order, after it was written
    assert result.final_file == str(out / "inkwash.safetensors")
    with safe_open(result.final_file, framework="numpy") as handle:
        assert handle.metadata()["ss_epoch"] == "3"
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(13))
    assert all(a.percent <= b.percent for a, b in itertools.pairwise(steps))
    assert steps[-1].percent == 100.0 and steps[-1].loss == pytest.approx(0.2 / 13, rel=1e-2)
    assert [e.epoch for e in events if e.kind == "epoch"] == [1, 2, 3]
    assert handoff.calls == ["release", "restore"]
    log = Path(result.log_path).read_text(encoding="utf-8")
    assert "running training / 学習開始" in log and "model saved." in log and "steps: 100%" in log
    assert Path(job.config_path).read_text(encoding="utf-8") == job.config_text
    assert not (out / ".stylemix-training.lock").exists()
    assert runner.tail[-1] == "model saved."


def test_failure_carries_the_traceback_tail(job, fake_env):
    fake_env(FAKE_MODE="fail", FAKE_FAIL_AT_EPOCH="2")
    announced: list[str] = []
    result = run_training(job, on_file=announced.append)
    assert result.status == "failed" and result.exit_code == 1
    assert "RuntimeError: CUDA error: an illegal memory access was encountered" in result.error
    assert any(line.startswith("Traceback") for line in result.tail)
    assert [Path(f).name for f in result.files] == ["inkwash-000001.safetensors"]  # kept, and announced
    assert [Path(f).name for f in announced] == ["inkwash-000001.safetensors"]


def test_failure_behind_a_launcher_shows_the_real_error(job, fake_env):
    """Like `accelerate launch`: the child fails, the launcher adds CalledProcessError and exits 1."""
    fake_env(FAKE_MODE="fail", FAKE_FAIL_AT_EPOCH="1", FAKE_SPAWN_CHILD="1")
    result = run_training(job)
    assert result.exit_code == 1
    assert "RuntimeError: CUDA error" in result.error and "CalledProcessError" not in result.error


def test_exit_zero_without_output_is_a_failure(job, fake_env):
    fake_env(FAKE_MODE="nodata")
    result = run_training(job)
    assert result.status == "failed" and result.exit_code == 0 and result.final_file is None
    assert "exited 0 but did not write" in result.error and "No data found" in result.error
    assert "画像" not in result.error  # the English half of the bilingual line is enough


def test_missing_config_file_exit_code(job, fake_env, tmp_path):
    fake_env()
    job.command[-1] = str(tmp_path / "gone.toml")
    result = run_training(job)
    assert result.status == "failed" and result.exit_code == 1
    assert "gone.toml not found." in result.error


@pytest.mark.parametrize("ignore_term", [False, True])
def test_cancel_kills_the_whole_tree(job, fake_env, tmp_path, ignore_term):
    pid_file = tmp_path / "pids.txt"
    fake_env(FAKE_MODE="hang", FAKE_SPAWN_CHILD="1", FAKE_PID_FILE=str(pid_file))
    if ignore_term:
        fake_env(FAKE_IGNORE_TERM="1")
    handoff = RecordingHandoff()
    runner = TrainingRunner(job, handoff=handoff, grace_s=0.5)
    runner.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (pid_file.exists() and len(pid_file.read_text().split()) >= 2):
        time.sleep(0.05)
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) >= 2 and not any(pid_gone(p) for p in pids)
    started = time.monotonic()
    runner.cancel()
    result = runner.wait(timeout=30)
    assert result.status == "cancelled" and result.error == "cancelled by user"
    assert time.monotonic() - started < 15
    gone_deadline = time.monotonic() + 5
    while time.monotonic() < gone_deadline and not all(pid_gone(p) for p in pids):
        time.sleep(0.05)
    assert all(pid_gone(p) for p in pids), "orphaned trainer process left behind"
    assert handoff.calls == ["release", "restore"]


def test_cancel_token_stops_run_training(job, fake_env):
    fake_env(FAKE_MODE="hang")
    flag = CancelFlag()

    def on_event(event):
        if event.kind == "epoch":
            flag.cancel()

    result = run_training(job, on_event=on_event, cancel=flag, grace_s=0.5)
    assert result.status == "cancelled" and result.progress["epoch"] == 1


def test_validation_runs_before_launch_and_handoff_is_untouched(job, fake_env, sd15):
    sd15.unlink()
    handoff = RecordingHandoff()
    with pytest.raises(StyleMixError, match="base model does not exist"):
        TrainingRunner(job, handoff=handoff).start()
    assert handoff.calls == []


def test_unstartable_trainer_restores_the_gpu(job, fake_env):
    job.command[0] = "/nonexistent/python"
    handoff = RecordingHandoff()
    with pytest.raises(StyleMixError, match="cannot start the trainer"):
        TrainingRunner(job, handoff=handoff, validate=False).start()
    assert handoff.calls == ["release", "restore"]
    assert not (Path(job.output_dir) / ".stylemix-training.lock").exists()


def test_explain_failure_prefers_the_trainers_exception():
    tail = [
        "Traceback (most recent call last):",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
        "subprocess.CalledProcessError: Command '['python', 'train_network.py']' returned non-zero exit status 1.",
    ]
    assert explain_failure(tail).startswith("out of GPU memory: torch.OutOfMemoryError: CUDA out of memory")
    assert explain_failure(["loading", "steps: 1/2", "killed"]) == "loading | killed"
    assert explain_failure([]) == "no output"


def test_cancel_after_the_end_keeps_the_real_outcome_and_before_start_refuses(job, fake_env):
    fake_env()
    runner = TrainingRunner(job)
    runner.start()
    while runner.running():
        time.sleep(0.02)
    runner.cancel()
    assert runner.wait(timeout=30).status == "succeeded"
    early = TrainingRunner(job, validate=False)
    early.cancel()
    with pytest.raises(CancelledError, match="cancelled before it started"):
        early.start()


def test_a_trainer_orphaned_by_its_launcher_is_stopped(job, fake_env, tmp_path):
    """The launcher exits while its child keeps the output pipe open: wait() must not leave the child running."""
    pid_file = tmp_path / "pids.txt"
    fake_env(FAKE_MODE="hang", FAKE_SPAWN_CHILD="1", FAKE_DETACH_PARENT="1", FAKE_PID_FILE=str(pid_file))
    runner = TrainingRunner(job, grace_s=0.5, pipe_grace_s=0.5)
    runner.start()
    res = runner.wait(timeout=60)
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2 and all(pid_gone(p) for p in pids)
    assert res.status == "failed"
