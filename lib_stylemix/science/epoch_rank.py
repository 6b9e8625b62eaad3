"""Which epoch is most faithful to its style? Rank a run's epochs by image-space distance to the style.

Each epoch renders the fixed prompts × seeds; the style is given by the restyled training images of that
style. Their contents differ, so an epoch's distance is the mean W₂ over *all* (render, training image)
pairs: content averages out, style remains. The closest epoch is suggested; the person's pick (from the
grid) overrides the suggestion. Both are kept in the run's webui sidecar (`<stem>.json` of the run's final
file) under one StyleMix key, merged like `lib_stylemix.epochs.sidecar` does, so the card keeps its
other fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.epochs.runs import EpochFile
from lib_stylemix.epochs.sidecar import read_sidecar, sidecar_path
from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.science.distance import w2
from lib_stylemix.science.features import StyleDescriptor

SIDECAR_KEY = "stylemix epoch ranking"


@dataclass(frozen=True)
class RankedEpoch:
    label: str
    epoch: int | None
    distance: float
    rank: int


@dataclass(frozen=True)
class EpochRanking:
    """Epochs closest-first; `picked` is the person's choice (an epoch label) when they made one."""

    rows: tuple[RankedEpoch, ...]
    picked: str | None = None

    @property
    def suggested(self) -> RankedEpoch:
        return self.rows[0]

    @property
    def chosen(self) -> str:
        """The person's pick when there is one, else the suggestion."""
        return self.picked if self.picked is not None else self.suggested.label

    def with_pick(self, label: str | None) -> EpochRanking:
        if label is not None and label not in {r.label for r in self.rows}:
            raise StyleMixError(f"{label!r} is not an epoch of this run")
        return EpochRanking(self.rows, label)

    def table(self) -> list[list[Any]]:
        """Rows for a UI table: rank, epoch, distance, and a mark for the suggestion and the pick."""
        out = []
        for r in self.rows:
            mark = ("picked" if r.label == self.picked else "") or ("suggested" if r.rank == 1 else "")
            out.append([r.rank, r.label, round(r.distance, 4), mark])
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ranking": [{"label": r.label, "epoch": r.epoch, "distance": r.distance} for r in self.rows],
            "suggested": self.suggested.label,
            "picked": self.picked,
            "metric": "mean W2 of U-Net feature statistics to the restyled training images",
        }


def epoch_distance(renders: Sequence[StyleDescriptor], targets: Sequence[StyleDescriptor]) -> float:
    """Mean W₂ over every (epoch render, training image) pair."""
    if not renders or not targets:
        raise StyleMixError("epoch ranking needs at least one render per epoch and one training image")
    return float(np.mean([w2(r, t) for r in renders for t in targets]))


def rank_epochs(renders: Mapping[str, Sequence[StyleDescriptor]], targets: Sequence[StyleDescriptor],
                epochs: Mapping[str, int | None] | None = None) -> EpochRanking:
    """Rank epochs (by label) closest-first; ties keep the given order."""
    if not renders:
        raise StyleMixError("no epoch renders to rank")
    scored = [(label, epoch_distance(list(descs), targets)) for label, descs in renders.items()]
    scored.sort(key=lambda item: item[1])
    epochs = epochs or {}
    rows = tuple(RankedEpoch(label, epochs.get(label), d, i + 1) for i, (label, d) in enumerate(scored))
    return EpochRanking(rows)


def run_anchor(files: Sequence[EpochFile]) -> EpochFile:
    """The file whose sidecar holds the run's ranking: the final file, else the highest epoch."""
    if not files:
        raise StyleMixError("the run has no files")
    finals = [f for f in files if f.final]
    return finals[0] if finals else max(files, key=lambda f: -1 if f.epoch is None else f.epoch)


def save_ranking(lora_path: str | Path, ranking: EpochRanking) -> Path:
    """Merge the ranking (and pick) into `<stem>.json` next to `lora_path`, keeping every other key."""
    lora_path = Path(lora_path)
    if not lora_path.is_file():
        raise StyleMixError(f"{lora_path}: LoRA file not found")
    data = read_sidecar(lora_path)
    data[SIDECAR_KEY] = ranking.to_json()
    path = sidecar_path(lora_path)
    write_atomic(path, json.dumps(data, indent=4, ensure_ascii=False), overwrite=True)
    return path


def load_ranking(lora_path: str | Path) -> EpochRanking | None:
    """The stored ranking with the person's pick, or None when the run has none."""
    doc = read_sidecar(lora_path).get(SIDECAR_KEY)
    if not isinstance(doc, dict) or not doc.get("ranking"):
        return None
    try:
        rows = tuple(RankedEpoch(str(r["label"]), r.get("epoch"), float(r["distance"]), i + 1)
                     for i, r in enumerate(doc["ranking"]))
    except (KeyError, TypeError, ValueError):
        raise StyleMixError(f"{sidecar_path(lora_path)}: the StyleMix epoch ranking is malformed") from None
    picked = doc.get("picked")
    return EpochRanking(rows, str(picked) if picked is not None else None)
