"""Checking the LoRA files the trainer writes before anybody is told about them.

sd-scripts writes each epoch file in place. A run cancelled or killed while it writes leaves a cut file with the
final name, which would be announced, recorded in the queue and then break every later reader. A file counts as
finished only when its safetensors header is complete and every tensor's bytes lie inside the file. A cut
file this run wrote is renamed to `<name>.incomplete` (kept for inspection, no longer a `.safetensors`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora.container import read_safetensors_header

INCOMPLETE_SUFFIX = ".incomplete"


def file_problem(path: str | Path) -> str | None:
    """None when `path` is a complete safetensors file, else the reason (one line naming the file)."""
    path = Path(path)
    if not path.is_file():
        return f"{path}: does not exist"
    if path.suffix != ".safetensors":
        return None  # .ckpt/.pt are not inspected (pickles); existence is all we can check
    try:
        read_safetensors_header(path)
    except StyleMixError as exc:
        return str(exc)
    return None


def mark_incomplete(path: str | Path) -> Path | None:
    """Rename a cut file to `<name>.incomplete` (never replacing anything); returns the new path."""
    path = Path(path)
    target = path.with_name(path.name + INCOMPLETE_SUFFIX)
    index = 1
    while target.exists():
        target = path.with_name(f"{path.name}{INCOMPLETE_SUFFIX}{index}")
        index += 1
    with contextlib.suppress(OSError):
        path.rename(target)
        return target
    return None
