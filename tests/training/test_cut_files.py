"""Issue 12 item 2: an epoch file cut by a cancel or a kill while sd-scripts writes it in place is never
announced or recorded, is renamed to `*.incomplete`, and does not break the Epochs panel."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from lib_stylemix.epochs import find_run
from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelFlag
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.outputs import file_problem, mark_incomplete
from lib_stylemix.training.queue import TrainingQueue
from lib_stylemix.training.runner import TrainingRunner


@pytest.fixture
def job(fake_sd, env_plain, dataset, sd15, tmp_path):
    settings = apply_overrides(TrainSettings(), ["max_train_epochs=3"])
    return plan_training(dataset, sd15, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "loras")


def lora(path: Path, epoch: int) -> Path:
    save_file({"x.lora_down.weight": np.ones((4, 64), np.float32)}, str(path), metadata={"ss_epoch": str(epoch)})
    return path


def test_file_problem_checks_header_and_every_tensor_range(tmp_path):
    whole = lora(tmp_path / "s-000001.safetensors", 1)
    assert file_problem(whole) is None
    data = whole.read_bytes()
    for cut in (4, 20, len(data) - 10):
        part = tmp_path / f"cut{cut}.safetensors"
        part.write_bytes(data[:cut])
        problem = file_problem(part)
        assert problem is not None and problem.startswith(str(part))
    assert file_problem(tmp_path / "none.safetensors").endswith("does not exist")


def test_mark_incomplete_never_replaces_a_file(tmp_path):
    first = tmp_path / "a.safetensors"
    first.write_bytes(b"cut")
    (tmp_path / "a.safetensors.incomplete").write_bytes(b"older")
    marked = mark_incomplete(first)
    assert marked == tmp_path / "a.safetensors.incomplete1" and marked.read_bytes() == b"cut"
    assert (tmp_path / "a.safetensors.incomplete").read_bytes() == b"older" and not first.exists()


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.02)
    assert path.exists(), f"{path} never appeared"


@pytest.mark.parametrize("ignore_term", [False, True], ids=["sigterm", "sigkill"])
def test_cancel_while_writing_leaves_no_announced_cut_file(job, fake_env, tmp_path, ignore_term):
    marker = tmp_path / "writing.txt"
    fake_env(FAKE_WRITE_DELAY="60", FAKE_WRITING_FILE=str(marker))
    if ignore_term:
        fake_env(FAKE_IGNORE_TERM="1")  # SIGTERM ignored: the runner escalates to SIGKILL mid-write
    announced: list[str] = []
    runner = TrainingRunner(job, on_file=announced.append, grace_s=0.5)
    runner.start()
    wait_for(marker)
    cut = Path(marker.read_text())
    assert cut.name == "inkwash-000001.safetensors" and file_problem(cut) is not None
    runner.cancel()
    result = runner.wait(timeout=60)
    assert result.status == "cancelled"
    assert announced == [] and result.files == []
    assert not cut.exists() and result.incomplete == [str(cut) + ".incomplete"]
    assert Path(result.incomplete[0]).stat().st_size > 0  # kept for inspection, not a .safetensors any more
    assert "not announced, renamed to inkwash-000001.safetensors.incomplete" in Path(job.log_path).read_text()
    assert not list(Path(job.output_dir).glob("*.safetensors"))


def test_queue_records_only_complete_files(job, fake_env, tmp_path):
    """Epoch 1 is written whole, epoch 2 is cut by the cancel: the queue state lists epoch 1 only."""
    marker = tmp_path / "writing.txt"
    fake_env(FAKE_WRITE_DELAY="2", FAKE_WRITING_FILE=str(marker))
    queue = TrainingQueue(tmp_path / "queue.json")
    entry = queue.add(job)
    flag = CancelFlag()
    recorded: list[str] = []
    worker = threading.Thread(target=queue.run, kwargs={
        "on_file": lambda entry_id, path, epoch: recorded.append(Path(path).name), "cancel": flag, "grace_s": 0.5})
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (marker.exists() and marker.read_text().endswith("000002.safetensors")):
        time.sleep(0.02)
    flag.cancel()
    worker.join(60)
    state = queue.get(entry.id)
    assert state.status == "cancelled" and recorded == ["inkwash-000001.safetensors"]
    assert [Path(f).name for f in state.files] == recorded and file_problem(state.files[0]) is None
    assert (Path(job.output_dir) / "inkwash-000002.safetensors.incomplete").exists()
    assert [f.epoch for f in find_run(job.output_dir, job.output_name)] == [1]


def test_epochs_panel_skips_a_cut_file_instead_of_failing_the_run(tmp_path):
    lora(tmp_path / "style-000001.safetensors", 1)
    lora(tmp_path / "style-000002.safetensors", 2)
    data = (tmp_path / "style-000002.safetensors").read_bytes()
    (tmp_path / "style-000003.safetensors").write_bytes(data[: len(data) // 2])  # cut by a cancel
    skipped: list[str] = []
    files = find_run(tmp_path, "style", skipped=skipped)
    assert [f.epoch for f in files] == [1, 2]
    assert len(skipped) == 1 and skipped[0].startswith(str(tmp_path / "style-000003.safetensors"))
    (tmp_path / "style-000001.safetensors").unlink()
    (tmp_path / "style-000002.safetensors").unlink()
    with pytest.raises(StyleMixError, match=r"style-000003\.safetensors: not a readable safetensors file"):
        find_run(tmp_path, "style")


def test_an_earlier_attempts_files_are_neither_announced_again_nor_marked(job, fake_env):
    """A resumed queue entry: epoch files of the earlier attempt (one complete, one cut) stay as they are."""
    out = Path(job.output_dir)
    out.mkdir(parents=True)
    old = lora(out / "inkwash-000001.safetensors", 1)
    cut = out / "inkwash-000002.safetensors"
    cut.write_bytes(old.read_bytes()[:40])
    past = time.time() - 3600
    for path in (old, cut):
        os.utime(path, (past, past))
    fake_env(FAKE_MODE="fail", FAKE_FAIL_AT_EPOCH="1")
    announced: list[str] = []
    runner = TrainingRunner(job, on_file=announced.append, own_files=frozenset({str(old), str(cut)}))
    runner.start()
    result = runner.wait(timeout=60)
    assert result.status == "failed" and announced == [] and result.incomplete == []
    assert cut.exists() and result.files == [str(old)]


def test_queue_entries_stored_before_this_version_still_load(job):
    from lib_stylemix.training.config import TrainJob

    old = {k: v for k, v in job.to_dict().items() if k not in ("device", "notes", "sd_version")}
    again = TrainJob.from_dict(old)
    assert again.command == job.command and again.notes == [] and again.device == ""
