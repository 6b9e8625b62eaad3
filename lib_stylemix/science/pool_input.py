"""The correlation report's inputs from a pool: subjects (by prompt stacking), ΔW distances, per-block K.

A member is rendered through the `<lora:…>` tags of its recipe's root files (one weight per file), which
adds exactly Σ wᵢΔWᵢ; members with per-block weights cannot be written as tags and are left out with a
note (save them first, then add the saved file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lib_stylemix.science.render import Subject

if TYPE_CHECKING:
    from lib_stylemix.pool.pool import Pool


def pool_subjects(pool: Pool) -> tuple[list[Subject], list[int], list[str]]:
    """(subjects, their member indices, notes on members left out)."""
    subjects, kept, notes = [], [], []
    for index, member in enumerate(pool.members):
        loras = []
        for key, weight, block_weights in member.recipe.merge_weights():
            if block_weights is not None:
                notes.append(f"{member.name}: per-block weights cannot be rendered by tags; save it first")
                break
            root = pool.roots[key]
            loras.append((root.path.stem if root.path else root.name, float(weight)))
        else:
            subjects.append(Subject(member.name, tuple(loras)))
            kept.append(index)
    return subjects, kept, notes


def pool_geometry(pool: Pool, kept: list[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """ΔW distance matrix and per-block member K restricted to the kept members."""
    idx = np.asarray(kept, dtype=int)
    kernel = pool.kernel()
    dw = pool.distances("frobenius")[np.ix_(idx, idx)]
    return dw, {block: k[np.ix_(idx, idx)] for block, k in kernel.by_block.items()}
