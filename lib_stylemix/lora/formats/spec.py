"""The two kinds of registry entry: module algorithms (LoRA, LoHa, LoKr, …) and key layouts (kohya, PEFT, …)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lib_stylemix.lora.container import TensorInfo
from lib_stylemix.lora.formats.base import ModuleEntry


@dataclass(frozen=True)
class ModuleFormat:
    """An adapter algorithm recognised from one module's parameter names (the part after `<module>.`).

    `read(where, name, params, tensors)` checks shapes from the header only and returns the module's entry.
    """

    name: str
    help: str
    detect: Callable[[frozenset[str]], bool]
    read: Callable[[str, str, Mapping[str, str], Mapping[str, TensorInfo]], ModuleEntry]


@dataclass(frozen=True)
class KeyLayout:
    """A way of naming keys that is mapped onto kohya names (`<kohya module>.<kohya param>`) before reading.

    `rename(keys, tensors, metadata)` returns {kohya key: original key} for the keys it understands.
    """

    name: str
    help: str
    detect: Callable[[list[str]], bool]
    rename: Callable[[list[str], Mapping[str, TensorInfo], Mapping[str, str]], dict[str, str]]


@dataclass(frozen=True)
class Refusal:
    """A format StyleMix recognises but cannot handle exactly; `why` is shown to the user."""

    name: str
    pattern: str
    why: str
