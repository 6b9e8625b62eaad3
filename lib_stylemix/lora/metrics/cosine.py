"""cosine: 1 − cos(ΔW_i, ΔW_j), the angle between effects regardless of their strength."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib_stylemix.lora.metrics import METRICS, Metric, cosine_from_gram

if TYPE_CHECKING:
    import numpy as np  # imported where used: `--help` lists the metrics without numpy


def cosine_distance(gram: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.clip(1.0 - cosine_from_gram(gram), 0.0, 2.0)


METRICS.register(Metric(
    name="cosine",
    label="cosine distance 1 − cos(ΔW_i, ΔW_j)",
    help="1 − cos(ΔW_i, ΔW_j): direction only, independent of strength",
    from_gram=cosine_distance,
    title="ΔW cosine distance",
    axis="1 − cos(ΔWᵢ, ΔWⱼ)",
    order=10,
))
