"""Find the LoRA files one training run left behind and order them by epoch.

sd-scripts saves `<name>-000003.safetensors` after epoch 3 and the plain `<name>.safetensors` at the end
of training, and writes the epoch into the `ss_epoch` metadata of each. The metadata is the truth when it
is there (files get renamed); the file name is the fallback; the plain file without either is the last
epoch, because it is what training writes when it finishes.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from lib_stylemix.errors import StyleMixError

EPOCH_SUFFIX = re.compile(r"^(?P<run>.+)-(?P<epoch>\d{6})$")
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EpochFile:
    """One saved epoch of a run. `epoch` is None only for a final file whose epoch nobody recorded."""

    path: Path
    run: str
    epoch: int | None
    final: bool

    @property
    def name(self) -> str:
        """The name the webui lists the file under and that `<lora:name:w>` uses (the file stem)."""
        return self.path.stem

    @property
    def label(self) -> str:
        if self.epoch is None:
            return "final"
        return f"epoch {self.epoch} (final)" if self.final else f"epoch {self.epoch}"


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata of `path` (empty if it has none); no tensors are loaded."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:  # type: ignore[attr-defined]  # stub lacks __enter__
            return dict(handle.metadata() or {})
    except FileNotFoundError:
        raise StyleMixError(f"{path}: file not found") from None
    except Exception as exc:
        raise StyleMixError(f"{path}: not a readable safetensors file ({exc})") from None


def split_run_name(stem: str) -> tuple[str, int | None]:
    """`"style-000004"` → `("style", 4)`; a stem without sd-scripts' epoch suffix → `(stem, None)`."""
    match = EPOCH_SUFFIX.match(stem)
    if match:
        return match.group("run"), int(match.group("epoch"))
    return stem, None


def _epoch_from_metadata(metadata: dict[str, str]) -> int | None:
    value = metadata.get("ss_epoch", "").strip()
    return int(value) if value.isdigit() else None


def find_run(folder: str | Path, run: str, skipped: list[str] | None = None) -> list[EpochFile]:
    """The epoch files of `run` in `folder`, oldest epoch first, the final file last.

    A file that cannot be read (e.g. cut by a cancelled training) is skipped with a warning and its reason is
    appended to `skipped`. Raises `StyleMixError` when the folder does not exist or holds no readable file of
    that run, or when two files claim the same epoch (the grid would be ambiguous).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise StyleMixError(f"{folder}: not a folder")
    files: list[EpochFile] = []
    unreadable: list[str] = []
    for path in sorted(folder.glob("*.safetensors")):
        base, name_epoch = split_run_name(path.stem)
        if base != run:
            continue
        try:
            metadata_epoch = _epoch_from_metadata(read_metadata(path))
        except StyleMixError as exc:
            log.warning("StyleMix: skipped %s", exc)
            unreadable.append(str(exc))
            continue
        final = name_epoch is None
        files.append(EpochFile(path, run, metadata_epoch if metadata_epoch is not None else name_epoch, final))
    if skipped is not None:
        skipped.extend(unreadable)
    if not files and unreadable:
        raise StyleMixError(unreadable[0] + (f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""))
    if not files:
        raise StyleMixError(f"{folder}: no LoRA files of the training run {run!r} (like {run}-000001.safetensors, …)")
    seen: dict[int, Path] = {}
    for item in files:
        if item.epoch is None:
            continue
        if item.epoch in seen:
            raise StyleMixError(f"{item.path}: epoch {item.epoch} is also claimed by {seen[item.epoch].name}")
        seen[item.epoch] = item.path
    return sorted(files, key=_order_key)


def _order_key(item: EpochFile) -> tuple[int, int, int]:
    # Known epochs in order; a final file with an unknown epoch goes after everything.
    if item.epoch is None:
        return (1, 0, 0)
    return (0, item.epoch, int(item.final))


def list_runs(folder: str | Path) -> dict[str, int]:
    """Run names found in `folder` with their number of files, for a "pick a run" dropdown."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StyleMixError(f"{folder}: not a folder")
    counts: dict[str, int] = {}
    for path in folder.glob("*.safetensors"):
        run, _ = split_run_name(path.stem)
        counts[run] = counts.get(run, 0) + 1
    return dict(sorted(counts.items()))
