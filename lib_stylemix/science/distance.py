"""2-Wasserstein distance between style descriptors, and LoRA-to-LoRA distance matrices from render sets.

For diagonal Gaussians N(μ₁, diag σ₁²) and N(μ₂, diag σ₂²) the general formula
W₂² = ‖μ₁−μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₂^½ Σ₁ Σ₂^½)^½) collapses to ‖μ₁−μ₂‖² + ‖σ₁−σ₂‖², so a
distance costs O(C). A LoRA's style is the render set made with it (fixed prompts × seeds); the distance
between two LoRAs is the mean W₂ over the renders that share a prompt and seed, so content differences
between prompts never count as style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lib_stylemix.errors import StyleMixError
from lib_stylemix.science.features import StyleDescriptor


def w2_squared(a: StyleDescriptor, b: StyleDescriptor) -> float:
    """Squared 2-Wasserstein distance between two diagonal Gaussians (closed form)."""
    if a.mean.shape != b.mean.shape:
        raise StyleMixError(f"descriptors have {a.mean.shape[0]} and {b.mean.shape[0]} channels")
    return float(np.sum((a.mean - b.mean) ** 2) + np.sum((a.std - b.std) ** 2))


def w2(a: StyleDescriptor, b: StyleDescriptor) -> float:
    """2-Wasserstein distance between two diagonal Gaussians."""
    return float(np.sqrt(max(w2_squared(a, b), 0.0)))


def pairwise_w2(descriptors: Sequence[StyleDescriptor]) -> np.ndarray:
    """n×n matrix of W₂ between descriptors (vectorised: ‖[μ,σ]ᵢ − [μ,σ]ⱼ‖)."""
    if not descriptors:
        return np.zeros((0, 0))
    stacked = np.stack([np.concatenate([d.mean, d.std]) for d in descriptors])
    sq = np.sum(stacked**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * stacked @ stacked.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


RenderSet = Mapping[str, StyleDescriptor]
"""One LoRA's renders: descriptor by render key (e.g. "prompt#i/seed")."""


def set_distance(a: RenderSet, b: RenderSet) -> float:
    """Mean W₂ over the render keys both sets have (same prompt and seed); error when they share none."""
    keys = sorted(set(a) & set(b))
    if not keys:
        raise StyleMixError("the two render sets share no prompt/seed; render both with the same fixed set")
    return float(np.mean([w2(a[k], b[k]) for k in keys]))


def distance_matrix(sets: Sequence[RenderSet]) -> np.ndarray:
    """Symmetric n×n LoRA-to-LoRA style distances (zero diagonal) from each LoRA's render set."""
    n = len(sets)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = set_distance(sets[i], sets[j])
    return out
