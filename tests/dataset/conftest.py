"""Image files made on the spot: every awkward kind the loader has to cope with."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

ORIENTATION = 0x0112


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def halves(size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", size, right)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 2 - 1, size[1] - 1), fill=left)
    return image


def cartoon_face(size=(1024, 512), centre=(850, 250), radius=110) -> Image.Image:
    """A drawn frontal face that OpenCV's default Haar cascade detects (skin oval, brows, eyes, nose, mouth)."""
    cx, cy, r = centre[0], centre[1], radius
    image = Image.new("RGB", size, (40, 60, 90))
    draw = ImageDraw.Draw(image)
    draw.ellipse((cx - r, cy - int(r * 1.3), cx + r, cy + int(r * 1.3)), fill=(225, 190, 160))
    for side in (-1, 1):
        ex, ey = cx + side * int(r * 0.42), cy - int(r * 0.3)
        brow = (ex - int(r * 0.28), ey - int(r * 0.32), ex + int(r * 0.28), ey - int(r * 0.22))
        draw.rectangle(brow, fill=(60, 40, 30))
        draw.ellipse((ex - int(r * 0.22), ey - int(r * 0.1), ex + int(r * 0.22), ey + int(r * 0.1)), fill=(30, 20, 20))
    draw.polygon(
        [(cx, cy - int(r * 0.2)), (cx - int(r * 0.12), cy + int(r * 0.35)), (cx + int(r * 0.12), cy + int(r * 0.35))],
        fill=(200, 160, 130),
    )
    draw.ellipse((cx - int(r * 0.35), cy + int(r * 0.55), cx + int(r * 0.35), cy + int(r * 0.75)), fill=(150, 60, 60))
    return image.filter(ImageFilter.GaussianBlur(3))


def salient_object(size=(1024, 512), centre=(900, 256), radius=70, seed=0) -> Image.Image:
    """A flat background with one busy, high-contrast disc: the only thing worth looking at."""
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), (120, 140, 120), dtype=np.uint8)
    ys, xs = np.ogrid[: size[1], : size[0]]
    inside = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2
    pixels[inside] = rng.integers(0, 256, size=(int(inside.sum()), 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """One of each: EXIF-rotated JPEG, RGBA, palette with transparency, CMYK, 16-bit, greyscale, tiny, fake."""
    folder = tmp_path / "src"
    folder.mkdir()
    rotated = halves((600, 400), (255, 0, 0), (0, 0, 255))  # stored landscape, shown portrait
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    rotated.save(folder / "rotated_photo.jpg", quality=95, exif=exif.tobytes())
    rgba = Image.new("RGBA", (600, 600), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((0, 0, 299, 599), fill=(0, 200, 0, 255))
    rgba.save(folder / "transparent_logo.png")
    palette = Image.new("P", (600, 600), 0)
    palette.putpalette([10, 20, 30] + [200, 50, 50] + [0, 0, 0] * 254)
    ImageDraw.Draw(palette).rectangle((300, 0, 599, 599), fill=1)
    palette.save(folder / "palette_icon.png", transparency=0)
    Image.new("CMYK", (600, 520), (0, 255, 255, 0)).save(folder / "print_scan.jpg", quality=95)
    ramp = np.tile(np.linspace(0, 65535, 640, dtype=np.uint16), (520, 1))
    Image.fromarray(ramp, "I;16").save(folder / "deep_ramp.png")
    Image.new("L", (640, 640), 90).save(folder / "grey_square.png")
    Image.new("RGB", (40, 30), (1, 2, 3)).save(folder / "tiny_thumb.png")
    (folder / "not_really.png").write_text("this is text, not a PNG", encoding="utf-8")
    (folder / "notes.md").write_text("ignore me", encoding="utf-8")
    (folder / "grey_square.txt").write_text("  a plain grey\nsquare  \n", encoding="utf-8")
    return folder
