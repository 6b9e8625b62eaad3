"""The two kinds of registry entry: module algorithms (LoRA, LoHa, LoKr, …) and key layouts (kohya, PEFT, …).

Both registries use the one registry mechanism (`lib_stylemix.registry`): every module of the
`lib_stylemix/lora/formats/` folder is imported on first use and registers its entry; a plugin folder is
added with `MODULE_FORMATS.add_path(folder)` / `KEY_LAYOUTS.add_path(folder)`. Detection tries the entries
in their `order` (built-ins 0, 10, 20…; plugins 100).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lib_stylemix.lora.container import TensorInfo
from lib_stylemix.lora.formats.base import ModuleEntry
from lib_stylemix.registry import Param, Registry


@dataclass(frozen=True)
class ModuleFormat:
    """An adapter algorithm recognised from one module's parameter names (the part after `<module>.`).

    `read(where, name, params, tensors)` checks shapes from the header only and returns the module's entry.
    """

    name: str
    help: str
    detect: Callable[[frozenset[str]], bool]
    read: Callable[[str, str, Mapping[str, str], Mapping[str, TensorInfo]], ModuleEntry]
    order: int = 100
    params: tuple[Param, ...] = ()

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class KeyLayout:
    """A way of naming keys that is mapped onto kohya names (`<kohya module>.<kohya param>`) before reading.

    `rename(keys, tensors, metadata)` returns {kohya key: original key} for the keys it understands.
    """

    name: str
    help: str
    detect: Callable[[list[str]], bool]
    rename: Callable[[list[str], Mapping[str, TensorInfo], Mapping[str, str]], dict[str, str]]
    order: int = 100
    params: tuple[Param, ...] = ()

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class Refusal:
    """A format StyleMix recognises but cannot handle exactly; `why` is shown to the user."""

    name: str
    pattern: str
    why: str


MODULE_FORMATS: Registry[ModuleFormat] = Registry("module format", "lib_stylemix.lora.formats")
KEY_LAYOUTS: Registry[KeyLayout] = Registry("key layout", "lib_stylemix.lora.formats")
