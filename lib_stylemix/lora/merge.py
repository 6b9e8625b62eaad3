"""Weighted merges of LoRAs in ΔW space: the shared machinery behind every merge method.

The methods themselves (exact concat, compressed svd, the labelled legacy factor average, and any plugin)
live one per file in `lib_stylemix.lora.merge_methods`; this module checks the inputs, walks the modules,
hands each module's weighted inputs to the chosen method and collects the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.lora.arch import check_same_arch
from lib_stylemix.lora.file import LoraFile
from lib_stylemix.lora.merge_methods import METHODS as REGISTRY
from lib_stylemix.lora.merge_methods import MergeInputs, MergeMethod, OutModule
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress
from lib_stylemix.threads import limited

__all__ = ["METHODS", "MergeTerm", "MergedLora", "OutModule", "merge", "method_names"]  # and METHOD_LABELS


def method_names() -> tuple[str, ...]:
    """Names of every registered merge method (built-ins and plugins), in display order."""
    return REGISTRY.names()


METHODS = method_names()  # the built-in names when this module was imported; new code calls method_names()


def __getattr__(name: str) -> Any:
    """`METHOD_LABELS` (name → label) for callers written before the registry, read from it on each access."""
    if name == "METHOD_LABELS":
        return {m.name: m.label for m in REGISTRY.entries()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class MergeTerm:
    """One input: `weight` for every module, or per block-weight group via `block_weights` (fallback `weight`)."""

    file: LoraFile
    weight: float
    block_weights: Mapping[str, float] | None = None

    def weight_for(self, module: str) -> float:
        if self.block_weights:
            return float(self.block_weights.get(self.file.block_of(module), self.weight))
        return float(self.weight)


@dataclass
class MergedLora:
    arch: str
    modules: dict[str, OutModule]
    method: str
    rank: int
    retained_energy: float | None = None
    module_energy: dict[str, float] = field(default_factory=dict)
    parents: tuple[LoraFile, ...] = ()
    weights: tuple[float, ...] = ()
    block_weights: tuple[Mapping[str, float] | None, ...] = ()

    @property
    def label(self) -> str:
        return REGISTRY.get(self.method).label


@limited
def merge(terms: Sequence[MergeTerm], *, method: str = "concat", rank: int | None = None,
          energy: float | None = None, progress: Progress | None = None,
          cancel: CancelToken | None = None, options: Mapping[str, Any] | None = None) -> MergedLora:
    """Merge `terms` into one LoRA with a registered method; `rank`/`energy` are svd's options, `options`
    any method's (see `lib_stylemix.lora.merge_methods`). svd without rank/energy keeps the largest input rank."""
    terms = list(terms)
    if not terms:
        raise StyleMixError("merge needs at least one LoRA")
    chosen = _method(method)
    opts = _options(chosen, {"rank": rank, "energy": energy, **(options or {})})
    for term in terms:
        weights = [term.weight, *(term.block_weights or {}).values()]
        if not all(math.isfinite(float(w)) for w in weights):
            raise StyleMixError(f"{term.file.name}: weight must be a finite number")
    files = [t.file for t in terms]
    arch = check_same_arch(files)
    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    modules = sorted(set().union(*(f.modules for f in files)))
    result = MergedLora(arch=arch, modules={}, method=method, rank=0, parents=tuple(files),
                        weights=tuple(float(t.weight) for t in terms),
                        block_weights=tuple(t.block_weights for t in terms))
    if chosen.prepare is not None:
        inputs = MergeInputs(files, modules, lambda m: _weighted_parts(terms, m), progress, cancel)
        opts = chosen.prepare(inputs, opts)
    _merge_modules(chosen, terms, modules, opts, result, progress, cancel)
    if not result.modules:
        raise StyleMixError("every weight is zero: the merge would be empty")
    result.rank = max(m.rank for m in result.modules.values())
    return result


def _method(name: str) -> MergeMethod:
    if name not in REGISTRY.names():
        raise StyleMixError(f"unknown merge method {name!r} (expected one of {', '.join(REGISTRY.names())})")
    return REGISTRY.get(name)


def _options(method: MergeMethod, given: Mapping[str, Any]) -> dict[str, Any]:
    """The method's options from `given`; a value for a parameter the method does not have is an error."""
    own = {p.name for p in method.params}
    stray = [k for k, v in given.items() if v is not None and k not in own]
    if stray:
        owners = [m.name for m in REGISTRY.entries() if any(p.name in stray for p in m.params)]
        flags = " / ".join(f"--{k}" for k in stray)
        where = " or ".join(owners) if owners else "no"
        raise StyleMixError(f"{flags} only apply to the {where} method (not {method.name})")
    return {p.name: given.get(p.name, p.default) for p in method.params}


def _merge_modules(method: MergeMethod, terms: Sequence[MergeTerm], modules: Sequence[str],
                   opts: Mapping[str, Any], result: MergedLora, progress: Progress, cancel: CancelToken) -> None:
    """The module loop: each module's weighted inputs through the method, with progress, cancel and totals."""
    progress.begin(len(modules), f"{method.name} merge")
    kept_total = all_total = 0.0
    approximate = False
    for done, module in enumerate(modules, 1):
        if cancel.cancelled():
            raise CancelledError(f"merge stopped after {done - 1} of {len(modules)} modules")
        parts = _weighted_parts(terms, module)
        if parts:
            out = method.merge_module(module, parts, opts)
            if out.total_sq is not None:
                approximate = True
                kept_total += out.kept_sq or 0.0
                all_total += out.total_sq
                result.module_energy[module] = out.energy if out.energy is not None else 1.0
            result.modules[module] = out
        progress.step(done, module)
    progress.end()
    if approximate:
        result.retained_energy = kept_total / all_total if all_total > 0 else 1.0


def _check_shapes(module: str, files: Sequence[LoraFile]) -> None:
    first = files[0].modules[module]
    for other in files[1:]:
        info = other.modules[module]
        if (info.kind, info.out_features, info.down_shape[1:]) != (first.kind, first.out_features,
                                                                   first.down_shape[1:]):
            raise StyleMixError(
                f"module {module}: {files[0].name} has {first.kind} out={first.out_features} "
                f"in={list(first.down_shape[1:])} but {other.name} has {info.kind} out={info.out_features} "
                f"in={list(info.down_shape[1:])} (different base models?)")


def _weighted_parts(terms: Sequence[MergeTerm], module: str) -> list[tuple[LoraFile, float]]:
    """(file, weight) of every input that has `module` with a non-zero weight, shapes checked to agree."""
    parts = [(t.file, t.weight_for(module)) for t in terms if module in t.file.modules]
    parts = [(f, w) for f, w in parts if w != 0.0]
    if parts:
        _check_shapes(module, [f for f, _ in parts])
    return parts
