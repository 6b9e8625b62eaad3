"""The correlation use-case: render the fixed preview set for each subject, describe the renders, correlate.

A subject is a pool member (or an evolve candidate) rendered by prompt stacking: its `(name, weight)` LoRA
tags are added to every fixed preview prompt, and every subject uses the same prompts and seeds, so two
subjects' renders differ only by the LoRAs. Only the narrow `Txt2ImgGenerator` seam (one prompt, one seed
→ images) and a `FeatureExtractor` are needed, so the same code runs in the webui, the CLI and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.science.correlation import CorrelationReport, CorrelationSettings, correlate
from lib_stylemix.science.distance import distance_matrix
from lib_stylemix.science.features import FeatureExtractor, StyleDescriptor
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress, Txt2ImgRequest

if TYPE_CHECKING:
    from lib_stylemix.epochs.generator import Txt2ImgGenerator
    from lib_stylemix.settings import StyleMixSettings


@dataclass(frozen=True)
class Subject:
    """Something with a style to render: a name and the LoRA tags that render it."""

    name: str
    loras: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class RenderSpec:
    """The fixed render set and its txt2img settings (taken from the StyleMix settings' preview set)."""

    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    negative: str = ""
    steps: int = 20
    sampler: str = "DDIM"
    cfg: float = 7.0
    width: int = 512
    height: int = 512

    @staticmethod
    def from_settings(settings: StyleMixSettings) -> RenderSpec:
        return RenderSpec(tuple(settings.preview_prompts), tuple(int(s) for s in settings.preview_seeds),
                          settings.negative_prompt, settings.steps, settings.sampler, settings.cfg_scale,
                          settings.width, settings.height)

    def jobs(self) -> list[tuple[str, str, int]]:
        """(render key, prompt, seed); the key names the prompt by position so subjects line up."""
        return [(f"p{i}/s{seed}", prompt, seed) for i, prompt in enumerate(self.prompts) for seed in self.seeds]


@dataclass
class RenderedSubject:
    name: str
    descriptors: dict[str, StyleDescriptor] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderRun:
    """Where the work goes: the generator, the feature extractor, and where to keep the images (optional)."""

    generator: Txt2ImgGenerator
    extractor: FeatureExtractor
    image_dir: Path | None = None
    progress: Progress = field(default_factory=NullProgress)
    cancel: CancelToken = field(default_factory=NeverCancel)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "subject"


def render_subject(subject: Subject, spec: RenderSpec, run: RenderRun, done: int, total: int) -> RenderedSubject:
    """Render one subject's fixed set (first image of each job), save the images if asked, describe them."""
    out = RenderedSubject(subject.name)
    keyed: list[tuple[str, Any]] = []
    for key, prompt, seed in spec.jobs():
        if run.cancel.cancelled():
            raise CancelledError(f"style report stopped after {done} of {total} render(s)")
        images = run.generator.generate(Txt2ImgRequest(prompt, spec.negative, seed, spec.sampler, spec.steps,
                                                       spec.cfg, spec.width, spec.height,
                                                       loras=tuple(subject.loras)))
        if not images:
            raise StyleMixError(f"{subject.name}: the generator returned no image for {key}")
        keyed.append((key, images[0].image))
        done += 1
        run.progress.step(done, f"style report: {subject.name} {key} ({done}/{total})")
        if run.image_dir is not None:
            folder = run.image_dir / _safe(subject.name)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{key.replace('/', '_')}.png"
            images[0].image.save(path)
            out.images[key] = str(path)
    descriptors = run.extractor.describe([image for _, image in keyed])
    if len(descriptors) != len(keyed):
        raise StyleMixError(f"the feature extractor returned {len(descriptors)} descriptors for {len(keyed)} images")
    out.descriptors = {key: d for (key, _), d in zip(keyed, descriptors, strict=True)}
    return out


def render_subjects(subjects: Sequence[Subject], spec: RenderSpec, run: RenderRun) -> list[RenderedSubject]:
    if not spec.prompts or not spec.seeds:
        raise StyleMixError("the fixed render set is empty: set preview prompts and seeds")
    total = len(subjects) * len(spec.jobs())
    run.progress.begin(total, "style report")
    out = [render_subject(s, spec, run, i * len(spec.jobs()), total) for i, s in enumerate(subjects)]
    run.progress.end("style report rendered")
    return out


def correlation_report(subjects: Sequence[Subject], dw: np.ndarray, spec: RenderSpec, run: RenderRun, *,
                       by_block: Mapping[str, np.ndarray] | None = None,
                       settings: CorrelationSettings | None = None) -> tuple[CorrelationReport, list[RenderedSubject]]:
    """Render every subject, build the image-space distance matrix and correlate it with the ΔW matrix."""
    if len(dw) != len(subjects):
        raise StyleMixError(f"ΔW matrix is {len(dw)}×{len(dw)} for {len(subjects)} subjects")
    rendered = render_subjects(subjects, spec, run)
    image = distance_matrix([r.descriptors for r in rendered])
    report = correlate([s.name for s in subjects], dw, image, by_block=by_block, settings=settings)
    report.extra["render_set"] = {"prompts": list(spec.prompts), "seeds": list(spec.seeds), "steps": spec.steps,
                                  "sampler": spec.sampler, "cfg": spec.cfg, "size": [spec.width, spec.height]}
    report.extra["subjects"] = [{"name": s.name, "loras": [list(x) for x in s.loras]} for s in subjects]
    report.extra["renders"] = {r.name: dict(r.images) for r in rendered}
    return report, rendered
