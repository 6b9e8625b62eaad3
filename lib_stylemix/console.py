"""Output conventions shared by every CLI command: one JSON document on stdout, people's text on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(document: Any) -> None:
    """Print the command's single JSON document on stdout (NaN/Inf are refused: they are not JSON)."""
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """Human-readable message: always on stderr so `--json` output stays parseable."""
    print(message, file=sys.stderr, flush=True)
