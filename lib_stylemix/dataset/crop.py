"""Fit an image to the generation size: centre crop, focal crop (faces, else salient detail) or letterbox.

The focal point uses only what ships with opencv-python: the frontal-face Haar cascade when it is present,
otherwise a saliency map (spectral residual, Hou & Zhang 2007) blended with Sobel edge energy. No models
are downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]
FaceBoxes = list[tuple[int, int, int, int]]  # (x, y, w, h) in the image's pixels
ANALYSIS_SIDE = 512  # faces and saliency are found on a copy no larger than this: fast and good enough


@dataclass
class Fitted:
    """Result of fitting one image: `image` is None when it would need upscaling and that was not allowed."""

    image: Image.Image | None
    box: Box  # the region of the source that was used (left, top, right, bottom)
    method: str  # "center" | "face" | "saliency" | "pad"
    upscaled: bool


@functools.lru_cache(maxsize=1)
def _face_cascade():  # -> cv2.CascadeClassifier | None
    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder:
        return None
    path = Path(folder) / "haarcascade_frontalface_default.xml"
    if not path.is_file():
        return None
    cascade = cv2.CascadeClassifier(str(path))
    return None if cascade.empty() else cascade


def detect_faces(image: Image.Image) -> FaceBoxes:
    """Frontal faces as (x, y, w, h) boxes in `image` pixels; empty when none or the cascade is unavailable."""
    import cv2

    cascade = _face_cascade()
    if cascade is None:
        return []
    scale = min(1.0, ANALYSIS_SIDE / max(image.size))
    small = image.convert("L")
    if scale < 1.0:
        small = small.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
    grey = cv2.equalizeHist(np.asarray(small))
    min_side = max(24, round(min(small.size) * 0.08))
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    return [tuple(round(v / scale) for v in box) for box in np.asarray(found).reshape(-1, 4)]


def saliency_map(image: Image.Image) -> np.ndarray:
    """Where the eye goes, in [0, 1] at a reduced size: spectral-residual saliency blended with edge energy."""
    import cv2

    scale = min(1.0, 128 / max(image.size))
    size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
    grey = np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    if float(grey.max() - grey.min()) < 2.0 / 255.0:
        return np.zeros_like(grey)  # nothing stands out; FFT round-off would otherwise pick a random spot
    spectrum = np.fft.fft2(grey)
    log_amplitude = np.log1p(np.abs(spectrum))
    residual = log_amplitude - cv2.blur(log_amplitude.astype(np.float32), (3, 3))
    spectral: np.ndarray = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    spectral = cv2.GaussianBlur(spectral.astype(np.float32), (0, 0), sigmaX=max(1.0, min(size) / 32))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    edges = cv2.GaussianBlur(np.hypot(gx, gy), (0, 0), sigmaX=max(1.0, min(size) / 32))
    return 0.5 * _normalise(spectral) + 0.5 * _normalise(edges)


def _normalise(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values, dtype=np.float32) if high - low < 1e-12 else (values - low) / (high - low)


def focal_point(
    image: Image.Image, *, faces: Callable[[Image.Image], FaceBoxes] = detect_faces
) -> tuple[float, float, str, Box | None]:
    """(x, y, method, region to keep): centre of all faces, else the centroid of the most salient area."""
    boxes = faces(image)
    if boxes:
        left = min(b[0] for b in boxes)
        top = min(b[1] for b in boxes)
        right = max(b[0] + b[2] for b in boxes)
        bottom = max(b[1] + b[3] for b in boxes)
        return (left + right) / 2, (top + bottom) / 2, "face", (left, top, right, bottom)
    weights = saliency_map(image)
    if float(weights.max()) <= 0.0:
        return image.width / 2, image.height / 2, "center", None
    weights = np.where(weights >= np.quantile(weights, 0.9), weights, 0.0)
    ys, xs = np.indices(weights.shape)
    total = float(weights.sum())
    cx = (float((xs * weights).sum()) / total + 0.5) * image.width / weights.shape[1]
    cy = (float((ys * weights).sum()) / total + 0.5) * image.height / weights.shape[0]
    return cx, cy, "saliency", None


def _window(center: float, length: float, limit: float, keep: tuple[float, float] | None) -> float:
    """Start of a window of `length` inside [0, limit] centred on `center`, shifted to contain `keep` if it fits."""
    start = center - length / 2
    if keep is not None and keep[1] - keep[0] <= length:
        start = min(max(start, keep[1] - length), keep[0])
    return min(max(start, 0.0), limit - length)


def crop_box(
    size: tuple[int, int], target: tuple[int, int], focus: tuple[float, float], keep: Box | None = None
) -> Box:
    """The largest region with the target's aspect ratio, centred on `focus` and kept inside the image."""
    width, height = size
    scale = max(target[0] / width, target[1] / height)
    crop_w, crop_h = min(width, target[0] / scale), min(height, target[1] / scale)
    left = _window(focus[0], crop_w, width, (keep[0], keep[2]) if keep else None)
    top = _window(focus[1], crop_h, height, (keep[1], keep[3]) if keep else None)
    return left, top, left + crop_w, top + crop_h


def fit_image(
    image: Image.Image,
    target: tuple[int, int],
    mode: str = "center",
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    allow_upscale: bool = False,
    faces: Callable[[Image.Image], FaceBoxes] = detect_faces,
) -> Fitted:
    """Resize `image` (RGB) to exactly `target` = (width, height) with the given crop mode."""
    width, height = image.size
    if mode == "pad":
        scale = min(target[0] / width, target[1] / height)
        upscaled = scale > 1.0 + 1e-9
        box: Box = (0.0, 0.0, float(width), float(height))
        if upscaled and not allow_upscale:
            return Fitted(None, box, "pad", True)
        inner = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = Image.new("RGB", target, background)
        canvas.paste(
            image.resize(inner, Image.Resampling.LANCZOS), ((target[0] - inner[0]) // 2, (target[1] - inner[1]) // 2)
        )
        return Fitted(canvas, box, "pad", upscaled)
    scale = max(target[0] / width, target[1] / height)
    upscaled = scale > 1.0 + 1e-9
    if mode == "focal":
        fx, fy, method, keep = focal_point(image, faces=faces)
    else:
        fx, fy, method, keep = width / 2, height / 2, "center", None
    box = crop_box(image.size, target, (fx, fy), keep)
    if upscaled and not allow_upscale:
        return Fitted(None, box, method, True)
    return Fitted(image.resize(target, Image.Resampling.LANCZOS, box=box), box, method, upscaled)
