"""frobenius: ‖ΔW_i − ΔW_j‖_F summed over modules, from G as √(G_ii + G_jj − 2 G_ij)."""

from __future__ import annotations

import numpy as np

from lib_stylemix.lora.metrics import METRICS, Metric, sq_distances_from_gram


def frobenius(gram: np.ndarray) -> np.ndarray:
    return np.sqrt(sq_distances_from_gram(gram))


METRICS.register(Metric(
    name="frobenius",
    label="Frobenius distance ‖ΔW_i − ΔW_j‖",
    help="‖ΔW_i − ΔW_j‖ (summed over modules): how far apart the effects are, scale included",
    from_gram=frobenius,
    title="ΔW distance",
    axis="‖ΔWᵢ − ΔWⱼ‖_F",
    order=0,
))
