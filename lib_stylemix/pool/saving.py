"""Materialise a recipe member as a LoRA file: the exact ΔW it states, compressed only as far as asked.

Per module the recipe's ΔW is the concatenation of its roots' weighted factors (files read through the
engine, derived roots computed, see `derived.py`), factorised exactly as P·diag(σ)·Qᵀ (thin QR + SVD of the
small core, lora_math.md §4). The file keeps the top k components of every module, with one k for the file:
  default   the smallest k whose kept share of ‖ΔW‖² over all modules is ≥ `energy` (0.99), capped by
            `rank_cap` and by the rank at which the file would exceed `max_file_mb`; past the cap the save
            goes on at the cap and warns with the resulting relative ΔW error √(1 − retained);
  max_rank  a fixed k (small files on purpose).
Retained energy and relative error are reported before writing and stored in the metadata.
Names are `sm_<short-parents>_<hash8>.safetensors` with hash8 from the recipe, and nothing is ever
overwritten: a file of that name that already holds the same recipe is reused, another file of that name
makes us pick `…_2`, `…_3`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.fsutil import safe_child
from lib_stylemix.pool.derived import FactorReader, exact_svd
from lib_stylemix.pool.lineage import DIGEST_KEY, lineage_metadata
from lib_stylemix.pool.members import FILE, Member
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.pool.views import PoolFiles
from lib_stylemix.seams import CancelToken, Progress

__all__ = ["DIGEST_KEY", "SaveOptions", "SavePlan", "recipe_terms", "save_member"]

DEFAULT_ENERGY = 0.99
# Factorisations from the first pass are kept for the second while they take less than this many bytes.
REUSE_BYTES = 256 * 2**20
BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class SaveOptions:
    """How much of the recipe a saved file keeps (see the module docstring)."""

    energy: float = DEFAULT_ENERGY
    max_rank: int | None = None
    rank_cap: int | None = None
    max_file_mb: float | None = None
    dtype: str = "fp16"
    score_kind: str | None = None


@dataclass(frozen=True)
class SavePlan:
    """What the file will keep: its rank, the retained share of ‖ΔW‖², and the relative ΔW error."""

    name: str
    rank: int
    exact_rank: int
    retained_energy: float
    relative_error: float
    warning: str | None = None

    def describe(self) -> str:
        text = (f"{self.name}: rank {self.rank} (exact {self.exact_rank}) keeps {self.retained_energy:.2%} of "
                f"‖ΔW‖², relative ΔW error {self.relative_error:.2%}")
        return text + (f" — {self.warning}" if self.warning else "")


def recipe_terms(roots: Mapping[str, Any], recipe: Recipe) -> list[Any]:
    """The engine's `MergeTerm`s for a recipe over root files (`roots[key].lora` is the opened file)."""
    from lib_stylemix.lora import MergeTerm

    return [MergeTerm(roots[key].lora, weight, block_weights) for key, weight, block_weights in recipe.merge_weights()]


def save_member(
    pool: PoolFiles,
    member: Member,
    folder: Path,
    options: SaveOptions,
    progress: Progress,
    cancel: CancelToken,
    on_plan: Callable[[SavePlan], None] | None = None,
) -> Path:
    """Write `member` into `folder` (or find it already there) and record the path on the member."""
    from lib_stylemix.lora import write_lora

    if member.kind == FILE and member.path is not None:
        return member.path
    digest = member.recipe.digest()
    target, existing = _free_name(folder, member.name, digest)
    if existing is not None:
        member.path = target
        energy = existing.get("stylemix_retained_energy")
        member.retained_energy = float(energy) if energy else member.retained_energy
        return target
    reader = FactorReader(pool)
    factors: dict[str, Svd] = {}
    spectra = _spectra(reader, member, factors, progress, cancel)
    plan = plan_rank(member.name, spectra, options, _bytes_per_rank(reader, spectra, options.dtype))
    if on_plan is not None:
        on_plan(plan)
    merged = _materialise(reader, member, (plan.rank, pool.arch or "sd1"), factors, progress, cancel)
    merged.retained_energy = plan.retained_energy
    files = [r.lora for r in pool.roots.values() if r.lora is not None and r.key in _file_roots(pool, member)]
    written = write_lora(merged, target, dtype=options.dtype, extra_metadata=_metadata(pool, member, target, plan,
                                                                                        options),
                         parents=files, overwrite=False)
    member.path = Path(written.path)
    member.retained_energy = plan.retained_energy
    member.origin["relative_error"] = plan.relative_error
    member.origin["saved_rank"] = plan.rank
    return member.path


def plan_rank(name: str, spectra: dict[str, np.ndarray], options: SaveOptions, bytes_per_rank: float) -> SavePlan:
    """Choose the file's rank from the per-module spectra (σ) and the options; pure function."""
    exact = max((len(s) for s in spectra.values()), default=1)
    warning = None
    if options.max_rank is not None:
        rank = options.max_rank
    else:
        rank = rank_for_energy(spectra, options.energy)
        cap = options.rank_cap
        if options.max_file_mb is not None:
            by_size = max(1, int(options.max_file_mb * 2**20 // max(bytes_per_rank, 1.0)))
            cap = by_size if cap is None else min(cap, by_size)
        if cap is not None and rank > cap:
            kept = retained(spectra, cap)
            warning = (f"size cap reached: rank {cap} instead of {rank} keeps only {kept:.2%} of the energy "
                       f"(relative ΔW error {math.sqrt(max(0.0, 1 - kept)):.2%}); raise --rank-cap / "
                       "--max-file-mb to keep more")
            rank = cap
    kept = retained(spectra, rank)
    return SavePlan(name, min(rank, exact), exact, kept, math.sqrt(max(0.0, 1.0 - kept)), warning)


def retained(spectra: dict[str, np.ndarray], rank: int) -> float:
    """Share of Σ σ² over all modules kept by the top `rank` components of each module."""
    whole = sum(float(np.square(s).sum()) for s in spectra.values())
    kept = sum(float(np.square(s[:rank]).sum()) for s in spectra.values())
    return kept / whole if whole > 0 else 1.0


def rank_for_energy(spectra: dict[str, np.ndarray], energy: float) -> int:
    """Smallest single rank whose kept σ² over all modules is ≥ `energy` of the total."""
    longest = max((len(s) for s in spectra.values()), default=1)
    kept = np.zeros(longest)
    for s in spectra.values():
        cumulative = np.cumsum(np.square(s))
        kept[: len(s)] += cumulative
        kept[len(s):] += cumulative[-1] if len(s) else 0.0
    whole = kept[-1] if len(kept) else 0.0
    if whole <= 0:
        return 1
    return min(longest, int(np.searchsorted(kept / whole, energy - 1e-12)) + 1)


Svd = tuple[np.ndarray, np.ndarray, np.ndarray]


def _spectra(reader: FactorReader, member: Member, keep: dict[str, Svd], progress: Progress,
             cancel: CancelToken) -> dict[str, np.ndarray]:
    """σ of every module; the factorisations are also put in `keep` while they fit in `REUSE_BYTES`."""
    out = {}
    used = 0
    progress.begin(len(reader.modules), f"{member.name}: spectra")
    for done, module in enumerate(reader.modules, 1):
        if cancel.cancelled():
            raise CancelledError(f"saving {member.name} stopped; nothing was written")
        parts = reader.recipe_parts(member.recipe, module)
        if parts:
            svd = exact_svd(parts)
            out[module] = svd[1]
            used += svd[0].nbytes + svd[2].nbytes
            if used <= REUSE_BYTES:
                keep[module] = svd
        progress.step(done, module)
    progress.end()
    if not out:
        raise StyleMixError(f"{member.name}: every weight is zero, nothing to save")
    return out


def _materialise(reader: FactorReader, member: Member, target: tuple[int, str], known: dict[str, Svd],
                 progress: Progress, cancel: CancelToken) -> Any:
    """MergedLora (rank, arch = `target`) with the top-rank components of every module (√σ on each side);
    factorisations in `known` are reused instead of recomputed. The factors stay numpy arrays (the writer takes
    them as they are: saving never imports torch)."""
    from lib_stylemix.lora import MergedLora, OutModule

    rank, arch = target
    modules = {}
    progress.begin(len(reader.modules), f"{member.name}: writing")
    for done, module in enumerate(reader.modules, 1):
        if cancel.cancelled():
            raise CancelledError(f"saving {member.name} stopped; nothing was written")
        parts = [] if module in known else reader.recipe_parts(member.recipe, module)
        if parts or module in known:
            p, sigma, qt = known.pop(module) if module in known else exact_svd(parts)
            k = max(1, min(rank, len(sigma)))
            root = np.sqrt(sigma[:k])
            info = reader.info(module)
            modules[module] = OutModule(
                up=(p[:, :k] * root).astype(np.float32),
                down=np.ascontiguousarray((root[:, None] * qt[:k]).astype(np.float32)),
                kind=info.kind, up_shape=(info.out_features, k, *info.up_shape[2:]),
                down_shape=(k, *info.down_shape[1:]),
                energy=float(np.square(sigma[:k]).sum() / max(np.square(sigma).sum(), 1e-300)))
        progress.step(done, module)
    progress.end()
    return MergedLora(arch=arch, modules=modules, method="svd", rank=max(m.rank for m in modules.values()))


def _bytes_per_rank(reader: FactorReader, spectra: dict[str, np.ndarray], dtype: str) -> float:
    """File bytes one unit of rank costs: Σ over modules of (out + flattened in) × bytes per value."""
    total = 0
    for module in spectra:
        info = reader.info(module)
        total += info.out_features + int(np.prod(info.down_shape[1:]))
    return float(total * BYTES.get(dtype, 2))


def _file_roots(pool: PoolFiles, member: Member) -> set[str]:
    """Keys of the files a recipe rests on, through derived roots too (for the parents' metadata)."""
    out: set[str] = set()
    todo = list(member.recipe.roots)
    while todo:
        key = todo.pop()
        root = pool.roots[key]
        if root.derived is not None:
            todo.extend(root.derived.source.roots)
        else:
            out.add(key)
    return out


def _metadata(pool: PoolFiles, member: Member, target: Path, plan: SavePlan,
              options: SaveOptions) -> dict[str, str]:
    """The shared lineage keys (`lineage.py`) plus what only a saved recipe has: derived roots and the error."""
    derived = {k: r.derived.to_json() for k, r in pool.roots.items() if r.derived is not None
               and k in member.recipe.roots}
    metadata = lineage_metadata(member, pool.root_names(), stem=target.stem, max_rank=plan.rank,
                                retained_energy=plan.retained_energy, score_kind=options.score_kind)
    metadata["stylemix_derived_roots"] = json.dumps(derived, separators=(",", ":")) if derived else ""
    metadata["stylemix_relative_error"] = repr(plan.relative_error)
    return metadata


def _free_name(folder: Path, stem: str, digest: str) -> tuple[Path, dict[str, str] | None]:
    """The first of `stem`, `stem_2`, … that is free (metadata None) or already holds this recipe (its metadata)."""
    from lib_stylemix.lora import open_lora

    i = 1
    while True:
        name = f"{stem}.safetensors" if i == 1 else f"{stem}_{i}.safetensors"
        target = safe_child(folder, name)
        if not target.exists():
            return target, None
        try:
            with open_lora(target) as existing:
                metadata = dict(existing.metadata)
        except StyleMixError:
            metadata = {}
        if metadata.get(DIGEST_KEY) == digest:
            return target, metadata
        i += 1
