"""Turn what a person types (files, folders, glob patterns) into the LoRA files it means."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from lib_stylemix.errors import StyleMixError


def expand_lora_paths(sources: Iterable[str | Path]) -> list[Path]:
    """Files from a mix of file paths, folders (their *.safetensors) and glob patterns, in a stable order.

    Hidden files (our own `.tmp` writes among them) are never picked up from a folder; duplicates are dropped.
    """
    out: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.safetensors") if not p.name.startswith("."))
            if not found:
                raise StyleMixError(f"{path}: folder contains no .safetensors files")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif any(ch in text for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not found:
                raise StyleMixError(f"{text}: pattern matches no files")
            out.extend(found)
        else:
            raise StyleMixError(f"{path}: no such file or folder")
    return list(dict.fromkeys(out))
