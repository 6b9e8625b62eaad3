"""Reading a kohya-style training folder: `<train_data_dir>/<repeats>_<tokens>/<image>.png + <image>.txt`.

Checked before launching because sd-scripts exits 0 without training when the layout is wrong ("No data found").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lib_stylemix.errors import StyleMixError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


@dataclass
class Subset:
    """One `<repeats>_<tokens>` folder."""

    folder: Path
    repeats: int
    tokens: str
    images: list[Path] = field(default_factory=list)
    missing_captions: list[Path] = field(default_factory=list)
    empty_captions: list[Path] = field(default_factory=list)


@dataclass
class DatasetInfo:
    """What sd-scripts will find in `train_data_dir`."""

    train_data_dir: Path
    subsets: list[Subset]

    @property
    def image_count(self) -> int:
        return sum(len(s.images) for s in self.subsets)

    @property
    def images_times_repeats(self) -> int:
        return sum(len(s.images) * s.repeats for s in self.subsets)

    def captions(self, caption_extension: str) -> list[str]:
        """First caption line of every captioned image, in folder order (used for sample prompts)."""
        lines = []
        for subset in self.subsets:
            for image in subset.images:
                caption = image.with_suffix(caption_extension)
                if caption.is_file():
                    text = caption.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                    if text and text[0].strip():
                        lines.append(text[0].strip())
        return lines


def parse_subset_name(name: str) -> tuple[int, str] | None:
    """`10_my style` -> (10, "my style"), as sd-scripts splits it; None when it would be ignored."""
    head, _, rest = name.partition("_")
    try:
        repeats = int(head)
    except ValueError:
        return None
    return (repeats, rest) if repeats >= 1 else None


def resolve_train_data_dir(dataset: str | os.PathLike[str]) -> Path:
    """Accept the `img` folder itself or a style folder that contains `img/`; refuse a leaf `N_name` folder."""
    path = Path(dataset).expanduser()
    if not path.is_dir():
        raise StyleMixError(f"{path}: dataset folder does not exist")
    if (path / "img").is_dir() and not _has_subsets(path):
        path = path / "img"
    if not _has_subsets(path) and parse_subset_name(path.name) is not None:
        raise StyleMixError(
            f"{path}: this is a '<repeats>_<name>' image folder; pass its parent ({path.parent}) as the dataset"
        )
    return path.resolve()


def _has_subsets(path: Path) -> bool:
    return any(child.is_dir() and parse_subset_name(child.name) for child in path.iterdir())


def scan_dataset(train_data_dir: Path, caption_extension: str = ".txt") -> DatasetInfo:
    """List the subsets, images and caption problems sd-scripts would see."""
    subsets = []
    for child in sorted(train_data_dir.iterdir()):
        parsed = parse_subset_name(child.name) if child.is_dir() else None
        if parsed is None:
            continue
        subset = Subset(folder=child, repeats=parsed[0], tokens=parsed[1])
        for item in sorted(child.iterdir()):
            if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES:
                subset.images.append(item)
                caption = item.with_suffix(caption_extension)
                if not caption.is_file():
                    subset.missing_captions.append(caption)
                elif not caption.read_text(encoding="utf-8", errors="replace").strip():
                    subset.empty_captions.append(caption)
        subsets.append(subset)
    return DatasetInfo(train_data_dir=train_data_dir, subsets=subsets)
