"""Turning sd-scripts console lines into structured progress (pure: lines in, state out).

Only lines starting with `steps:` are training progress; the latent-caching bars look alike but have no
`steps:` label. Patterns follow the lines sd-scripts prints in v0.8.7 … v0.10 (fact sheet §4.2).

While sd-scripts generates sample images the `steps:` bar stands still for as long as the samples take; the
"generating sample images" line, the `prompt:` lines and the diffusion pipeline's unlabelled bars are turned
into a "generating samples" stage so a watcher sees the run move.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field, replace

_TOTAL = re.compile(r"total optimization steps\b[^:]*:\s*(\d+)")
_EPOCHS = re.compile(r"^\s*num epochs\b[^:]*:\s*(\d+)")
_EPOCH = re.compile(r"^epoch (\d+)/(\d+)\s*$")
_STEPS = re.compile(
    r"^steps:\s+(\d+)%\|.*?\|\s*(\d+)/(\d+)\s*\[([\d:]+)<([\d:?]+)"
    r"(?:,\s*([\d.?]+)\s*(it/s|s/it))?(?:,\s*avr_loss=([-+\w.]+))?"
)
_CHECKPOINT = re.compile(r"saving checkpoint:\s*(.+?)\s*$")
_NO_DATA = re.compile(r"No data found", re.IGNORECASE)
_SAMPLING = re.compile(r"generating sample images at step\b[^:]*:\s*(\d+)")
_PROMPT = re.compile(r"(?:^|\s)prompt:\s")
_BARE_BAR = re.compile(r"^(\d+)%\|.*?\|\s*(\d+)/(\d+)\b")
TRAINING, SAMPLING, SAVING = "training", "generating samples", "saving"


def _clock_seconds(text: str) -> float | None:
    if "?" in text:
        return None
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


@dataclass(frozen=True)
class ProgressEvent:
    """A snapshot after one console line. `kind`: line|start|epoch|step|file|saved|no_data|sample;
    `stage`: what the trainer is doing now (training | generating samples | saving | None before training)."""

    kind: str
    line: str
    percent: float | None = None
    epoch: int | None = None
    epochs: int | None = None
    step: int | None = None
    total: int | None = None
    loss: float | None = None
    eta_s: float | None = None
    files: tuple[str, ...] = ()
    new_file: str | None = None
    stage: str | None = None
    sample: int | None = None  # sample image number within the current sampling round (1-based)
    sample_step: int | None = None  # denoising step of that image
    sample_steps: int | None = None

    def describe(self) -> str:
        """The stage in words, e.g. "generating samples (image 2, step 12/24)"."""
        if self.stage != SAMPLING:
            return self.stage or ""
        parts = [f"image {self.sample}"] if self.sample else []
        if self.sample_step is not None:
            parts.append(f"step {self.sample_step}/{self.sample_steps}")
        return SAMPLING + (f" ({', '.join(parts)})" if parts else "")


def _step_update(m: re.Match[str]) -> dict:
    """Updates for one `steps:` bar: position, ETA, percent and (when shown) the running loss."""
    step, total = int(m.group(2)), int(m.group(3))
    updates: dict = {"step": step, "total": total, "eta_s": _clock_seconds(m.group(5)), "stage": TRAINING}
    if total:
        updates["percent"] = 100.0 * step / total
    if m.group(8):
        with contextlib.suppress(ValueError):
            updates["loss"] = float(m.group(8))
    return updates


def _sampling_update(line: str, state: ProgressEvent) -> dict | None:
    """Updates for a sample-generation line (start, one prompt, a pipeline bar), else None."""
    if _SAMPLING.search(line) is not None:
        return {"stage": SAMPLING, "sample": 0, "sample_step": None, "sample_steps": None}
    if state.stage != SAMPLING:
        return None
    if _PROMPT.search(line) is not None:
        return {"sample": (state.sample or 0) + 1, "sample_step": None, "sample_steps": None}
    if (m := _BARE_BAR.match(line)) is not None:
        return {"sample_step": int(m.group(2)), "sample_steps": int(m.group(3))}
    return None


@dataclass
class ProgressParser:
    """Feeds on lines; `state` always holds the latest known values."""

    epochs: int | None = None
    state: ProgressEvent = field(default_factory=lambda: ProgressEvent(kind="line", line=""))
    model_saved: bool = False
    no_data_line: str | None = None

    def __post_init__(self) -> None:
        self.state = replace(self.state, epochs=self.epochs)

    def feed(self, line: str) -> ProgressEvent:
        s = self.state
        kind = "line"
        updates: dict = {}
        stripped = line.strip()
        if (m := _STEPS.match(stripped)) is not None:
            kind = "step"
            updates.update(_step_update(m))
        elif (m := _EPOCH.match(stripped)) is not None:
            kind = "epoch"
            updates.update(epoch=int(m.group(1)), epochs=int(m.group(2)), stage=TRAINING)
            if s.total is None:
                updates["percent"] = 100.0 * (int(m.group(1)) - 1) / max(int(m.group(2)), 1)
        elif (m := _CHECKPOINT.search(stripped)) is not None:
            kind = "file"
            path = m.group(1)
            updates.update(files=(*s.files, path) if path not in s.files else s.files, new_file=path, stage=SAVING)
        elif (sampling := _sampling_update(stripped, s)) is not None:
            kind = "sample"
            updates.update(sampling)
        elif (m := _TOTAL.search(stripped)) is not None:
            kind = "start"
            updates.update(total=int(m.group(1)), percent=s.percent or 0.0)
        elif (m := _EPOCHS.match(stripped)) is not None:
            updates["epochs"] = int(m.group(1))
        elif stripped == "model saved." or stripped.endswith(" model saved."):
            kind = "saved"
            self.model_saved = True
        elif _NO_DATA.search(stripped):
            kind = "no_data"
            self.no_data_line = stripped
        if kind != "file":
            updates["new_file"] = None
        self.state = replace(s, kind=kind, line=line, **updates)
        return self.state


class LineSplitter:
    """Bytes in arbitrary chunks -> text lines split on `\\r` and `\\n` (tqdm redraws with `\\r` only)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        data = self._buffer + chunk
        parts = re.split(rb"\r\n|\r|\n", data)
        self._buffer = parts.pop()  # incomplete last line (also keeps split UTF-8 sequences whole)
        # Blank parts are dropped, so a "\r\n" split across two chunks cannot produce an extra line.
        texts = (p.decode("utf-8", errors="replace") for p in parts)
        return [text for text in texts if text.strip()]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, b""
        text = rest.decode("utf-8", errors="replace")
        return [text] if text.strip() else []
