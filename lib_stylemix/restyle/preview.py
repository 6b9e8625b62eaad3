"""The `preview` backend: no diffusion, just the canny map each job would send to ControlNet, tinted per style.

It exercises the whole plan → execute → layout → grid path without a GPU, and shows what ControlNet will be
asked to follow. Every image is stamped "preview" so it can never be mistaken for a real restyle.
"""

from __future__ import annotations

import colorsys
import hashlib

import numpy as np
from PIL import Image, ImageDraw

from lib_stylemix.dataset.canny import canny_map
from lib_stylemix.dataset.crop import fit_image
from lib_stylemix.dataset.drawing import label_font
from lib_stylemix.dataset.images import open_rgb
from lib_stylemix.restyle.plan import RestyleJob
from lib_stylemix.seams import GeneratedImage


def style_colour(style: str) -> tuple[int, int, int]:
    """A bright colour fixed by the style name (same name → same colour on every machine)."""
    hue = int.from_bytes(hashlib.sha256(style.encode("utf-8")).digest()[:2], "big") / 65536
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


class PreviewGenerator:
    """Draws the job's canny edges in the style's colour on a dark tint of the same colour."""

    name = "preview"

    def generate(self, job: RestyleJob) -> list[GeneratedImage]:
        source = open_rgb(job.image_path)
        fitted = fit_image(source, (job.width, job.height), "center", allow_upscale=True).image
        assert fitted is not None  # upscaling is allowed, so there is always an image
        edges = canny_map(fitted, job.canny.low, job.canny.high) > 0
        colour = np.array(style_colour(job.style), dtype=np.float32)
        canvas = np.empty((job.height, job.width, 3), dtype=np.float32)
        canvas[:] = colour * 0.18
        canvas[edges] = colour
        image = Image.fromarray(canvas.astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        font = label_font(max(12, job.width // 24))
        draw.text(
            (8, 6), f"preview · {job.style}", fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0)
        )
        return [GeneratedImage(image.copy()) for _ in range(job.batch_size)]
