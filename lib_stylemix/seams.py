"""The small protocols that let one core drive the webui, the CLI and the tests.

Each seam has a plain implementation here (used by the CLI and tests); the webui adapter
(`lib_stylemix.webui`) provides the webui-backed ones.
"""

from __future__ import annotations

import threading
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
