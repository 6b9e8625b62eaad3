"""Render an epoch grid plan through any `Txt2ImgGenerator`, with progress and cancel between images."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from lib_stylemix.epochs.generator import Txt2ImgGenerator
from lib_stylemix.epochs.grid import cell_sheet, failure_tile, labelled_grid
from lib_stylemix.epochs.plan import EpochGridPlan
from lib_stylemix.epochs.runs import EpochFile
from lib_stylemix.epochs.tags import format_weight
from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.fsutil import write_atomic, write_with
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

if TYPE_CHECKING:
    from lib_stylemix.restyle.generator import GeneratedImage

CELL_SIZE = 384


@dataclasses.dataclass
class EpochGridResult:
    """What was rendered, job by job (`outputs[i]` belongs to `plan.jobs[i]`; missing when cancelled).

    `failed[i]` is the error of job `i` (e.g. the webui's NansException): the grid shows a "failed" tile there
    and the other cells are kept.
    """

    plan: EpochGridPlan
    outputs: dict[int, list[GeneratedImage]]
    cancelled: bool = False
    failed: dict[int, str] = dataclasses.field(default_factory=dict)

    def cell_images(self, row: int, col: int) -> list[Image.Image]:
        images: list[Image.Image] = []
        for index, job in enumerate(self.plan.jobs):
            if job.row != row or job.col != col:
                continue
            if index in self.failed:
                images.append(failure_tile((self.plan.width, self.plan.height)))
            images.extend(generated.image for generated in self.outputs.get(index, []))
        return images

    def failure_lines(self) -> list[str]:
        """One line per failed image: where it is in the grid and why."""
        return [
            f"{self.plan.jobs[i].file.label}, strength {format_weight(self.plan.jobs[i].strength)}, "
            f"seed {self.plan.jobs[i].seed}: {message}"
            for i, message in sorted(self.failed.items())
        ]

    def cell(self, index: int) -> tuple[EpochFile, float]:
        """The (epoch file, strength) of gallery cell `index` (row-major), e.g. the one a person clicked."""
        columns = len(self.plan.strengths)
        row, col = divmod(index, columns)
        if not 0 <= row < len(self.plan.files):
            raise IndexError(f"no cell {index} in a {len(self.plan.files)}×{columns} grid")
        return self.plan.files[row], self.plan.strengths[col]

    def cell_sheets(self, size: int = CELL_SIZE) -> list[list[Image.Image]]:
        """Per cell, its images as a sheet `size` pixels wide: one column per seed, one row per prompt."""
        columns, rows = len(self.plan.seeds), len(self.plan.prompts)
        tile_w = max(1, size // columns)
        tile = (tile_w, max(1, round(tile_w * self.plan.height / self.plan.width)))
        return [
            [cell_sheet(self.cell_images(row, col), tile, columns, rows) for col in range(len(self.plan.strengths))]
            for row in range(len(self.plan.files))
        ]

    def gallery(self, size: int = CELL_SIZE) -> list[tuple[Image.Image, str]]:
        """One captioned sheet per cell, row-major, for a clickable gallery (grey where nothing rendered)."""
        return [
            (sheet, f"{self.plan.files[row].label} · {format_weight(self.plan.strengths[col])}")
            for row, sheets in enumerate(self.cell_sheets(size))
            for col, sheet in enumerate(sheets)
        ]

    def grid(self, size: int = CELL_SIZE) -> Image.Image:
        return labelled_grid(self.cell_sheets(size), self.plan.row_labels, self.plan.col_labels)


def run_grid(
    plan: EpochGridPlan,
    generator: Txt2ImgGenerator,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> EpochGridResult:
    """Generate every job of `plan` in order; stop between images when `cancel` says so (kept: what is done).

    A generator may also raise `CancelledError` (the webui's Interrupt cut an image short): that image is
    dropped and the run ends as cancelled. A `StyleMixError` fails that image only (recorded in `failed`,
    like restyle's per-job failures); the run goes on, so one bad cell never throws away the finished ones.
    """
    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    result = EpochGridResult(plan, {})
    total = len(plan.jobs)
    progress.begin(total, f"epoch grid: {total} images")
    for index, job in enumerate(plan.jobs):
        if cancel.cancelled():
            result.cancelled = True
            break
        progress.step(index, f"{job.file.label}, strength {format_weight(job.strength)}: image {index + 1}/{total}")
        try:
            result.outputs[index] = generator.generate(plan.request(job))
        except CancelledError:  # interrupted mid-image: that image is cut short, keep the finished ones
            result.cancelled = True
            break
        except StyleMixError as exc:
            result.failed[index] = str(exc)
    done = len(result.outputs)
    progress.end(
        f"epoch grid: {done}/{total} images"
        + (f", {len(result.failed)} failed" if result.failed else "")
        + (" (cancelled)" if result.cancelled else "")
    )
    return result


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/stem.suffix`, numbered `stem-2`, `stem-3`, … while it or its `.json` record exists."""
    candidate = folder / f"{stem}{suffix}"
    number = 2
    while candidate.exists() or candidate.with_suffix(".json").exists():
        candidate = folder / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


def save_result(result: EpochGridResult, out_dir: str | Path) -> Path:
    """Write the grid PNG and a JSON record of the plan and infotexts next to it; never overwrites.

    Returns the PNG path (`<run>-epoch-grid.png`, numbered if taken).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = result.plan.files[0].run
    png = _free_name(out_dir, f"{run}-epoch-grid", ".png")
    grid = result.grid()
    write_with(png, lambda tmp: grid.save(tmp, format="PNG"))
    record = {
        "run": run,
        "files": [str(f.path) for f in result.plan.files],
        "epochs": [f.epoch for f in result.plan.files],
        "strengths": list(result.plan.strengths),
        "prompts": list(result.plan.prompts),
        "seeds": list(result.plan.seeds),
        "cancelled": result.cancelled,
        "failed": len(result.failed),
        "images": [
            {
                "file": job.file.name,
                "strength": job.strength,
                "prompt": job.prompt,
                "seed": job.seed,
                "infotexts": [g.infotext for g in result.outputs.get(index, [])],
                "error": result.failed.get(index),
            }
            for index, job in enumerate(result.plan.jobs)
        ],
    }
    write_atomic(png.with_suffix(".json"), json.dumps(record, indent=2, ensure_ascii=False))
    return png
