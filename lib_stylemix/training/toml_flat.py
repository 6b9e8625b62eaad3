"""A writer for the one TOML shape StyleMix produces: a flat table of strings, numbers, booleans and arrays.

`tomli-w` is not always installed (a webui started with `--skip-install` never runs install.py), and the
training-args file needs none of TOML's nesting. Every value here is written in a syntax that is valid TOML
and valid JSON at once, so the stand-in trainer and sd-scripts' `toml` reader see the same values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    # json.dumps escapes `"`, `\` and U+0000..U+001F the way TOML basic strings do; TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key}={value!r}: sd-scripts options cannot be inf or nan")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(key, item) for item in value) + "]"
    raise ValueError(f"{key}={value!r}: a flat TOML value must be a string, number, boolean or list of them")


def dumps_flat(table: dict[str, Any]) -> str:
    """`key = value` lines in insertion order; None values are left out (TOML has no null)."""
    return "".join(f"{_key(key)} = {_value(key, value)}\n" for key, value in table.items() if value is not None)
