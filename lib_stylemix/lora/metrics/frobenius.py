"""frobenius: ‖ΔW_i − ΔW_j‖_F summed over modules, from G as √(G_ii + G_jj − 2 G_ij)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib_stylemix.lora.metrics import METRICS, Metric, sq_distances_from_gram

if TYPE_CHECKING:
    import numpy as np  # imported where used: `--help` lists the metrics without numpy


def frobenius(gram: np.ndarray) -> np.ndarray:
    import numpy as np

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
