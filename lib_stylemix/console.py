"""Output conventions shared by every CLI command.

stdout carries the command's result, so `> file` and pipes capture it: its tables and lists, the paths it wrote
and its closing summary (`emit_text`), or with `--json` exactly one JSON document (`emit_json`). Progress, warnings,
notes and errors go to stderr (`say`).
"""

from __future__ import annotations

import json
import sys
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
