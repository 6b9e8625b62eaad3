"""Progress and cancel through the webui's `shared.state`, so its progress bar and Interrupt button work.

`process_images` itself calls `state.nextjob()` after every generation, so `StateProgress.step` sets the
job number instead of incrementing it: whichever of the two runs last, the bar shows the right count.
"""

from __future__ import annotations

from typing import Any

# `time_start` of the webui job whose `job_count` our own StateProgress set last (see `host_generating`).
_own_job: dict[str, Any] = {"time_start": object()}


def _state():
    from modules import shared

    return shared.state


def host_generating() -> bool:
    """Whether the webui is running a job of its own (txt2img, img2img, another extension) right now.

    The thread rule's host probe (`threads.set_host_busy_probe`): `shared.state.job_count > 0` while a job
    runs. Our own StateProgress also sets `job_count`, and leaves it set when the handler is not wrapped in
    a webui job, so a count that belongs to the job we marked (same `time_start`) does not count as busy.
    """
    state = _state()
    if int(getattr(state, "job_count", 0) or 0) <= 0:
        return False
    return getattr(state, "time_start", None) != _own_job["time_start"]


class StateProgress:
    """`Progress` over `shared.state`: `job_count`, `job_no`, and the one-line `textinfo` the bar shows."""

    def begin(self, total: int, text: str = "") -> None:
        state = _state()
        _own_job["time_start"] = getattr(state, "time_start", None)
        state.job_count = max(1, int(total))
        state.job_no = 0
        state.processing_has_refined_job_count = True  # keep hires from doubling our count
        self._text(state, text)

    def step(self, done: int, text: str = "") -> None:
        state = _state()
        state.job_no = max(0, int(done))
        self._text(state, text)

    def end(self, text: str = "") -> None:
        state = _state()
        state.job_no = max(state.job_no, state.job_count)
        self._text(state, text)

    @staticmethod
    def _text(state, text: str) -> None:
        if text:
            line = " ".join(text.split())
            state.job = line
            state.textinfo = line


class StateCancel:
    """`CancelToken` that is set by the webui's Interrupt (or "stop after the current image") button."""

    def cancelled(self) -> bool:
        state = _state()
        return bool(getattr(state, "interrupted", False) or getattr(state, "stopping_generation", False))

    def cancel(self) -> None:
        """What the tab's own Stop button calls: the same as the webui's Interrupt."""
        _state().interrupt()

    def interrupted(self) -> bool:
        """True only for a hard Interrupt: the image being sampled was cut short and is not worth keeping."""
        return bool(getattr(_state(), "interrupted", False))
