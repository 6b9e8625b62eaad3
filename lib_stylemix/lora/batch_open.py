"""Open every LoRA a person pointed at (files, folders, globs); a file that cannot be read is skipped, not fatal.

The one place where "one bad file in a folder never stops the rest" is decided: `info`, `compare`, `merge`,
`evolve`, `demo`, `Pool.add` and the Pool panel's Load all call `open_many`. `strict=True` turns any skip into
an error (the CLI's --strict).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora.container import printable
from lib_stylemix.lora.file import LoraFile, open_lora
from lib_stylemix.lora.paths import expand_lora_paths


@dataclass(frozen=True)
class Skipped:
    """A file left out, and why (one line, without the path)."""

    path: Path
    reason: str

    @property
    def line(self) -> str:
        return f"skipped {printable(str(self.path))}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}


@dataclass
class OpenedBatch:
    """The files that opened, the ones skipped, and one-line warnings about the opened ones (ignored keys)."""

    files: list[LoraFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [line for f in self.files for line in f.warnings]

    def messages(self) -> list[str]:
        """Every line a person should see: one per skipped file, one per file with ignored keys."""
        return [s.line for s in self.skipped] + self.warnings


def open_many(sources: Iterable[str | Path], *, strict: bool = False, check: bool = False) -> OpenedBatch:
    """Open each file behind `sources`; unreadable ones become `Skipped` (or, with `strict`, an error).

    A path that does not exist, an empty folder or a glob matching nothing is still an error: that is a typo,
    not a bad file. `check` also reads every module (NaN/Inf), which costs the tensor data.
    """
    batch = OpenedBatch()
    for path in expand_lora_paths(sources):
        try:
            lora = open_lora(path)
            if check:
                lora.validate()
        except (StyleMixError, OSError) as exc:
            batch.skipped.append(Skipped(path, _reason(path, exc)))
            continue
        batch.files.append(lora)
    if strict and batch.skipped:
        first = batch.skipped[0]
        more = f" (and {len(batch.skipped) - 1} more)" if len(batch.skipped) > 1 else ""
        raise StyleMixError(f"--strict: {printable(str(first.path))}: {first.reason}{more}")
    return batch


def _reason(path: Path, exc: BaseException) -> str:
    text = printable(str(exc))
    prefix = printable(str(path)) + ": "
    return text[len(prefix):] if text.startswith(prefix) else text
