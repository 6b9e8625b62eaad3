"""Names and folders shared by restyle output and LoRA training input.

The restyle output is a ready-made sd-scripts training folder, one per style::

    <out>/<style_slug>/img/<repeats>_<trigger>/<image_stem>.png   (more images of a batch: <image_stem>-2.png, ...)
    <out>/<style_slug>/img/<repeats>_<trigger>/<image_stem>.txt   caption: "<trigger>, <description>"
    <out>/manifest.json                                           what was written, per job
    <out>/grids/grid-<NN>.png                                     images × styles overview pages

sd-scripts takes `<out>/<style_slug>/img` as `--train_data_dir`; it reads the repeat count from the part of the
sub-folder name before the first `_`.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from pathlib import Path

from lib_stylemix.errors import StyleMixError

MAX_SLUG_LENGTH = 64


def style_slug(name: str) -> str:
    """A file-system and sd-scripts safe token for a style name: lower-case ASCII letters, digits and `_`.

    `"Claude Monet"` → `"claude_monet"`, `"Hokusai (北斎)"` → `"hokusai"`. Names with no ASCII letters or digits
    get `style_<8 hex>` from a hash of the name, so different names never share a slug by accident.
    """
    if not name or not name.strip():
        raise StyleMixError("style name is empty")
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:MAX_SLUG_LENGTH].strip("_")
    if not slug:
        slug = "style_" + hashlib.sha1(name.strip().encode("utf-8")).hexdigest()[:8]
    return slug


def repeats_for(n_images: int, target_steps_per_epoch: int, batch_size: int = 1) -> int:
    """Repeats so one sd-scripts epoch is close to `target_steps_per_epoch` optimiser steps.

    One epoch is `ceil(n_images * repeats / batch_size)` steps, so
    `repeats = max(1, round(target_steps_per_epoch * batch_size / n_images))`.
    Example: 12 images, target 100 steps, batch 2 → repeats 17 → 102 steps per epoch.
    """
    if n_images < 1:
        raise StyleMixError(f"cannot choose repeats for {n_images} images")
    if target_steps_per_epoch < 1:
        raise StyleMixError(f"target steps per epoch must be at least 1, got {target_steps_per_epoch}")
    if batch_size < 1:
        raise StyleMixError(f"training batch size must be at least 1, got {batch_size}")
    return max(1, round(target_steps_per_epoch * batch_size / n_images))


def steps_per_epoch(n_images: int, repeats: int, batch_size: int = 1) -> int:
    """Optimiser steps in one sd-scripts epoch for a single `<repeats>_<trigger>` folder."""
    return math.ceil(n_images * repeats / batch_size)


def train_data_dir(out_dir: str | Path, slug: str) -> Path:
    """The folder to pass to sd-scripts as `--train_data_dir` for one style."""
    return Path(out_dir) / slug / "img"


def image_folder(out_dir: str | Path, slug: str, repeats: int, trigger: str) -> Path:
    """`<out>/<slug>/img/<repeats>_<trigger>`: where the images and captions of one style go."""
    if repeats < 1:
        raise StyleMixError(f"repeats must be at least 1, got {repeats}")
    return train_data_dir(out_dir, slug) / f"{repeats}_{trigger}"


def output_name(image_stem: str, index: int) -> str:
    """File stem of the `index`-th (0-based) image of a job: the first keeps the source stem."""
    return image_stem if index == 0 else f"{image_stem}-{index + 1}"


def caption_text(trigger: str, description: str) -> str:
    """One-line caption sd-scripts reads: the style's trigger token first, then the description."""
    description = " ".join(description.split())
    return f"{trigger}, {description}" if description else trigger
