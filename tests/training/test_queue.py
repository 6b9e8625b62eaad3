"""The persistent queue: order, announcements, state on disk, cancel, restart and resume."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelFlag
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.queue import TrainingQueue, epoch_of
from tests.training.conftest import make_dataset


@pytest.fixture
def jobs(fake_sd, env_plain, sd15, tmp_path):
    settings = apply_overrides(TrainSettings(), ["max_train_epochs=2"])
    root = tmp_path / "restyled"
    return [
        plan_training(make_dataset(root, name), sd15, sd=fake_sd, env=env_plain, settings=settings,
                      output_root=tmp_path / "loras")
        for name in ("alpha", "beta", "gamma")
    ]  # fmt: skip


def test_runs_in_order_announces_files_and_persists(jobs, fake_env, tmp_path):
    fake_env()
    state = tmp_path / "queue.json"
    queue = TrainingQueue(state)
    ids = [queue.add(job).id for job in jobs[:2]]
    files: list[tuple[str, str, int | None]] = []
    handoff_calls: list[str] = []

    class Handoff:
        def release(self) -> None:
            handoff_calls.append("release")

        def restore(self) -> None:
            handoff_calls.append("restore")

    ran = queue.run(on_file=lambda i, p, e: files.append((i, Path(p).name, e)), handoff=Handoff())
    assert handoff_calls == ["release", "restore"]  # once for the whole queue, not per job
    assert [e.id for e in ran] == ids and all(e.status == "succeeded" for e in ran)
    assert files == [
        (ids[0], "alpha-000001.safetensors", 1),
        (ids[0], "alpha.safetensors", 2),
        (ids[1], "beta-000001.safetensors", 1),
        (ids[1], "beta.safetensors", 2),
    ]
    reloaded = TrainingQueue(state).status()
    assert reloaded["counts"] == {"succeeded": 2}
    assert reloaded["entries"][0]["final_file"].endswith("alpha.safetensors")
    assert json.loads(state.read_text())["entries"][1]["files"][-1].endswith("beta.safetensors")


def test_failure_does_not_stop_the_queue_and_can_be_retried(jobs, fake_env, tmp_path):
    fake_env(FAKE_MODE="fail", FAKE_FAIL_AT_EPOCH="2")
    queue = TrainingQueue(tmp_path / "q.json")
    for job in jobs[:2]:
        queue.add(job)
    ran = queue.run()
    assert [e.status for e in ran] == ["failed", "failed"]
    assert "RuntimeError: CUDA error" in ran[0].error
    assert [Path(f).name for f in ran[0].files] == ["alpha-000001.safetensors"]  # announced before the failure
    with pytest.raises(StyleMixError, match="only failed/cancelled ones are retried"):
        queue.retry(queue.add(jobs[2]).id)
    fake_env(FAKE_MODE="ok")
    queue.retry(ran[0].id)  # its own epoch-1 file from the failed attempt may be replaced
    again = queue.run()
    assert [(e.job.style, e.status, e.attempts) for e in again] == [
        ("alpha", "succeeded", 2),
        ("gamma", "succeeded", 1),
    ]


def test_cancel_stops_the_queue_and_keeps_the_rest_pending(jobs, fake_env, tmp_path):
    fake_env(FAKE_MODE="hang")
    state = tmp_path / "q.json"
    queue = TrainingQueue(state)
    for job in jobs:
        queue.add(job)
    flag = CancelFlag()
    ran = queue.run(on_event=lambda entry, event: flag.cancel() if event.kind == "epoch" else None, cancel=flag,
                    grace_s=0.5)  # fmt: skip
    assert [e.status for e in ran] == ["cancelled"]
    assert TrainingQueue(state).status()["counts"] == {"cancelled": 1, "pending": 2}
    fake_env(FAKE_MODE="ok")
    ran = TrainingQueue(state).run()
    assert [(e.job.style, e.status) for e in ran] == [("beta", "succeeded"), ("gamma", "succeeded")]
    assert TrainingQueue(state).status()["counts"] == {"cancelled": 1, "succeeded": 2}


def test_restart_marks_running_as_interrupted_and_resume_reruns_it(jobs, fake_env, tmp_path):
    fake_env()
    state = tmp_path / "q.json"
    queue = TrainingQueue(state)
    first, second = queue.add(jobs[0]), queue.add(jobs[1])
    # Simulate a crash during the first job: it was "running" and had written epoch 1.
    out = Path(jobs[0].output_dir)
    out.mkdir(parents=True)
    partial = out / "alpha-000001.safetensors"
    partial.write_bytes(b"partial from the crashed run")
    document = json.loads(state.read_text())
    document["entries"][0].update(status="running", files=[str(partial)])
    state.write_text(json.dumps(document))

    restarted = TrainingQueue(state)
    assert restarted.get(first.id).status == "interrupted"
    assert json.loads(state.read_text())["entries"][0]["status"] == "interrupted"
    assert restarted.run() and restarted.get(first.id).status == "interrupted"  # run() leaves it alone
    assert restarted.get(second.id).status == "succeeded"
    ran = restarted.resume()
    assert [e.id for e in ran] == [first.id] and ran[0].status == "succeeded" and ran[0].attempts == 1
    assert partial.read_bytes() != b"partial from the crashed run"  # its own partial file was replaced


def test_entry_bookkeeping(jobs, tmp_path):
    queue = TrainingQueue(tmp_path / "q.json")
    entry = queue.add(jobs[0])
    with pytest.raises(StyleMixError, match="already queued"):
        queue.add(jobs[0])
    queue.remove(entry.id)
    with pytest.raises(StyleMixError, match="not in"):
        queue.get(entry.id)
    assert epoch_of(jobs[0], "/x/alpha-000007.safetensors") == 7
    assert epoch_of(jobs[0], "/x/alpha.safetensors") == jobs[0].epochs
    assert epoch_of(jobs[0], "/x/other.safetensors") is None


def test_unreadable_state_file(tmp_path):
    state = tmp_path / "q.json"
    state.write_text("{ not json")
    with pytest.raises(StyleMixError, match="not a readable StyleMix training queue"):
        TrainingQueue(state)


def test_cancel_from_another_thread(jobs, fake_env, tmp_path):
    """What the panel's Stop button does: `queue.cancel()` from the UI thread while `run()` blocks elsewhere."""
    fake_env(FAKE_MODE="hang")
    queue = TrainingQueue(tmp_path / "q.json")
    queue.add(jobs[0])
    queue.add(jobs[1])
    started = threading.Event()
    worker_result: list = []
    worker = threading.Thread(
        target=lambda: worker_result.append(
            queue.run(on_event=lambda e, ev: started.set() if ev.kind == "epoch" else None, grace_s=0.5)
        )
    )
    worker.start()
    assert started.wait(20)
    assert queue.status()["counts"] == {"running": 1, "pending": 1}
    queue.cancel()
    worker.join(30)
    assert not worker.is_alive()
    assert [e.status for e in worker_result[0]] == ["cancelled"]
    assert queue.status()["counts"] == {"cancelled": 1, "pending": 1}
