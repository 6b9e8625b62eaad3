"""Materialise a recipe member as a LoRA file: exact concat compressed by the engine's svd, with lineage metadata.

Names are `sm_<short-parents>_<hash8>.safetensors` with hash8 from the recipe, and nothing is ever
overwritten: a file of that name that already holds the same recipe is reused, another file of that name
makes us pick `…_2`, `…_3`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import safe_child
from lib_stylemix.pool.lineage import DIGEST_KEY, lineage_metadata
from lib_stylemix.pool.members import FILE, Member
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.seams import CancelToken, Progress

__all__ = ["DIGEST_KEY", "PoolRoots", "recipe_terms", "save_member"]


class PoolRoots(Protocol):
    """What saving needs of a pool (its root files), so this module does not import `pool.py` (no cycle)."""

    roots: Mapping[str, Any]

    def root_names(self) -> dict[str, str]: ...


def recipe_terms(roots: Mapping[str, Any], recipe: Recipe) -> list[Any]:
    """The engine's `MergeTerm`s for a recipe over root files (`roots[key].lora` is the opened file)."""
    from lib_stylemix.lora import MergeTerm

    return [MergeTerm(roots[key].lora, weight, block_weights) for key, weight, block_weights in recipe.merge_weights()]


def save_member(
    pool: PoolRoots,
    member: Member,
    folder: Path,
    *,
    max_rank: int | None,
    dtype: str,
    score_kind: str | None,
    progress: Progress,
    cancel: CancelToken,
) -> Path:
    """Write `member` into `folder` (or find it already there) and record the path on the member."""
    from lib_stylemix.lora import merge, write_lora

    if member.kind == FILE and member.path is not None:
        return member.path
    digest = member.recipe.digest()
    target, existing = _free_name(folder, member.name, digest)
    if existing is not None:
        member.path = target
        energy = existing.get("stylemix_retained_energy")
        member.retained_energy = float(energy) if energy else member.retained_energy
        return target
    roots = [pool.roots[key] for key in member.recipe.roots]
    missing = [r.name for r in roots if r.lora is None]
    if missing:
        raise StyleMixError(f"{member.name}: cannot save, file(s) not loaded: {', '.join(missing)}")
    rank = max_rank or max(int(r.rank or r.lora.rank) for r in roots)
    terms = recipe_terms({r.key: r for r in roots}, member.recipe)
    # When the exact concat already fits the rank budget (e.g. a crossover, or one parent per block) it is
    # written as is: no compression needed, retained energy 1.
    method = "concat" if _concat_rank(terms) <= rank else "svd"
    merged = merge(terms, method=method, rank=rank if method == "svd" else None, progress=progress, cancel=cancel)
    metadata = lineage_metadata(member, pool.root_names(), stem=target.stem, max_rank=rank,
                                retained_energy=merged.retained_energy, score_kind=score_kind)
    written = write_lora(merged, target, dtype=dtype, extra_metadata=metadata, parents=[r.lora for r in roots],
                         overwrite=False)
    member.path = Path(written.path)
    member.retained_energy = 1.0 if merged.retained_energy is None else float(merged.retained_energy)
    return member.path


def _concat_rank(terms: list[Any]) -> int:
    """Largest per-module rank an exact concat of `terms` would have (terms with weight 0 there drop out)."""
    modules = set().union(*(t.file.modules for t in terms))
    return max((sum(t.file.modules[m].rank for t in terms if m in t.file.modules and t.weight_for(m) != 0.0)
                for m in modules), default=0)


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
