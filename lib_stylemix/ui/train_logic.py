"""What the Train panel does, without gradio: check sd-scripts, plan per-style jobs, run the queue in the
background and report its progress and log tail."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelFlag, GpuHandoff

if TYPE_CHECKING:
    from lib_stylemix.settings import StyleMixSettings
    from lib_stylemix.training.locate import SdScripts
    from lib_stylemix.training.progress import ProgressEvent
    from lib_stylemix.training.queue import TrainingQueue

QUEUE_HEADERS = ["id", "style", "status", "files", "final file", "error"]
QUEUE_FILE = "queue.json"
FOLDER_FIELD = "sd-scripts folder"


def panel_how_to(extension_dir: Path) -> str:
    """The "not found" advice in the panel's own terms (its field, the settings, the extension folder)."""
    return (f"type the folder of your sd-scripts checkout into the \u201c{FOLDER_FIELD}\u201d field above "
            f"(or Settings \u2192 StyleMix), or install it into {extension_dir / 'sd-scripts'}")


def locate(folder: str, python: str, settings: StyleMixSettings) -> SdScripts:
    """Panel field, then $STYLEMIX_SD_SCRIPTS, then the setting, then `<extension>/sd-scripts` (rule 4)."""
    from lib_stylemix.training.locate import EXTENSION_DIR, locate_sd_scripts

    return locate_sd_scripts(explicit=(folder or "").strip() or None, setting=settings.sd_scripts_dir or None,
                             extension_dir=EXTENSION_DIR, how_to_set=panel_how_to(EXTENSION_DIR),
                             python_setting=(python or "").strip() or settings.sd_scripts_python or None)


def check(folder: str, python: str, settings: StyleMixSettings) -> tuple[bool, str]:
    """(ok, report text) for the sd-scripts location the panel shows."""
    from lib_stylemix.training.probe import check_sd_scripts

    report = check_sd_scripts(locate(folder, python, settings))
    lines = [f"sd-scripts: {report.root} (found via {report.source}; {report.version}, {report.family}.x options)",
             f"Python: {report.python}"]
    env = report.env
    if env is not None:
        lines.append(f"torch {env.torch or 'missing'}, accelerate {env.accelerate or 'missing'}, "
                     f"numpy {env.numpy or 'missing'}, CUDA {'yes' if env.cuda else 'no'}, "
                     f"bitsandbytes on GPU {'yes' if env.bitsandbytes_gpu else 'no'}")
    lines += [f"problem: {p}" for p in report.problems] + [f"note: {n}" for n in report.notes]
    return report.ok, "\n".join(lines)


class TrainingService:
    """The host's one training queue (one GPU), run on a background thread so the page stays responsive.

    The queue file lives in the settings' training folder, so a restart still shows what finished and can
    resume the rest. Use `TrainingService.for_file`: one service per queue file and process, so a rebuilt
    tab (the webui's "Reload UI") shows and controls the training that is already running instead of
    starting a second one on the same GPU.
    """

    _services: ClassVar[dict[Path, TrainingService]] = {}
    _services_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def for_file(cls, state_file: Path, handoff: GpuHandoff) -> TrainingService:
        key = Path(state_file).resolve()
        with cls._services_lock:
            if key not in cls._services:
                cls._services[key] = cls(key, handoff)
            return cls._services[key]

    def __init__(self, state_file: Path, handoff: GpuHandoff) -> None:
        self.state_file = state_file
        self._handoff = handoff
        self._queue: TrainingQueue | None = None
        self._thread: threading.Thread | None = None
        self._cancel = CancelFlag()
        self._lock = threading.Lock()
        self.last_event: ProgressEvent | None = None
        self.current: str = ""
        self.error: str | None = None

    @property
    def queue(self) -> TrainingQueue:
        from lib_stylemix.training.queue import TrainingQueue

        if self._queue is None:
            self._queue = TrainingQueue(self.state_file)
        return self._queue

    def add(self, folder: str, python: str, dataset: str, base_model: str, style: str, settings: StyleMixSettings,
            output_root: Path, **train: Any) -> str:
        """Plan a job for one style's dataset and queue it; returns a one-line summary."""
        from lib_stylemix.training.config import TrainSettings, plan_training

        if not (dataset or "").strip():
            raise StyleMixError("dataset: type the style's training folder (from Restyle)")
        if not (base_model or "").strip():
            raise StyleMixError("Base model checkpoint: empty and the webui has no checkpoint loaded; type the "
                                "checkpoint file to train on")
        values = {k: v for k, v in train.items() if v is not None}
        if settings.sd_scripts_tokenizer_dir and "tokenizer_cache_dir" not in values:
            values["tokenizer_cache_dir"] = settings.sd_scripts_tokenizer_dir
        train_settings = dataclasses.replace(TrainSettings(), **values)
        job = plan_training(dataset.strip(), base_model.strip(), sd=locate(folder, python, settings),
                            style=(style or "").strip() or None, settings=train_settings, output_root=output_root)
        entry = self.queue.add(job)
        notes = "".join(f"; {note}" for note in job.notes)
        return (f"Queued {entry.id}: {job.style!r} ({job.arch}, {job.epochs} epochs) → {job.final_file}; "
                f"about {job.bytes_per_file / 1e6:.0f} MB per epoch file{notes}")

    def remove(self, entry_id: str) -> str:
        self.queue.remove(entry_id.strip())
        return f"Removed {entry_id.strip()} from the queue."

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        with self._lock:
            if self.running():
                raise StyleMixError("the queue is already running")
            if not any(e.status in ("pending", "interrupted") for e in self.queue.entries()):
                raise StyleMixError("nothing to train: add a job first")
            self._cancel = CancelFlag()
            self.error = None
            self._thread = threading.Thread(target=self._run, name="stylemix-training", daemon=True)
            self._thread.start()
        return "Training started."

    def _run(self) -> None:
        try:
            self.queue.resume(on_event=self._on_event, cancel=self._cancel, handoff=self._handoff)
        except StyleMixError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug must not kill the page silently: show it and log it
            from lib_stylemix.ui.common import log

            log.exception("StyleMix training queue failed")
            self.error = f"{type(exc).__name__}: {exc}"

    def _on_event(self, entry: Any, event: ProgressEvent) -> None:
        self.current = entry.job.style
        self.last_event = event

    def handoff_note(self) -> str:
        """What the GPU hand-off did (e.g. that a CPU-only webui frees nothing); empty before the first run."""
        return str(getattr(self._handoff, "note", "") or "")

    def cancel(self) -> str:
        self._cancel.cancel()
        if self._queue is not None:
            self._queue.cancel()
        return "Cancelling: sd-scripts is being stopped; finished epoch files are kept."

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def rows(self) -> list[list[Any]]:
        return [[e["id"], e["style"], e["status"], e["files"], e["final_file"] or "", e["error"] or ""]
                for e in self.queue.status()["entries"]]

    def progress_text(self) -> tuple[float | None, str]:
        """(fraction done or None, one line about the running job)."""
        event = self.last_event
        if self.error:
            return None, f"queue stopped: {self.error}"
        if event is None:
            return None, "running…" if self.running() else "idle"
        parts = [self.current]
        if event.epoch is not None:
            parts.append(f"epoch {event.epoch}/{event.epochs or '?'}")
        if event.step is not None:
            parts.append(f"step {event.step}/{event.total or '?'}")
        if event.loss is not None:
            parts.append(f"loss {event.loss:.4f}")
        if event.stage == "generating samples":
            parts.append(event.describe())
        if event.eta_s is not None:
            parts.append(f"ETA {event.eta_s / 60:.0f} min")
        state = "" if self.running() else " (finished)"
        fraction = event.percent / 100 if event.percent is not None else None
        return fraction, ", ".join(p for p in parts if p) + state

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the newest job log (the runner writes every console line there)."""
        entries = [e for e in self.queue.entries() if e.log_path]
        if not entries:
            return ""
        newest = max(entries, key=lambda e: e.started_at or 0.0)
        path = Path(newest.log_path or "")
        if not path.is_file():
            return ""
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            text = handle.read().decode("utf-8", errors="replace")
        return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])
