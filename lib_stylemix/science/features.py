"""Style descriptors from U-Net feature maps (the IntroStyle recipe, arXiv 2412.14432).

An image's style is summarised by the per-channel mean and variance of one up-block's activations: the
spatial layout (content) averages out, the channel statistics (colour, texture, stroke) stay. The
descriptor is a diagonal Gaussian N(μ, diag(σ²)) over the C channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lib_stylemix.errors import StyleMixError


@dataclass(frozen=True)
class StyleDescriptor:
    """Channel means and variances of one image's features (float64, length C each)."""

    mean: np.ndarray
    var: np.ndarray

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.var, 0.0))

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "var": [float(v) for v in self.var]}

    @staticmethod
    def from_json(doc: dict[str, Sequence[float]]) -> StyleDescriptor:
        mean = np.asarray(doc["mean"], dtype=np.float64)
        var = np.asarray(doc["var"], dtype=np.float64)
        if mean.shape != var.shape or mean.ndim != 1:
            raise StyleMixError(f"style descriptor: mean {mean.shape} and var {var.shape} do not match")
        return StyleDescriptor(mean, var)


def describe(features: np.ndarray) -> list[StyleDescriptor]:
    """One descriptor per image of a B×C×H×W feature map (population variance over the H·W positions)."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[2] * array.shape[3] == 0:
        raise StyleMixError(f"features must be B×C×H×W with H·W > 0, got shape {tuple(np.shape(features))}")
    if not np.all(np.isfinite(array)):
        raise StyleMixError("features contain NaN or infinity (the U-Net pass overflowed; try fp32)")
    flat = array.reshape(array.shape[0], array.shape[1], -1)
    means = flat.mean(axis=2)
    variances = flat.var(axis=2)
    return [StyleDescriptor(m, v) for m, v in zip(means, variances, strict=True)]


@runtime_checkable
class FeatureExtractor(Protocol):
    """Turns images into style descriptors. The webui implements it with the loaded checkpoint's VAE and
    U-Net (`lib_stylemix.webui.unet_features`); tests use a numpy stand-in. Checked for cancel between images
    by the caller; raises `StyleMixError` when no model is available."""

    def describe(self, images: Sequence[Any]) -> list[StyleDescriptor]: ...
