"""Test stand-ins for the style report: a txt2img generator that *draws* and a numpy feature extractor.

Each LoRA name has a hidden style vector s = (r, g, b, texture); a prompt's `<lora:name:w>` tags add
Σ w·s, which sets the background colour and the contrast of diagonal stripes, while the prompt and seed
only move a disc (content). So two prompt stacks differ in style exactly as their Σ w·s differ — the
same linear structure ΔW has — and a pool built from K = S·Sᵀ has ΔW distances ‖sᵢ − sⱼ‖.

Run `python -m tests.science.drawing OUT` to write the worked example of docs/science.md into OUT.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lib_stylemix.epochs.tags import with_loras
from lib_stylemix.science.features import StyleDescriptor, describe
from lib_stylemix.seams import GeneratedImage, Txt2ImgRequest

TAG = re.compile(r"<lora:([^:>]+):([-0-9.]+)>")


def style_vector(name: str) -> np.ndarray:
    digest = hashlib.sha256(name.encode()).digest()
    return np.array([b / 255.0 - 0.5 for b in digest[:4]]) * 2.0


def draw(prompt: str, seed: int, width: int, height: int) -> Image.Image:
    s = np.zeros(4)
    for name, weight in TAG.findall(prompt):
        s += float(weight) * style_vector(name)
    base = np.clip(128 + 100 * s[:3], 0, 255)
    image = Image.new("RGB", (width, height), tuple(int(v) for v in base))
    pen = ImageDraw.Draw(image)
    contrast = float(np.clip(60 + 60 * s[3], 0, 127))
    stripe = tuple(int(np.clip(v - contrast, 0, 255)) for v in base)
    for x in range(-height, width, 8):
        pen.line([(x, 0), (x + height, height)], fill=stripe, width=3)
    content = int(hashlib.sha256(f"{TAG.sub('', prompt)}|{seed}".encode()).hexdigest()[:6], 16)
    cx, cy = content % width, (content // width) % height
    pen.ellipse([cx - 10, cy - 10, cx + 10, cy + 10], fill=(240, 240, 240))
    return image


class DrawingGenerator:
    """`Txt2ImgGenerator` that draws (see the module docstring); records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def generate(self, request: Txt2ImgRequest) -> list[GeneratedImage]:
        prompt, seed = with_loras(request.prompt, request.loras), request.seed
        self.calls.append((prompt, seed))
        return [GeneratedImage(draw(prompt, seed, request.width, request.height), f"{prompt}, Seed: {seed}")]


class NumpyExtractor:
    """`FeatureExtractor` stand-in: channels R, G, B, luminance, |∂x L|, |∂y L| at full resolution."""

    def __init__(self) -> None:
        self.images = 0

    def describe(self, images) -> list[StyleDescriptor]:
        maps = []
        for image in images:
            a = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
            lum = a @ np.array([0.299, 0.587, 0.114])
            gx = np.abs(np.diff(lum, axis=1, append=lum[:, -1:]))
            gy = np.abs(np.diff(lum, axis=0, append=lum[-1:, :]))
            maps.append(np.stack([a[..., 0], a[..., 1], a[..., 2], lum, gx, gy]))
        self.images += len(images)
        return describe(np.stack(maps))


def example(out: Path) -> None:
    """The worked example: five drawn "LoRAs", their K-only pool, the report written to `out`."""
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.science.correlation import CorrelationSettings
    from lib_stylemix.science.pool_input import pool_geometry, pool_subjects
    from lib_stylemix.science.render import RenderRun, RenderSpec, correlation_report
    from lib_stylemix.science.report import write_report

    names = ["ink", "pastel", "neon", "charcoal", "watercolour", "pixel"]
    s = np.stack([style_vector(n) for n in names])
    pool = Pool.from_kernel(names, s @ s.T, {"colour": s[:, :3] @ s[:, :3].T, "texture": np.outer(s[:, 3], s[:, 3])})
    subjects, coef, _ = pool_subjects(pool)
    dw, by_block = pool_geometry(pool, coef)
    spec = RenderSpec(("a lighthouse on a cliff", "a bowl of fruit"), (1, 2), width=96, height=96)
    run = RenderRun(DrawingGenerator(), NumpyExtractor(), out / "renders")
    report, _ = correlation_report(subjects, dw, spec, run, by_block=by_block,
                                   settings=CorrelationSettings(samples=1000, seed=0))
    paths = write_report(report, out, overwrite=True)
    print(f"rho={report.rho:.3f} CI=[{report.ci_low:.3f}, {report.ci_high:.3f}] best block={report.best_block}")
    print(" ".join(str(p) for p in paths))


if __name__ == "__main__":
    example(Path(sys.argv[1]))
