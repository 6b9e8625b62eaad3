"""The small protocols that let one core drive the webui, the CLI and the tests.

Each seam has a plain implementation here (used by the CLI and tests); the webui adapter
(`lib_stylemix.webui`) provides the webui-backed ones.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """Receives progress of a long job; `total` is the number of steps, `text` a one-line status."""

    def begin(self, total: int, text: str = "") -> None: ...

    def step(self, done: int, text: str = "") -> None: ...

    def end(self, text: str = "") -> None: ...


@runtime_checkable
class CancelToken(Protocol):
    """Checked between units of work; a true value stops the job cleanly."""

    def cancelled(self) -> bool: ...


class NullProgress:
    """Progress sink that drops everything (the default when nobody is watching)."""

    def begin(self, total: int, text: str = "") -> None:
        pass

    def step(self, done: int, text: str = "") -> None:
        pass

    def end(self, text: str = "") -> None:
        pass


class CancelFlag:
    """Thread-safe cancel token that a UI button or a signal handler can set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def cancelled(self) -> bool:
        return self._event.is_set()


class NeverCancel:
    """Cancel token for jobs that nobody can interrupt."""

    def cancelled(self) -> bool:
        return False


@runtime_checkable
class LoraRegistry(Protocol):
    """Where LoRA files live for the host application, and how to make it notice new ones.

    The webui's registry is its `--lora-dir` plus a refresh of the Lora extension's list; the CLI's is a
    plain folder whose refresh does nothing.
    """

    def folder(self) -> Path: ...

    def refresh(self) -> None: ...


@runtime_checkable
class GpuHandoff(Protocol):
    """Lets a host free its GPU before an external trainer starts and take it back afterwards."""

    def release(self) -> None: ...

    def restore(self) -> None: ...


class FolderRegistry:
    """LoRA registry for headless use: a folder, nothing to refresh."""

    def __init__(self, folder: str | Path) -> None:
        self._folder = Path(folder)

    def folder(self) -> Path:
        return self._folder

    def refresh(self) -> None:
        pass


class NoGpuHandoff:
    """Hand-off for hosts that hold no GPU (the CLI)."""

    def release(self) -> None:
        pass

    def restore(self) -> None:
        pass
