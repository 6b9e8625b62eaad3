"""The LoRA format registry: which key layouts and module algorithms StyleMix reads, and which it refuses.

One file per kind: `kohya.py` (LoRA/LoCon), `loha.py`, `lokr.py` (module algorithms, recognised per module from
the parameter names after `<module>.`), `peft.py` (a key layout mapped onto kohya names first) and `refused.py`
(formats that are not linear in ΔW, with the reason). Adding a format = one file in this folder that registers
its entry with `MODULE_FORMATS.register(...)` or `KEY_LAYOUTS.register(...)` (see `spec.py`).

`parse_keys` turns a file's header into usable modules (each with an exact factor builder), keys ignored with a
warning, and bundled embeddings (`bundle_emb.*`). A file is refused only when it is a foreign base model, uses a
refused algorithm, or has no usable module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from lib_stylemix.lora.container import LoraFormatError, TensorInfo
from lib_stylemix.lora.formats.base import (
    ALPHA,
    DOWN,
    KOHYA_PREFIXES,
    UP,
    ModuleEntry,
    ModuleInfo,
    ParsedFile,
)
from lib_stylemix.lora.formats.refused import REFUSALS
from lib_stylemix.lora.formats.spec import KEY_LAYOUTS, MODULE_FORMATS, KeyLayout, ModuleFormat, Refusal

BUNDLE_PREFIX = "bundle_emb."

__all__ = ["ALPHA", "BUNDLE_PREFIX", "DOWN", "KEY_LAYOUTS", "KOHYA_PREFIXES", "MODULE_FORMATS", "REFUSALS", "UP",
           "KeyLayout", "ModuleEntry", "ModuleFormat", "ModuleInfo", "ParsedFile", "Refusal", "parse_keys"]


def parse_keys(path: Path, tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str]) -> ParsedFile:
    """Usable modules of a file from its header (no tensor data read); LoraFormatError when there are none."""
    from lib_stylemix.lora.arch import foreign_family

    keys = list(tensors)
    if not keys:
        raise LoraFormatError(f"{path}: contains no tensors")
    family = foreign_family(keys, metadata)
    if family is not None:
        raise LoraFormatError(f"{path}: this is {family}; StyleMix handles SD1, SD2 and SDXL LoRAs "
                              "(Pony and Illustrious are SDXL)")
    _refuse(path, keys)
    mapping, layout = _kohya_names(keys, tensors, metadata)
    parsed = ParsedFile(modules={})
    groups: dict[str, dict[str, str]] = {}
    for kohya_key, key in mapping.items():
        if key.startswith(BUNDLE_PREFIX):
            parsed.bundle.append(key)
            continue
        module, _, param = kohya_key.partition(".")
        if module.startswith(KOHYA_PREFIXES) and param:
            groups.setdefault(module, {})[param] = key
        else:
            parsed.ignored.append(key)
    formats = MODULE_FORMATS.entries()
    for module, params in groups.items():
        entry = _read_module(path, module, params, tensors, parsed, formats)
        if entry is not None:
            parsed.modules[module] = entry
    if layout != "kohya":
        parsed.notes.append(f"key names mapped from the {layout} layout")
    if not parsed.modules:
        sample = ", ".join(repr(k) for k in sorted(parsed.ignored)[:3])
        raise LoraFormatError(f"{path}: no usable LoRA module (not a kohya, LyCORIS or diffusers/PEFT LoRA; "
                              f"keys such as {sample or 'none'})")
    return parsed


def _refuse(path: Path, keys: list[str]) -> None:
    for refusal in REFUSALS:
        needle = re.compile(refusal.pattern)
        hit = next((k for k in keys if needle.search(k)), None)
        if hit is not None:
            raise LoraFormatError(f"{path}: {refusal.name} — StyleMix cannot use it: {refusal.why} (key {hit!r})")


def _kohya_names(keys: list[str], tensors: Mapping[str, TensorInfo],
                 metadata: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """{kohya key: key in the file} after the first matching key layout, and that layout's name."""
    for layout in KEY_LAYOUTS.entries():
        if layout.detect(keys):
            renamed = layout.rename(keys, tensors, metadata)
            used = set(renamed.values())
            mapping = {k: k for k in keys if k not in used}
            mapping.update(renamed)
            return mapping, layout.name
    return {k: k for k in keys}, "kohya"


def _read_module(path: Path, module: str, params: dict[str, str], tensors: Mapping[str, TensorInfo],
                 parsed: ParsedFile, formats: list[ModuleFormat]) -> ModuleEntry | None:
    names = frozenset(params)
    fmt = next((f for f in formats if f.detect(names)), None)
    if fmt is None:
        parsed.ignored.extend(params.values())
        return None
    return fmt.read(f"{path}: module {module}", module, params, tensors)
