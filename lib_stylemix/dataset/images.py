"""Load a folder of images as one consistent set: 8-bit RGB, upright, naturally sorted, each with a description.

The source folder is only ever read. `prepare_image_set` writes cropped copies plus an `images.json` manifest
into a new folder, which `load_image_set` (and the restyle plan) read back with the edited descriptions.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lib_stylemix.dataset.descriptions import (
    MANIFEST_NAME,
    description_from_stem,
    manifest_document,
    read_descriptions,
    read_sidecar,
    write_manifest,
)
from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.fsutil import safe_child, write_with
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
QUIET_SUFFIXES = (".txt", ".json", ".csv")  # sidecars and manifests live next to images; no warning for them
CROP_MODES = ("center", "focal", "pad")
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class ImageEntry:
    """One usable image: where it is, the unique stem outputs are named after, and what it shows."""

    path: str
    stem: str
    description: str
    width: int
    height: int
    description_source: str = "filename"  # "manifest" | "sidecar" | "filename"


@dataclass
class ImageSet:
    folder: str
    entries: list[ImageEntry]
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def descriptions(self) -> dict[str, str]:
        """File name → description, the shape the manifest and CSV use."""
        return {Path(e.path).name: e.description for e in self.entries}


def _save_png(image: Image.Image, tmp: Path) -> None:
    """`write_with` callback (bound with functools.partial: a lambda default would hide the type)."""
    image.save(tmp, format="PNG")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key where `img2` comes before `img10` and case does not matter."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.casefold()) for part in re.split(r"(\d+)", name))


def _wide_to_8bit(image: Image.Image, source_format: str | None) -> np.ndarray:
    """16-bit, 32-bit integer or float greyscale → uint8. PNG's only wide grey is 16-bit, which Pillow opens as
    `I`; elsewhere an `I` image whose values stay within 0..255 is taken to be 8-bit data, and a float image
    within 0..1 to be normalised."""
    values = np.asarray(image, dtype=np.float64)
    peak = float(values.max(initial=0.0))
    if image.mode.startswith("I;16") or (image.mode == "I" and (source_format == "PNG" or peak > 255.0)):
        values = values / 65535.0 * 255.0
    elif image.mode == "F" and peak <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def to_rgb(image: Image.Image, background: Colour = (255, 255, 255)) -> Image.Image:
    """Return an upright 8-bit RGB copy: EXIF rotation applied, transparency flattened onto `background`,
    16-bit / float / CMYK / greyscale / palette converted."""
    source_format = image.format  # copies made below forget it
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_wide_to_8bit(image, source_format), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if mode == "RGB":
        return image.copy()
    return image.convert("RGB")


_BOMBS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@contextlib.contextmanager
def _bombs_refused() -> Iterator[None]:
    """Pillow only warns between 1× and 2× its pixel limit; treat that like the error above 2×, consistently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _bomb_message(name: str) -> str:
    limit = Image.MAX_IMAGE_PIXELS or 0
    return f"{name}: too large to decode safely (over Pillow's decompression-bomb limit of {limit:,} pixels)"


def open_rgb(path: str | Path, background: Colour = (255, 255, 255)) -> Image.Image:
    """Open one image file as upright 8-bit RGB; a file Pillow cannot (or must not) decode is a `StyleMixError`."""
    path = Path(path)
    try:
        with _bombs_refused(), Image.open(path) as image:
            image.load()
            return to_rgb(image, background)
    except _BOMBS as exc:
        raise StyleMixError(_bomb_message(str(path))) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise StyleMixError(f"{path}: not a readable image ({exc})") from exc


def list_image_files(folder: str | Path) -> tuple[list[Path], list[str]]:
    """Image files directly in `folder` in natural order, and warnings for files that are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StyleMixError(f"{folder}: not a folder")
    images: list[Path] = []
    warnings: list[str] = []
    for path in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        if path.name.startswith(".") or path.is_dir():
            continue
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            images.append(path)
        elif suffix not in QUIET_SUFFIXES:
            warnings.append(f"{path.name}: not an image type we read ({', '.join(IMAGE_SUFFIXES)}), skipped")
    return images, warnings


def _probe(path: Path) -> tuple[int, int]:
    """Upright size of an image, decoding it fully so truncated or fake files are caught here."""
    try:
        with _bombs_refused(), Image.open(path) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return upright.size
    except _BOMBS as exc:
        raise StyleMixError(_bomb_message(path.name)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise StyleMixError(f"{path.name}: not a readable image ({type(exc).__name__}: {exc})") from exc


def _unique_stem(stem: str, taken: set[str]) -> str:
    candidate, n = stem, 2
    while candidate.casefold() in taken:
        candidate, n = f"{stem}_{n}", n + 1
    taken.add(candidate.casefold())
    return candidate


def load_image_set(folder: str | Path, *, manifest: str | Path | None = None) -> ImageSet:
    """Read every image in `folder` (not recursive) with its description; unreadable files become warnings.

    Descriptions come from `manifest` (or `folder/images.json` when present and ours), else a sidecar
    `<stem>.txt`, else the file name. Stems are made unique (case-insensitively) because outputs are named after them.
    """
    folder = Path(folder)
    files, warnings = list_image_files(folder)
    from_manifest: dict[str, str] = {}
    if manifest is not None:
        from_manifest = read_descriptions(manifest)
    elif (folder / MANIFEST_NAME).is_file():
        try:
            from_manifest = read_descriptions(folder / MANIFEST_NAME)
        except StyleMixError as exc:  # someone else's images.json: note it, do not let it block the folder
            warnings.append(f"{exc}; descriptions taken from sidecars and file names instead")
    entries: list[ImageEntry] = []
    taken: set[str] = set()
    for path in files:
        try:
            width, height = _probe(path)
        except StyleMixError as exc:
            warnings.append(f"{exc}; skipped")
            continue
        if path.name in from_manifest:
            description, source = from_manifest[path.name], "manifest"
        else:
            sidecar = read_sidecar(path)
            description, source = (sidecar, "sidecar") if sidecar else (description_from_stem(path.stem), "filename")
        stem = _unique_stem(path.stem, taken)
        entries.append(ImageEntry(str(path), stem, description, width, height, source))
    if not entries:
        detail = f" ({len(warnings)} files skipped)" if warnings else ""
        raise StyleMixError(f"{folder}: no readable images found{detail}")
    return ImageSet(str(folder), entries, warnings)


@dataclass
class PrepareResult:
    """What `prepare_image_set` wrote: the new set, the manifest, and the sources it left out (with reasons)."""

    image_set: ImageSet
    manifest_path: str
    skipped: list[dict[str, str]]
    warnings: list[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "folder": self.image_set.folder,
            "manifest": self.manifest_path,
            "images": [asdict(e) for e in self.image_set.entries],
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


def parse_size(text: str | int | Sequence[int]) -> tuple[int, int]:
    """`512`, `"768"`, `"832x1216"` or `(w, h)` → (width, height), each a positive multiple of 8."""
    if isinstance(text, int):
        width = height = text
    elif isinstance(text, str):
        parts = re.split(r"\s*[xX×,]\s*", text.strip())
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise StyleMixError(f"size {text!r}: expected N or WIDTHxHEIGHT") from None
        if len(numbers) not in (1, 2):
            raise StyleMixError(f"size {text!r}: expected N or WIDTHxHEIGHT")
        width, height = numbers[0], numbers[-1]
    else:
        width, height = (int(v) for v in text)
    for value in (width, height):
        if value < 64 or value % 8:
            raise StyleMixError(f"size {width}x{height}: each side must be a multiple of 8 and at least 64")
    return width, height


def prepare_image_set(  # noqa: PLR0913 — keyword-only options of one user action
    src: str | Path,
    dst: str | Path,
    size: int | str | Sequence[int] = 512,
    crop: str = "center",
    *,
    background: Colour = (255, 255, 255),
    allow_upscale: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> PrepareResult:
    """Write every usable image of `src` to `dst` as `<stem>.png` at `size`, cropped by `crop`, plus `images.json`.

    A source smaller than the target is skipped with a warning unless `allow_upscale`. `src` is never written
    to; `dst` must be a different folder, and existing files in it are kept unless `overwrite`.
    """
    from lib_stylemix.dataset.crop import fit_image

    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    if crop not in CROP_MODES:
        raise StyleMixError(f"crop mode {crop!r}: choose one of {', '.join(CROP_MODES)}")
    width, height = parse_size(size)
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise StyleMixError(f"{dst}: output must be a new folder outside the source folder {src}")
    source_set = load_image_set(src)
    warnings = list(source_set.warnings)
    skipped: list[dict[str, str]] = [
        {"file": w.split(":", 1)[0], "reason": w} for w in source_set.warnings if w.endswith("skipped")
    ]
    dst.mkdir(parents=True, exist_ok=True)
    entries: list[ImageEntry] = []
    records: list[dict[str, object]] = []
    progress.begin(len(source_set), f"preparing {len(source_set)} images")
    header = {"source": str(src), "size": [width, height], "crop": crop, "skipped": skipped}
    for done, entry in enumerate(source_set.entries, start=1):
        if cancel.cancelled():
            progress.end("cancelled")
            if records:
                write_manifest(dst / MANIFEST_NAME, manifest_document(records, **header), overwrite=overwrite)
            raise CancelledError(f"stopped after {len(entries)} of {len(source_set)} images; {dst} keeps them")
        name = Path(entry.path).name
        progress.step(done, name)
        try:
            image = open_rgb(entry.path, background)
        except StyleMixError as exc:
            warnings.append(f"{exc}; skipped")
            skipped.append({"file": name, "reason": str(exc)})
            continue
        fitted = fit_image(image, (width, height), crop, background=background, allow_upscale=allow_upscale)
        if fitted.image is None:
            reason = (
                f"{name}: {entry.width}x{entry.height} is smaller than {width}x{height}; "
                "skipped (allow upscaling to keep it)"
            )
            warnings.append(reason)
            skipped.append({"file": name, "reason": reason})
            continue
        if fitted.upscaled:
            warnings.append(f"{name}: {entry.width}x{entry.height} upscaled to fit {width}x{height}")
        target = safe_child(dst, f"{entry.stem}.png")
        out_image = fitted.image
        write_with(target, functools.partial(_save_png, out_image), overwrite=overwrite)
        entries.append(ImageEntry(str(target), entry.stem, entry.description, width, height, entry.description_source))
        records.append(
            {
                "file": target.name,
                "description": entry.description,
                "source": name,
                "source_size": [entry.width, entry.height],
                "crop_box": [round(v, 2) for v in fitted.box],
                "method": fitted.method,
            }
        )
    progress.end(f"prepared {len(entries)} images")
    if not entries:
        raise StyleMixError(f"{src}: no image could be prepared ({len(skipped)} skipped): {'; '.join(warnings)}")
    manifest_path = write_manifest(dst / MANIFEST_NAME, manifest_document(records, **header), overwrite=overwrite)
    return PrepareResult(ImageSet(str(dst), entries, []), str(manifest_path), skipped, warnings)
