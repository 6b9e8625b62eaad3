"""What the Dataset panel does, without gradio: prepare a folder, edit descriptions, check canny maps.

Source folders are only read. Descriptions are saved only into a prepared set's own `images.json` (the
manifest `prepare` wrote), never into a folder of the person's original images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelToken, Progress

if TYPE_CHECKING:
    from PIL import Image

DESCRIPTION_HEADERS = ["file", "description", "source"]
MAX_SHEET_IMAGES = 48


def _folder(text: str, what: str) -> Path:
    text = (text or "").strip()
    if not text:
        raise StyleMixError(f"{what}: type a folder path")
    path = Path(text).expanduser()
    if not path.is_dir():
        raise StyleMixError(f"{path}: no such folder")
    return path


def default_output(source: str, output_root: str) -> str:
    """Where a prepared copy of `source` goes by default: `<output_root>/<source folder name>`."""
    name = Path((source or "").strip()).expanduser().resolve().name if (source or "").strip() else ""
    return str(Path(output_root) / name) if name else ""


def prepare(
    source: str,
    output: str,
    size: str,
    crop: str,
    allow_upscale: bool,
    *,
    output_root: str = "",
    progress: Progress,
    cancel: CancelToken,
) -> tuple[str, list[tuple[str, str]], list[list[Any]], str]:
    """Prepare `source` into `output` (empty: `<output_root>/<source folder name>`).

    Returns (summary, gallery items, description rows, the output folder used).
    """
    from lib_stylemix.dataset.images import prepare_image_set

    src = _folder(source, "source folder")
    dst_text = (output or "").strip() or (default_output(str(src), output_root) if output_root else "")
    if not dst_text:
        raise StyleMixError("output folder: type where the prepared set should go")
    result = prepare_image_set(src, Path(dst_text).expanduser(), size or "512", crop, allow_upscale=allow_upscale,
                               progress=progress, cancel=cancel)
    entries = result.image_set.entries
    summary = f"Prepared {len(entries)} image(s) into {result.image_set.folder}"
    if result.skipped:
        summary += f"; skipped {len(result.skipped)}"
    if result.warnings:
        summary += ". " + " | ".join(result.warnings[:5]) + (" …" if len(result.warnings) > 5 else "")
    gallery = [(e.path, e.description) for e in entries]
    rows = [[Path(e.path).name, e.description, e.description_source] for e in entries]
    return summary, gallery, rows, dst_text


def load_descriptions(folder: str) -> tuple[str, list[tuple[str, str]], list[list[Any]]]:
    """The images of a folder with their descriptions (manifest, sidecar or file name)."""
    from lib_stylemix.dataset.images import load_image_set

    image_set = load_image_set(_folder(folder, "image folder"))
    summary = f"{len(image_set)} image(s) in {image_set.folder}"
    if image_set.warnings:
        summary += ". " + " | ".join(image_set.warnings[:5])
    gallery = [(e.path, e.description) for e in image_set.entries]
    rows = [[Path(e.path).name, e.description, e.description_source] for e in image_set.entries]
    return summary, gallery, rows


def save_descriptions(folder: str, rows: Sequence[Sequence[Any]]) -> str:
    """Write edited descriptions into the prepared set's `images.json` (only a set StyleMix prepared)."""
    from lib_stylemix.dataset.descriptions import MANIFEST_NAME, update_descriptions

    path = _folder(folder, "image folder")
    edits = {str(row[0]): str(row[1] if row[1] is not None else "") for row in rows if row and row[0]}
    changed = update_descriptions(path, edits)
    return f"Saved {changed} changed description(s) to {path / MANIFEST_NAME}" if changed else "No description changed."


def image_names(folder: str) -> list[str]:
    from lib_stylemix.dataset.images import load_image_set

    return [Path(e.path).name for e in load_image_set(_folder(folder, "image folder")).entries]


CONTROLNET_RESOLUTION = 512  # ControlNet's processor resolution: `CannyUnit.processor_res` and the Script's preview


def canny_preview(folder: str, name: str, low: int, high: int, auto: bool) -> tuple[Image.Image, str]:
    """Edge map of one image at the given (or automatic) thresholds, with its density verdict.

    The map is computed at ControlNet's processor resolution (short side 512, as the restyle jobs and the
    Script's preview use), so thresholds and edge density here are the ones ControlNet will see.
    """
    from lib_stylemix.dataset.canny import auto_thresholds, canny_map, density_warning, edge_density, map_image
    from lib_stylemix.fsutil import safe_child

    path = safe_child(_folder(folder, "image folder"), name or "")
    if not path.is_file():
        raise StyleMixError(f"{path}: no such image")
    low, high = _thresholds(low, high)
    if auto:
        low, high = auto_thresholds(path, resolution=CONTROLNET_RESOLUTION)
    edges = canny_map(path, low, high, resolution=CONTROLNET_RESOLUTION)
    density = edge_density(edges)
    warning = density_warning(density)
    text = f"{name}: thresholds {low}/{high}, {density:.1%} edge pixels" + (f" — {warning}" if warning else " — OK")
    return map_image(edges), text


def _thresholds(low: Any, high: Any) -> tuple[int, int]:
    from lib_stylemix.dataset.canny import check_thresholds

    return check_thresholds(int(low), int(high))


def canny_sheet(folder: str, low: int, high: int, auto: bool, *, progress: Progress,
                cancel: CancelToken) -> tuple[Image.Image, str]:
    """Contact sheet of every image's edge map (auto thresholds per image if asked), and the warnings."""
    from lib_stylemix.dataset.canny import auto_thresholds, canny_map, contact_sheet, density_warning, edge_density
    from lib_stylemix.dataset.images import load_image_set
    from lib_stylemix.errors import CancelledError

    image_set = load_image_set(_folder(folder, "image folder"))
    entries = image_set.entries[:MAX_SHEET_IMAGES]
    low, high = _thresholds(low, high)
    maps, names, thresholds, warnings = [], [], [], []
    progress.begin(len(entries), "canny maps")
    for done, entry in enumerate(entries, 1):
        if cancel.cancelled():
            raise CancelledError(f"stopped after {done - 1} of {len(entries)} image(s)")
        pair = auto_thresholds(entry.path, resolution=CONTROLNET_RESOLUTION) if auto else (low, high)
        edges = canny_map(entry.path, *pair, resolution=CONTROLNET_RESOLUTION)
        warning = density_warning(edge_density(edges))
        if warning:
            warnings.append(f"{Path(entry.path).name}: {warning}")
        maps.append(edges)
        names.append(Path(entry.path).name)
        thresholds.append(pair)
        progress.step(done, Path(entry.path).name)
    progress.end("canny maps done")
    sheet = contact_sheet(maps, names, thresholds=thresholds, cell=192)
    summary = f"{len(entries)} edge map(s)"
    if len(image_set.entries) > len(entries):
        summary += f" (first {len(entries)} of {len(image_set.entries)})"
    summary += "; " + ("; ".join(warnings) if warnings else "all densities look usable")
    return sheet, summary
