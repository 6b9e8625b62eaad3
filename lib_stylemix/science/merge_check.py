"""Merge check: does a saved StyleMix merge behave like stacking its parents in the prompt?

Two proofs. **ΔW**: the relative error ‖ΔW_saved − Σ wᵢΔWᵢ‖ / ‖Σ wᵢΔWᵢ‖ of the file as stored (fp16/bf16
rounding included) and of the same merge recomputed in fp32 (the method's own error: 0 for concat, the
discarded spectrum for svd). Per module, with ΔW = U·D and the recipe as the exact concatenation
U_r = [w₁U₁ | …], D_r = [D₁; …], ‖U_aD_a − U_bD_b‖² = tr(U_aᵀU_a·D_aD_aᵀ) + tr(U_bᵀU_b·D_bD_bᵀ)
− 2 tr(U_aᵀU_b·D_bD_aᵀ): r×r products only, never a dense ΔW. **Pixels**: renders of the merge and of
the prompt stack `<lora:p₁:w₁> <lora:p₂:w₂> …` at the same seeds, compared by mean absolute difference and
PSNR (identical images → ∞).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError

Factor = tuple[np.ndarray, np.ndarray]
FactorSource = Callable[[str], Factor | None]
"""module → (U m×r, D r×n) in float64 with the scale folded into U, or None when the module is absent."""


@dataclass(frozen=True)
class RecipeTerm:
    """A parent file with its merge weight (and per-block weights, like `MergeTerm`)."""

    path: Path
    weight: float
    block_weights: dict[str, float] | None = None


def _file_factors(lora: Any) -> FactorSource:
    import torch

    def get(module: str) -> Factor | None:
        if module not in lora.modules:
            return None
        f = lora.factors(module, dtype=torch.float64)
        return np.asarray(f.up.numpy(), dtype=np.float64), np.asarray(f.down.numpy(), dtype=np.float64)

    return get


def _merged_factors(merged: Any) -> FactorSource:
    def get(module: str) -> Factor | None:
        out = merged.modules.get(module)
        if out is None:
            return None
        up = out.up.detach().double().numpy().reshape(out.up.shape[0], -1)
        return up, out.down.detach().double().numpy().reshape(out.down.shape[0], -1)

    return get


def _recipe_factors(terms: Sequence[Any]) -> FactorSource:
    """The recipe Σ wᵢΔWᵢ as an exact concatenation of the parents' factors (weights folded into U)."""
    sources = [(_file_factors(t.file), t) for t in terms]

    def get(module: str) -> Factor | None:
        ups, downs = [], []
        for source, term in sources:
            part = source(module)
            weight = term.weight_for(module) if module in term.file.modules else 0.0
            if part is None or weight == 0.0:
                continue
            ups.append(part[0] * weight)
            downs.append(part[1])
        if not ups:
            return None
        return np.concatenate(ups, axis=1), np.concatenate(downs, axis=0)

    return get


def _inner(a: Factor, b: Factor) -> float:
    """⟨U_aD_a, U_bD_b⟩_F = tr((U_aᵀU_b)(D_bD_aᵀ))."""
    return float(np.sum((a[0].T @ b[0]) * (a[1] @ b[1].T)))


def relative_error(candidate: FactorSource, target: FactorSource, modules: Sequence[str]) -> float:
    """‖ΔW_candidate − ΔW_target‖ / ‖ΔW_target‖ over `modules` (float64, exact r×r algebra)."""
    err = norm = 0.0
    for module in modules:
        a, b = candidate(module), target(module)
        aa = _inner(a, a) if a is not None else 0.0
        bb = _inner(b, b) if b is not None else 0.0
        ab = _inner(a, b) if a is not None and b is not None else 0.0
        err += max(aa + bb - 2.0 * ab, 0.0)
        norm += bb
    if norm <= 0.0:
        raise StyleMixError("the recipe's ΔW is zero: nothing to compare against")
    return math.sqrt(err / norm)


def method_of(metadata: dict[str, str]) -> tuple[str, int | None] | None:
    """The merge method and rank a StyleMix file records (None for files StyleMix did not merge)."""
    from lib_stylemix.lora.merge import METHOD_LABELS

    by_label = {label: method for method, label in METHOD_LABELS.items()}
    method = by_label.get(metadata.get("stylemix_method", ""))
    if method is None:
        return None
    rank = metadata.get("stylemix_rank")
    return method, (int(rank) if method == "svd" and rank and rank.isdigit() else None)


@dataclass
class DwCheck:
    stored_dtype: str
    stored_error: float
    fp32_error: float | None
    method: str | None

    def to_json(self) -> dict[str, Any]:
        return {"stored_dtype": self.stored_dtype, "relative_error_stored": self.stored_error,
                "relative_error_fp32": self.fp32_error, "method": self.method}


def check_dw(merged_path: str | Path, recipe: Sequence[RecipeTerm]) -> DwCheck:
    """ΔW relative error of a saved merge against its recipe, as stored and recomputed in fp32."""
    from lib_stylemix.lora import MergeTerm, merge, open_lora

    if not recipe:
        raise StyleMixError("the merge check needs the recipe's parent files")
    saved = open_lora(merged_path)
    parents = [open_lora(t.path) for t in recipe]
    terms = [MergeTerm(p, t.weight, t.block_weights) for p, t in zip(parents, recipe, strict=True)]
    modules = sorted(set(saved.modules).union(*(p.modules for p in parents)))
    target = _recipe_factors(terms)
    stored = relative_error(_file_factors(saved), target, modules)
    recorded = method_of(dict(getattr(saved, "metadata", {}) or {}))
    fp32 = None
    if recorded is not None:
        method, rank = recorded
        again = merge(terms, method=method, rank=rank)
        fp32 = relative_error(_merged_factors(again), target, modules)
    dtypes = sorted({info.dtype for info in saved.modules.values()})
    return DwCheck("/".join(dtypes), stored, fp32, recorded[0] if recorded else None)


def recipe_from_metadata(merged_path: str | Path, folder: str | Path) -> list[RecipeTerm]:
    """The recipe a StyleMix merge records (`stylemix_weights`), with parents looked up by name in `folder`."""
    from lib_stylemix.lora import open_lora

    meta = dict(getattr(open_lora(merged_path), "metadata", {}) or {})
    try:
        weights = json.loads(meta["stylemix_weights"])
    except (KeyError, ValueError):
        raise StyleMixError(f"{merged_path}: no StyleMix recipe in its metadata (stylemix_weights)") from None
    terms = []
    for entry in weights:
        path = Path(folder) / f"{entry['name']}.safetensors"
        if not path.is_file():
            raise StyleMixError(f"{merged_path}: parent {entry['name']!r} not found in {folder}")
        terms.append(RecipeTerm(path, float(entry["weight"]), entry.get("block_weights")))
    return terms


@dataclass
class PixelCheck:
    """Pixel difference between renders of the merge and of the prompt stack, per seed and overall."""

    mean_abs: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)

    @property
    def overall_mean_abs(self) -> float:
        return float(np.mean(self.mean_abs)) if self.mean_abs else float("nan")

    @property
    def overall_psnr(self) -> float:
        finite = [p for p in self.psnr if math.isfinite(p)]
        if len(finite) < len(self.psnr) and not finite:
            return float("inf")
        return float(np.mean(finite)) if finite else float("nan")

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | str:
            return v if math.isfinite(v) else ("inf" if v > 0 else "nan")

        return {"mean_abs_per_image": self.mean_abs, "psnr_per_image": [num(p) for p in self.psnr],
                "mean_abs": num(self.overall_mean_abs), "psnr": num(self.overall_psnr), "scale": "0..255"}


def pixel_difference(a: Any, b: Any) -> tuple[float, float]:
    """(mean |a − b|, PSNR in dB) of two same-size RGB images on the 0..255 scale."""
    x = np.asarray(a.convert("RGB") if hasattr(a, "convert") else a, dtype=np.float64)
    y = np.asarray(b.convert("RGB") if hasattr(b, "convert") else b, dtype=np.float64)
    if x.shape != y.shape:
        raise StyleMixError(f"images differ in size: {x.shape} vs {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    return float(np.mean(np.abs(x - y))), psnr


def check_pixels(merged: Sequence[Any], stacked: Sequence[Any]) -> PixelCheck:
    """Compare renders pairwise (same prompt and seed, same order)."""
    if len(merged) != len(stacked) or not merged:
        raise StyleMixError(f"need the same number of renders of the merge and of the stack "
                            f"({len(merged)} vs {len(stacked)})")
    out = PixelCheck()
    for a, b in zip(merged, stacked, strict=True):
        mad, psnr = pixel_difference(a, b)
        out.mean_abs.append(mad)
        out.psnr.append(psnr)
    return out


def stack_tags(recipe: Sequence[RecipeTerm]) -> list[tuple[str, float]]:
    """The `<lora:…>` stack equivalent to a recipe (one weight per file; per-block weights have no tag form)."""
    out = []
    for term in recipe:
        if term.block_weights:
            raise StyleMixError(f"{term.path.name}: per-block weights cannot be written as <lora:…> tags, so there "
                                "is no prompt stack to compare with")
        out.append((term.path.stem, float(term.weight)))
    return out


@dataclass(frozen=True)
class PixelJob:
    """Render settings for the pixel check: the fixed prompts × seeds and txt2img parameters."""

    spec: Any  # lib_stylemix.science.render.RenderSpec
    merged_name: str
    stack: tuple[tuple[str, float], ...]


def render_pair(job: PixelJob, generator: Any, cancel: Any = None) -> tuple[list[Any], list[Any]]:
    """Render the merge (`<lora:merged:1>`) and its prompt stack at the same prompts and seeds."""
    from lib_stylemix.errors import CancelledError
    from lib_stylemix.seams import Txt2ImgRequest

    merged: list[Any] = []
    stacked: list[Any] = []
    spec = job.spec
    for key, prompt, seed in spec.jobs():
        for loras, out in (([(job.merged_name, 1.0)], merged), (list(job.stack), stacked)):
            if cancel is not None and cancel.cancelled():
                raise CancelledError(f"merge check stopped at {key}")
            images = generator.generate(Txt2ImgRequest(prompt, spec.negative, seed, spec.sampler, spec.steps,
                                                       spec.cfg, spec.width, spec.height, loras=tuple(loras)))
            if not images:
                raise StyleMixError(f"the generator returned no image for {key}")
            out.append(images[0].image)
    return merged, stacked
