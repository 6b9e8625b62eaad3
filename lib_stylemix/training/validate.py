"""Checks run before launching, so a bad job fails in a second with a clear message instead of minutes into
model loading (or, worse, sd-scripts exiting 0 with nothing trained)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.config import TrainJob
from lib_stylemix.training.dataset import scan_dataset
from lib_stylemix.training.procutil import pid_alive
from lib_stylemix.training.tokenizers import offline_problem

LOCK_NAME = ".stylemix-training.lock"
_DISK_MARGIN = 256 * 1024 * 1024  # logs, sample images, TOML
_active_lock = threading.Lock()
_active_dirs: set[str] = set()


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _fmt_bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def lock_holder(output_dir: Path) -> int | None:
    """PID of a live StyleMix training writing into `output_dir`, else None (stale locks are ignored)."""
    with _active_lock:
        if str(output_dir) in _active_dirs:
            return os.getpid()
    try:
        data = json.loads((output_dir / LOCK_NAME).read_text(encoding="utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid != os.getpid() and pid_alive(pid) else None


def existing_outputs(job: TrainJob) -> list[Path]:
    """LoRA files of this output name already in the output folder (final, epoch or step files)."""
    folder = Path(job.output_dir)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(job.output_name)}(-\d{{6}}|-step\d{{8}})?\.(safetensors|ckpt|pt)$")
    return sorted(p for p in folder.iterdir() if pattern.match(p.name))


def validate_job(job: TrainJob, *, own_files: set[str] | frozenset[str] = frozenset()) -> None:
    """Raise StyleMixError naming the first problem; `own_files` are outputs this job wrote before (resume)."""
    base = Path(job.base_model)
    if not base.exists():
        raise StyleMixError(f"{base}: base model does not exist")
    for label, path in (("training script", Path(job.script)), ("sd-scripts Python", Path(job.command[0]))):
        if not path.exists():
            raise StyleMixError(f"{path}: {label} does not exist (run `sd-scripts check`)")
    _validate_dataset(job)
    cache = job.toml_args.get("tokenizer_cache_dir")
    problem = offline_problem(Path(cache), job.arch, bool(job.toml_args.get("v2"))) if cache else None
    if problem:
        raise StyleMixError(problem)
    output_dir = Path(job.output_dir)
    _validate_writable(output_dir)
    holder = lock_holder(output_dir)
    if holder is not None:
        raise StyleMixError(f"{output_dir}: another StyleMix training (pid {holder}) is writing there")
    clashes = [p for p in existing_outputs(job) if str(p) not in own_files]
    if clashes and not job.overwrite:
        raise StyleMixError(
            f"{clashes[0]}: already exists ({len(clashes)} LoRA file(s) named {job.output_name!r} in {output_dir}); "
            "choose another --style or pass --set overwrite=true to replace them"
        )
    free = shutil.disk_usage(_nearest_existing(output_dir)).free
    needed = job.estimated_bytes + _DISK_MARGIN
    if free < needed:
        raise StyleMixError(
            f"{output_dir}: only {_fmt_bytes(free)} free, {len(job.expected_files)} LoRA files need about "
            f"{_fmt_bytes(needed)}"
        )


def _validate_dataset(job: TrainJob) -> None:
    folder = Path(job.train_data_dir)
    if not folder.is_dir():
        raise StyleMixError(f"{folder}: training folder does not exist")
    extension = job.toml_args.get("caption_extension", ".caption")
    info = scan_dataset(folder, extension)
    if not info.subsets:
        raise StyleMixError(f"{folder}: no '<repeats>_<name>' sub-folders (sd-scripts would stop with 'No data found')")
    if info.image_count == 0:
        raise StyleMixError(f"{folder}: the '<repeats>_<name>' folders contain no images (.png/.jpg/.webp/.bmp)")
    missing = [c for s in info.subsets for c in s.missing_captions]
    if missing:
        raise StyleMixError(f"{missing[0]}: caption missing ({len(missing)} of {info.image_count} images lack one)")
    empty = [c for s in info.subsets for c in s.empty_captions]
    if empty:
        raise StyleMixError(f"{empty[0]}: caption file is empty (sd-scripts rejects empty captions)")


def _validate_writable(output_dir: Path) -> None:
    existing = _nearest_existing(output_dir)
    if not existing.is_dir():
        raise StyleMixError(f"{existing}: is a file, cannot create the output folder {output_dir} there")
    if output_dir.exists():
        try:
            with tempfile.TemporaryFile(dir=output_dir):
                pass
        except OSError:
            raise StyleMixError(f"{output_dir}: output folder is not writable") from None
    elif not os.access(existing, os.W_OK | os.X_OK):
        raise StyleMixError(f"{existing}: not writable, cannot create the output folder {output_dir}")


@contextlib.contextmanager
def output_lock(output_dir: Path):
    """Mark `output_dir` as being written by this process for the duration of a run (in-process and on disk)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    key = str(output_dir)
    with _active_lock:
        if key in _active_dirs:
            raise StyleMixError(f"{output_dir}: another training in this process is writing there")
        _active_dirs.add(key)
    lock_file = output_dir / LOCK_NAME
    try:
        lock_file.write_text(json.dumps({"pid": os.getpid()}), encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_file.unlink()
        with _active_lock:
            _active_dirs.discard(key)
