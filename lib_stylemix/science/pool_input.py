"""The correlation report's inputs from a pool: subjects (by prompt stacking), ΔW distances, per-block K.

A member or an evolve candidate is rendered through the `<lora:…>` tags of its recipe's root files (one
weight per file), which adds exactly Σ wᵢΔWᵢ; recipes with per-block weights cannot be written as tags and
are left out with a note (save them first, then add the saved file). The ΔW geometry of whatever is kept
comes exactly from the pool's per-block kernel: with coefficient stacks x (subjects × blocks × roots),
K_b(subjects) = x_b K_b x_bᵀ and the distance is √(Σ_b (K_b,ii + K_b,jj − 2K_b,ij)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_stylemix.science.render import Subject

if TYPE_CHECKING:
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.recipe import Recipe


def _stack_of(pool: Pool, name: str, recipe: Recipe) -> tuple[tuple[str, float], ...] | None:
    loras = []
    for key, weight, block_weights in recipe.merge_weights():
        if block_weights is not None:
            return None
        root = pool.roots[key]
        loras.append((root.path.stem if root.path else root.name, float(weight)))
    return tuple(loras)


def pool_subjects(pool: Pool, candidates: Sequence[Any] = ()) -> tuple[list[Subject], np.ndarray, list[str]]:
    """(subjects, their coefficient stack, notes on what was left out): the members, then the candidates."""
    keys, blocks = pool.space.keys, pool.space.blocks
    named = [(m.name, m.recipe) for m in pool.members]
    named += [(f"candidate {i + 1} ({c.kind})", c.recipe) for i, c in enumerate(candidates)]
    subjects, coefs, notes = [], [], []
    for name, recipe in named:
        stack = _stack_of(pool, name, recipe)
        if stack is None:
            notes.append(f"{name}: per-block weights cannot be rendered by tags; save it first")
            continue
        subjects.append(Subject(name, stack))
        coefs.append(recipe.dense(keys, blocks))
    coef = np.stack(coefs) if coefs else np.zeros((0, len(blocks), len(keys)))
    return subjects, coef, notes


def pool_geometry(pool: Pool, coef: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """ΔW distance matrix and per-block Gram matrices of the recipes in `coef` (exact, from the pool's K)."""
    space = pool.space
    by_block = {block: coef[:, b, :] @ space.by_block[b] @ coef[:, b, :].T for b, block in enumerate(space.blocks)}
    dw = np.sqrt(space.sq_distances(coef, coef))
    np.fill_diagonal(dw, 0.0)
    return dw, by_block
