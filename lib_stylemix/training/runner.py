"""Running one training job as a child process: launch, stream progress, keep the log, cancel, judge the result.

Success is exit code 0 **and** the final LoRA file written by this run: sd-scripts exits 0 without training
when it finds no data, and `accelerate launch` turns every child failure into exit 1, so the log tail is
what explains a failure.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import os
import re
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.seams import CancelToken, GpuHandoff, NoGpuHandoff
from lib_stylemix.training.config import TrainJob
from lib_stylemix.training.outputs import file_problem, mark_incomplete
from lib_stylemix.training.procutil import kill_tree, popen_group_kwargs
from lib_stylemix.training.progress import LineSplitter, ProgressEvent, ProgressParser
from lib_stylemix.training.tokenizers import looks_like_download_failure, missing_tokenizers, offline_message
from lib_stylemix.training.validate import output_lock, validate_job

EventCallback = Callable[[ProgressEvent], None]
FileCallback = Callable[[str], None]
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")
_OOM = re.compile(r"OutOfMemoryError|CUDA out of memory", re.IGNORECASE)
_SIGKILL = re.compile(r"Signals\.SIGKILL|exit status -9\b|returned non-zero exit status 137\b|signal 9\b|^Killed$")
_IMAGE_PATH = re.compile(r"([^\s'\"]+\.(?:png|jpe?g|webp|bmp|avif|jxl))\b", re.IGNORECASE)
_live_runners: weakref.WeakSet[TrainingRunner] = weakref.WeakSet()


@atexit.register
def _stop_live_runners() -> None:
    """The trainer runs in its own session, so it would outlive us; stop it when the host exits normally."""
    for runner in list(_live_runners):
        if runner.running():
            runner._grace_s = min(runner._grace_s, 3.0)
            runner.cancel()
            with contextlib.suppress(Exception):
                runner.wait(timeout=10)


@dataclass
class TrainResult:
    """Outcome of a run. `status`: succeeded | failed | cancelled; `files` are the LoRA files on disk."""

    status: str
    exit_code: int | None
    final_file: str | None
    files: list[str]
    log_path: str
    error: str | None
    tail: list[str]
    duration_s: float
    progress: dict[str, Any] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)  # cut files of this run, renamed to *.incomplete

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self, *, tail_lines: int = 40) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["tail"] = self.tail[-tail_lines:]
        return data


def _image_above(tail: list[str], error_line: str) -> str | None:
    """The image file named in the log above an error (sd-scripts names it a few lines before it fails)."""
    index = max((i for i, line in enumerate(tail) if line.strip() == error_line), default=len(tail))
    for line in reversed(tail[:index]):
        match = _IMAGE_PATH.search(line)
        if match:
            return match.group(1)
    return None


def _killed(tail: list[str], code: int | None) -> bool:
    return code in (-9, 137) or any(_SIGKILL.search(line.strip()) for line in tail)


def explain_failure(tail: list[str], code: int | None = None, job: TrainJob | None = None) -> str:
    """The meaningful part of a failed run's output: the trainer's exception (not accelerate's wrapper),
    with the cause where the log shows it (cut image, killed process, missing tokenizer)."""
    exceptions = [line.strip() for line in tail if _EXCEPTION_LINE.match(line.strip())]
    real = [line for line in exceptions if "CalledProcessError" not in line]
    message = (real or exceptions or [""])[-1]
    if _killed(tail, code):
        need = f" ({job.notes[0]})" if job is not None and job.notes else ""
        return f"the trainer was killed (SIGKILL): out of memory?{need}"
    if message.startswith("ZeroDivisionError"):
        image = _image_above(tail, message)
        if image:
            return f"{image}: image could not be read (undecodable or empty?); fix or remove it ({message})"
    if job is not None and looks_like_download_failure(tail):
        cache = Path(str(job.toml_args.get("tokenizer_cache_dir", "")))
        missing = missing_tokenizers(cache, job.arch, bool(job.toml_args.get("v2")))
        if missing:
            return offline_message(cache, missing)
    if any(_OOM.search(line) for line in tail):
        return "out of GPU memory: " + (message or "CUDA out of memory") + " (lower batch size or resolution)"
    if message:
        return message
    meaningful = [line.strip() for line in tail if line.strip() and not line.startswith("steps:")]
    return " | ".join(meaningful[-3:]) or "no output"


class TrainingRunner:
    """One run of one job. `start()` returns at once; `wait()` blocks and returns the TrainResult.

    `on_event` is called from the reader thread for every console line (keep it quick). `on_file` is called once
    per LoRA file when it is complete: sd-scripts prints "saving checkpoint: …" *before* writing, so a file counts
    as finished at the next epoch/checkpoint/"model saved." line, or when the process ends.
    `handoff.release()` runs before launch and `restore()` after the process ends, whatever happened.
    """

    def __init__(  # noqa: PLR0913 — keyword-only callbacks and timeouts
        self,
        job: TrainJob,
        *,
        on_event: EventCallback | None = None,
        on_file: FileCallback | None = None,
        handoff: GpuHandoff | None = None,
        grace_s: float = 10.0,
        tail_lines: int = 200,
        validate: bool = True,
        own_files: frozenset[str] = frozenset(),
        extra_env: dict[str, str] | None = None,
        pipe_grace_s: float = 5.0,
    ) -> None:
        self.job = job
        self._on_event = on_event
        self._on_file = on_file
        self._pending_files: list[str] = []
        self._announced: list[str] = []
        self._incomplete: list[str] = []
        self._handoff = handoff or NoGpuHandoff()
        self._grace_s = grace_s
        self._validate = validate
        self._own_files = own_files
        self._extra_env = extra_env or {}
        self._pipe_grace_s = pipe_grace_s
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._parser = ProgressParser(epochs=job.epochs)
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._killer: threading.Thread | None = None
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()
        self._started_at = 0.0
        self._result: TrainResult | None = None
        self.log_path = Path(job.log_path)

    # -- public -------------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def tail(self) -> list[str]:
        with self._lock:
            return list(self._tail)

    @property
    def progress(self) -> ProgressEvent:
        return self._parser.state

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Validate, write the TOML (+ sample prompts), free the GPU, launch, start reading output."""
        if self._proc is not None:
            raise StyleMixError(f"{self.job.slug}: this run was already started")
        if self._cancelled.is_set():
            raise CancelledError(f"{self.job.slug}: cancelled before it started")
        if self._validate:
            validate_job(self.job, own_files=self._own_files)
        output_dir = Path(self.job.output_dir)
        self._stack.enter_context(output_lock(output_dir))
        try:
            self._write_inputs()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self._stack.enter_context(open(self.log_path, "a", encoding="utf-8", newline="\n"))  # noqa: SIM115
            log.write(f"# StyleMix {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(self.job.command)}\n")
            self._stack.callback(self._handoff.restore)
            self._handoff.release()
            env = {**os.environ, **self.job.env, **self._extra_env}
            self._started_at = time.time()
            try:
                self._proc = subprocess.Popen(
                    self.job.command,
                    cwd=self.job.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    bufsize=0,
                    **popen_group_kwargs(),
                )
            except OSError as exc:
                raise StyleMixError(f"{self.job.command[0]}: cannot start the trainer ({exc})") from None
            _live_runners.add(self)
            self._reader = threading.Thread(target=self._read, args=(log,), name="stylemix-train-reader", daemon=True)
            self._reader.start()
        except BaseException:
            self._stack.close()
            raise

    def cancel(self) -> None:
        """Stop the whole process tree (returns at once; `wait()` then reports status "cancelled").

        A run that already ended keeps its real outcome; a run not yet started will refuse to start.
        """
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            return
        self._cancelled.set()
        if proc is None or self._killer is not None:
            return
        self._killer = threading.Thread(
            target=kill_tree, args=(proc,), kwargs={"grace_s": self._grace_s}, daemon=True, name="stylemix-kill"
        )
        self._killer.start()

    def wait(self, timeout: float | None = None) -> TrainResult:
        """Block until the trainer ends; raises TimeoutError if `timeout` passes first."""
        if self._result is not None:
            return self._result
        if self._proc is None:
            raise StyleMixError(f"{self.job.slug}: run not started")
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.job.slug}: still running after {timeout} s") from None
        try:
            if self._killer is not None:
                self._killer.join()
            if self._reader is not None:
                self._reader.join(timeout=self._pipe_grace_s)
                if self._reader.is_alive():
                    # The launcher is gone but something in its group still holds the pipe: an orphaned trainer.
                    kill_tree(self._proc, grace_s=self._grace_s)
                    self._reader.join(timeout=30)
        finally:
            self._stack.close()
        self._check_outputs()
        self._result = self._judge()
        return self._result

    # -- internals ----------------------------------------------------------------------------------------

    def _write_inputs(self) -> None:
        for path, text in (
            (self.job.config_path, self.job.config_text),
            (self.job.sample_prompts_path, self.job.sample_prompts_text),
        ):
            if path is None or text is None:
                continue
            target = Path(path)
            try:
                if target.exists():
                    if target.read_text(encoding="utf-8") != text:
                        raise StyleMixError(f"{target}: exists with different contents (refusing to overwrite)")
                    continue
                write_atomic(target, text)
            except OSError as exc:
                raise StyleMixError(f"{target}: cannot write ({exc.strerror or exc})") from None

    def _read(self, log) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        splitter = LineSplitter()
        stream = self._proc.stdout
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            self._handle(splitter.feed(chunk), log)
        self._handle(splitter.flush(), log)
        stream.close()

    def _handle(self, lines: list[str], log) -> None:
        for line in lines:
            log.write(line + "\n")
            with self._lock:
                self._tail.append(line)
            event = self._parser.feed(line)
            if event.kind in {"epoch", "file", "saved"}:
                self._announce_pending(log)
            if event.new_file:
                self._pending_files.append(event.new_file)
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception as exc:  # a broken UI callback must not stop the log
                    log.write(f"# StyleMix: progress callback failed: {type(exc).__name__}: {exc}\n")
        log.flush()

    def _announce_pending(self, log, *, final: bool = False) -> None:
        """Announce files that are complete; at the end (`final`) a cut file of this run is marked instead."""
        for path in list(self._pending_files):
            if not Path(path).exists():
                if final:
                    self._pending_files.remove(path)
                continue
            problem = file_problem(path)
            if problem is not None:
                if final:
                    self._pending_files.remove(path)
                    self._mark_cut(path, problem, log)
                continue  # maybe still being written: look again at the next line or at the end
            self._pending_files.remove(path)
            if path in self._announced:
                continue
            self._announced.append(path)
            if self._on_file is not None:
                try:
                    self._on_file(path)
                except Exception as exc:
                    if log is not None:
                        log.write(f"# StyleMix: file callback failed: {type(exc).__name__}: {exc}\n")

    def _written_now(self, path: str) -> bool:
        """True for a file this run wrote (an earlier attempt's files are neither announced again nor marked)."""
        try:
            return Path(path).stat().st_mtime >= self._started_at - 2
        except OSError:
            return False

    def _mark_cut(self, path: str, problem: str, log) -> None:
        """A file this run left unfinished: rename it so nothing lists it as a LoRA."""
        marked = mark_incomplete(path) if self._written_now(path) else None
        if marked is not None:
            self._incomplete.append(str(marked))
        if log is not None and not log.closed:
            where = f"renamed to {marked.name}" if marked else "left as it is (not written by this run)"
            log.write(f"# StyleMix: {problem}; not announced, {where}\n")

    def _files_on_disk(self) -> list[str]:
        announced = list(self._parser.state.files)
        ordered = [f for f in self.job.expected_files if f in announced or Path(f).exists()]
        ordered += [f for f in announced if f not in ordered]
        return [f for f in ordered if Path(f).exists() and file_problem(f) is None]

    def _check_outputs(self) -> None:
        """After the trainer ended: announce what is complete, mark what this run left cut."""
        with open(self.log_path, "a", encoding="utf-8", newline="\n") as log:
            self._pending_files += [f for f in self.job.expected_files if f not in self._pending_files
                                    and f not in self._announced and self._written_now(f)]  # fmt: skip
            self._announce_pending(log, final=True)

    def _judge(self) -> TrainResult:
        assert self._proc is not None
        code = self._proc.returncode
        tail = self.tail
        final = Path(self.job.final_file)
        fresh = final.exists() and final.stat().st_mtime >= self._started_at - 2 and file_problem(final) is None
        base: dict[str, Any] = {
            "exit_code": code,
            "files": self._files_on_disk(),
            "log_path": str(self.log_path),
            "tail": tail,
            "duration_s": round(time.time() - self._started_at, 3),
            "progress": dataclasses.asdict(self._parser.state),
            "incomplete": list(self._incomplete),
        }
        if self._cancelled.is_set():
            return TrainResult(status="cancelled", final_file=None, error="cancelled by user", **base)
        if code == 0 and fresh:
            return TrainResult(status="succeeded", final_file=str(final), error=None, **base)
        if code == 0:
            # sd-scripts messages are "English / Japanese"; the English half is enough for the summary.
            reason = (self._parser.no_data_line or "no error reported").split(" / ")[0]
            error = f"sd-scripts exited 0 but did not write {final}: {reason}"
        else:
            error = f"sd-scripts failed (exit {code}): {explain_failure(tail, code, self.job)}"
        return TrainResult(status="failed", final_file=None, error=error, **base)


def run_training(
    job: TrainJob,
    *,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    handoff: GpuHandoff | None = None,
    poll_s: float = 0.2,
    **runner_kwargs: Any,
) -> TrainResult:
    """Start, poll `cancel` while it runs, and return the result (the blocking form the CLI and queue use)."""
    runner = TrainingRunner(job, on_event=on_event, handoff=handoff, **runner_kwargs)
    runner.start()
    try:
        while True:
            try:
                return runner.wait(timeout=poll_s)
            except TimeoutError:
                if cancel is not None and cancel.cancelled():
                    runner.cancel()
    except BaseException:
        runner.cancel()
        runner.wait()
        raise
