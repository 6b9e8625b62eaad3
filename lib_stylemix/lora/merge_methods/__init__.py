"""The merge-method registry: each method is one small module in this package (concat.py, svd.py, legacy.py).

A method declares its name, a label, a help paragraph, its parameters and a per-module function that
turns the weighted inputs of one module into the merged factors. `lora.merge.merge` does the rest (input
checks, the module loop, progress, cancel, totals), and the CLI's `--method` choices, the Pool panel's
method buttons and the docs read this registry. To add a method, add one file here that calls
`METHODS.register(MergeMethod(...))`; a plugin folder can be added with `METHODS.add_path(folder)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib_stylemix.registry import Param, Registry
from lib_stylemix.seams import CancelToken, Progress

if TYPE_CHECKING:
    from lib_stylemix.lora.file import LoraFile

# (file, weight) of every input that has the module with a non-zero weight, shapes checked to agree.
Parts = Sequence[tuple["LoraFile", float]]


@dataclass
class OutModule:
    """A merged module: ΔW = up @ down exactly (alpha = rank is written, so the scale is 1).

    Methods that approximate (svd) also report the squared singular values they kept and the total, so the
    merge can report the share of ‖ΔW‖² kept per module (`energy`) and over all modules.
    """

    up: Any  # m×k float32: a torch.Tensor or a numpy array (the writer takes either)
    down: Any  # k×n float32, the same type as `up`
    kind: str
    up_shape: tuple[int, ...]  # shapes to write (4-D for convs)
    down_shape: tuple[int, ...]
    energy: float | None = None  # retained σ² fraction (svd only)
    kept_sq: float | None = None  # Σ kept σ² (svd only)
    total_sq: float | None = None  # Σ σ² of the exact sum (svd only)

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    def dense(self) -> Any:
        return self.up @ self.down


@dataclass
class MergeInputs:
    """What a method's `prepare` step may look at before the module loop (e.g. svd's rank-for-energy pass)."""

    files: Sequence[LoraFile]
    modules: Sequence[str]
    parts: Callable[[str], list[tuple[LoraFile, float]]]
    progress: Progress
    cancel: CancelToken


@dataclass(frozen=True)
class MergeMethod:
    """One merge method. `merge_module(module, parts, options)` returns the merged factors of one module;
    `prepare(inputs, options)` (optional) checks and completes the options once before the loop."""

    name: str
    label: str
    help: str
    merge_module: Callable[[str, Parts, Mapping[str, Any]], OutModule]
    params: tuple[Param, ...] = ()
    prepare: Callable[[MergeInputs, dict[str, Any]], dict[str, Any]] | None = None
    effect_preserving: bool = True  # False: the result is not Σ w·ΔW or its best low-rank approximation
    order: int = 100


METHODS: Registry[MergeMethod] = Registry("merge method", __name__)


def out_shapes(file: LoraFile, module: str, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes to write for a merged module of `rank` (4-D for convs), taken from one input file."""
    info = file.modules[module]
    return (info.out_features, rank, *info.up_shape[2:]), (rank, *info.down_shape[1:])


def register(method: MergeMethod) -> MergeMethod:
    return METHODS.register(method)


def get(name: str) -> MergeMethod:
    return METHODS.get(name)


def names() -> tuple[str, ...]:
    return METHODS.names()


def describe() -> str:
    """One line per method, for `--help` and the docs."""
    return METHODS.describe(lambda m: f"{m.name}: {m.help}")


__all__ = ["METHODS", "MergeInputs", "MergeMethod", "OutModule", "Param", "Parts", "describe", "get", "names",
           "out_shapes", "register"]
