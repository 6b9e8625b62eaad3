"""Output conventions shared by every CLI command.

stdout carries the command's result, so `> file` and pipes capture it: its tables and lists, the paths it wrote
and its closing summary (`emit_text`), or with `--json` exactly one JSON document (`emit_json`). Progress, warnings,
notes and errors go to stderr (`say`).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def emit_json(document: Any) -> None:
    """Print the command's single JSON document on stdout (NaN/Inf are refused: they are not JSON)."""
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def emit_text(message: str, *, json_mode: bool = False) -> None:
    """A line of the command's result: stdout. Under `--json` the JSON document owns stdout, so the same line
    goes to stderr for the person watching."""
    print(message, file=sys.stderr if json_mode else sys.stdout, flush=True)


def say(message: str) -> None:
    """Human-readable message: always on stderr so `--json` output stays parseable."""
    print(message, file=sys.stderr, flush=True)


class ConsoleProgress:
    """The CLI's `Progress`: lines on stderr. `begin`/`end` texts are printed when `headlines`, steps as
    `[done/total] text`, at most one step line every `interval` seconds (0: every step)."""

    def __init__(self, interval: float = 0.0, *, headlines: bool = True) -> None:
        self.interval = interval
        self.headlines = headlines
        self._last = 0.0
        self._stage = ""
        self._total = 0

    def begin(self, total: int, text: str = "") -> None:
        self._last = time.monotonic()
        self._stage, self._total = text, total
        if text and self.headlines:
            say(text)

    def step(self, done: int, text: str = "") -> None:
        now = time.monotonic()
        if self.interval and now - self._last < self.interval:
            return
        self._last = now
        say(f"[{done}/{self._total}] {text or self._stage}")

    def end(self, text: str = "") -> None:
        if text and self.headlines:
            say(text)
