"""Several trainings one after another, with the state in a JSON file so a restart shows what finished,
failed or was cancelled and can resume the rest. Each finished epoch file is announced as soon as it exists.

One process runs a queue at a time (the webui or the CLI); the file is rewritten atomically after every change.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.seams import CancelToken, GpuHandoff, NoGpuHandoff
from lib_stylemix.training.config import TrainJob
from lib_stylemix.training.outputs import file_problem
from lib_stylemix.training.progress import ProgressEvent
from lib_stylemix.training.runner import TrainingRunner

STATE_VERSION = 1
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = (
    "pending", "running", "succeeded", "failed", "cancelled", "interrupted",
)  # fmt: skip
FINISHED = {SUCCEEDED, FAILED, CANCELLED}

FileCallback = Callable[[str, str, int | None], None]  # (entry id, file path, epoch)
EntryCallback = Callable[["QueueEntry"], None]


@dataclass
class QueueEntry:
    """One job in the queue and what became of it."""

    id: str
    job: TrainJob
    status: str = PENDING
    files: list[str] = field(default_factory=list)
    error: str | None = None
    log_path: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["job"] = self.job.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueEntry:
        return cls(**{**data, "job": TrainJob.from_dict(data["job"])})


def epoch_of(job: TrainJob, path: str) -> int | None:
    """Epoch number of an output file: `<name>-NNNNNN` is that epoch, the plain `<name>` file is the last one."""
    name = Path(path).stem
    if name == job.output_name:
        return job.epochs
    prefix = job.output_name + "-"
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


class _HeldHandoff:
    """Passes the first `release()` on and defers `restore()` until the queue is done."""

    def __init__(self, inner: GpuHandoff) -> None:
        self._inner = inner
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._inner.release()
            self._released = True

    def restore(self) -> None:
        pass

    def finish(self) -> None:
        if self._released:
            self._released = False
            self._inner.restore()


class TrainingQueue:
    """Persistent FIFO of training jobs; `run()` works through the pending ones."""

    def __init__(self, state_file: str | Path) -> None:
        self.state_file = Path(state_file)
        self._lock = threading.RLock()
        self._entries: list[QueueEntry] = []
        self._runner: TrainingRunner | None = None
        self._stop = threading.Event()
        self._load()

    # -- state --------------------------------------------------------------------------------------------

    def _load(self) -> None:
        if not self.state_file.exists():
            return
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            entries = [QueueEntry.from_dict(item) for item in data["entries"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StyleMixError(f"{self.state_file}: not a readable StyleMix training queue ({exc})") from None
        changed = False
        for entry in entries:
            if entry.status == RUNNING:  # the process that ran it is gone
                entry.status = INTERRUPTED
                entry.error = "interrupted (StyleMix stopped while it was training)"
                changed = True
        self._entries = entries
        if changed:
            self._save()

    def _save(self) -> None:
        document = {"version": STATE_VERSION, "entries": [e.to_dict() for e in self._entries]}
        write_atomic(self.state_file, json.dumps(document, indent=2, ensure_ascii=False), overwrite=True)

    # -- editing ------------------------------------------------------------------------------------------

    def add(self, job: TrainJob) -> QueueEntry:
        with self._lock:
            clash = [e for e in self._entries if e.job.output_dir == job.output_dir and e.status not in FINISHED]
            if clash:
                raise StyleMixError(
                    f"{job.output_dir}: already queued as {clash[0].id} ({clash[0].job.style!r}, {clash[0].status})"
                )
            entry = QueueEntry(id=uuid.uuid4().hex[:8], job=job)
            self._entries.append(entry)
            self._save()
            return entry

    def remove(self, entry_id: str) -> None:
        with self._lock:
            entry = self.get(entry_id)
            if entry.status == RUNNING:
                raise StyleMixError(f"queue entry {entry_id}: is running; cancel it first")
            self._entries.remove(entry)
            self._save()

    def retry(self, entry_id: str) -> QueueEntry:
        """Put a failed, cancelled or interrupted entry back to pending (it may replace its own earlier files)."""
        with self._lock:
            entry = self.get(entry_id)
            if entry.status not in {FAILED, CANCELLED, INTERRUPTED}:
                raise StyleMixError(
                    f"queue entry {entry_id}: is {entry.status}, only failed/cancelled ones are retried"
                )
            entry.status, entry.error = PENDING, None
            self._save()
            return entry

    def get(self, entry_id: str) -> QueueEntry:
        for entry in self._entries:
            if entry.id == entry_id:
                return entry
        raise StyleMixError(f"queue entry {entry_id!r}: not in {self.state_file}")

    def entries(self) -> list[QueueEntry]:
        with self._lock:
            return list(self._entries)

    def status(self) -> dict[str, Any]:
        """Counts per status plus one line per entry (what the CLI and the panel show)."""
        with self._lock:
            counts: dict[str, int] = {}
            for entry in self._entries:
                counts[entry.status] = counts.get(entry.status, 0) + 1
            return {
                "state_file": str(self.state_file),
                "counts": counts,
                "entries": [
                    {
                        "id": e.id,
                        "style": e.job.style,
                        "status": e.status,
                        "files": len(e.files),
                        "final_file": e.job.final_file if e.status == SUCCEEDED else None,
                        "error": e.error,
                        "log_path": e.log_path,
                    }
                    for e in self._entries
                ],
            }

    # -- running ------------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the job that is running now and stop the queue; the remaining jobs stay pending."""
        self._stop.set()
        runner = self._runner
        if runner is not None:
            runner.cancel()

    def resume(self, **kwargs: Any) -> list[QueueEntry]:
        """Run interrupted and pending jobs (interrupted ones may replace the files they wrote before)."""
        with self._lock:
            for entry in self._entries:
                if entry.status == INTERRUPTED:
                    entry.status = PENDING
            self._save()
        return self.run(**kwargs)

    def run(
        self,
        *,
        on_event: Callable[[QueueEntry, ProgressEvent], None] | None = None,
        on_file: FileCallback | None = None,
        on_entry_done: EntryCallback | None = None,
        cancel: CancelToken | None = None,
        handoff: GpuHandoff | None = None,
        poll_s: float = 0.2,
        **runner_kwargs: Any,
    ) -> list[QueueEntry]:
        """Run pending jobs in order until none is left or the queue is cancelled; returns the entries run.

        The GPU is released once, before the first job that really launches, and restored after the last one,
        so the host does not reload its model between two trainings.
        """
        self._stop.clear()
        done: list[QueueEntry] = []
        held = _HeldHandoff(handoff or NoGpuHandoff())
        try:
            while not self._stop.is_set() and not (cancel is not None and cancel.cancelled()):
                with self._lock:
                    entry = next((e for e in self._entries if e.status == PENDING), None)
                if entry is None:
                    break
                self._run_one(entry, on_event, on_file, cancel, held, poll_s, runner_kwargs)
                done.append(entry)
                if on_entry_done is not None:
                    on_entry_done(entry)
        finally:
            held.finish()
        return done

    def _run_one(self, entry, on_event, on_file, cancel, handoff, poll_s, runner_kwargs) -> None:
        def handle(event: ProgressEvent) -> None:
            if on_event is not None:
                on_event(entry, event)

        runner = TrainingRunner(
            entry.job,
            on_event=handle,
            on_file=lambda path: self._record_file(entry, path, on_file),
            handoff=handoff,
            own_files=frozenset(entry.files),
            **runner_kwargs,
        )
        with self._lock:
            entry.status, entry.error, entry.attempts = RUNNING, None, entry.attempts + 1
            entry.started_at, entry.finished_at, entry.log_path = time.time(), None, entry.job.log_path
            self._save()
        try:
            runner.start()
        except StyleMixError as exc:
            self._finish(entry, FAILED, str(exc))
            return
        self._runner = runner
        try:
            while True:
                try:
                    result = runner.wait(timeout=poll_s)
                    break
                except TimeoutError:
                    if cancel is not None and cancel.cancelled():
                        self.cancel()
        except BaseException:
            runner.cancel()
            runner.wait()
            self._finish(entry, CANCELLED, "interrupted")
            raise
        finally:
            self._runner = None
        for path in result.files:
            self._record_file(entry, path, on_file)
        self._finish(entry, result.status, result.error)

    def _record_file(self, entry: QueueEntry, path: str, on_file: FileCallback | None) -> None:
        with self._lock:
            if path in entry.files or file_problem(path) is not None:
                return  # only complete files are recorded (a cut one would break every later reader)
            entry.files.append(path)
            self._save()
        if on_file is not None:
            on_file(entry.id, path, epoch_of(entry.job, path))

    def _finish(self, entry: QueueEntry, status: str, error: str | None) -> None:
        with self._lock:
            entry.status, entry.error, entry.finished_at = status, error, time.time()
            self._save()
