"""The epoch × strength grid as a list of txt2img jobs.

Each cell of the grid is one (epoch file, strength) pair; inside a cell the same fixed prompts and seeds
are rendered, so cells differ only by the LoRA and its strength and can be compared by eye.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from lib_stylemix.epochs.runs import EpochFile
from lib_stylemix.epochs.tags import format_weight, with_lora
from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import Txt2ImgRequest
from lib_stylemix.settings import StyleMixSettings

MAX_JOBS = 2000


@dataclasses.dataclass(frozen=True)
class EpochJob:
    """One image to generate: grid cell (row = epoch, col = strength) and its position inside the cell."""

    row: int
    col: int
    prompt_index: int
    seed_index: int
    file: EpochFile
    strength: float
    prompt: str
    seed: int


@dataclasses.dataclass(frozen=True)
class EpochGridPlan:
    files: tuple[EpochFile, ...]
    strengths: tuple[float, ...]
    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    negative_prompt: str
    steps: int
    sampler: str
    cfg_scale: float
    width: int
    height: int
    jobs: tuple[EpochJob, ...]

    def request(self, job: EpochJob) -> Txt2ImgRequest:
        """The txt2img request of one job: the plain prompt, and the epoch file at its strength as data."""
        return Txt2ImgRequest(prompt=self.prompts[job.prompt_index], negative=self.negative_prompt, seed=job.seed,
                              sampler=self.sampler, steps=self.steps, cfg=self.cfg_scale, width=self.width,
                              height=self.height, loras=((job.file.name, job.strength),))

    @property
    def row_labels(self) -> list[str]:
        return [f.label for f in self.files]

    @property
    def col_labels(self) -> list[str]:
        return [f"strength {format_weight(s)}" for s in self.strengths]

    @property
    def per_cell(self) -> int:
        return len(self.prompts) * len(self.seeds)


def make_plan(
    files: Sequence[EpochFile],
    settings: StyleMixSettings,
    *,
    strengths: Sequence[float] | None = None,
    prompts: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> EpochGridPlan:
    """Jobs for every epoch file × strength × prompt × seed, in row-major cell order.

    Strengths, prompts and seeds default to the settings' epoch strengths, preview prompts and preview
    seeds. Raises `StyleMixError` for an empty axis, a duplicate strength or an unreasonably large grid.
    """
    strengths = tuple(float(s) for s in (settings.epoch_strengths if strengths is None else strengths))
    prompts = tuple(p.strip() for p in (settings.preview_prompts if prompts is None else prompts) if p.strip())
    seeds = tuple(int(s) for s in (settings.preview_seeds if seeds is None else seeds))
    files = tuple(files)
    for label, axis in (("LoRA files", files), ("strengths", strengths), ("prompts", prompts), ("seeds", seeds)):
        if not axis:
            raise StyleMixError(f"epoch grid: no {label} given")
    if len({format_weight(s) for s in strengths}) != len(strengths):
        raise StyleMixError(f"epoch grid: strengths repeat: {', '.join(format_weight(s) for s in strengths)}")
    total = len(files) * len(strengths) * len(prompts) * len(seeds)
    if total > MAX_JOBS:
        raise StyleMixError(
            f"epoch grid: {total} images is more than {MAX_JOBS}; use fewer epochs, strengths or prompts"
        )
    jobs = tuple(
        EpochJob(row, col, pi, si, file, strength, with_lora(prompt, file.name, strength), seed)
        for (row, file), (col, strength), (pi, prompt), (si, seed) in itertools.product(
            enumerate(files), enumerate(strengths), enumerate(prompts), enumerate(seeds)
        )
    )
    return EpochGridPlan(
        files=files,
        strengths=strengths,
        prompts=prompts,
        seeds=seeds,
        negative_prompt=settings.negative_prompt,
        steps=settings.steps,
        sampler=settings.sampler,
        cfg_scale=settings.cfg_scale,
        width=settings.width,
        height=settings.height,
        jobs=jobs,
    )
