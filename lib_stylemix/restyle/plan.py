"""Restyle plan: every (style, image) pair becomes one fully specified, reproducible generation job.

The plan is data only (JSON round trip), so it can be reviewed, edited, resumed and run by any generator:
the preview backend here, or the webui's ControlNet generator.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lib_stylemix.dataset.images import ImageSet, load_image_set
from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.restyle.layout import repeats_for, style_slug
from lib_stylemix.seams import Txt2ImgRequest

PLAN_FORMAT = "stylemix-restyle-plan"
PLAN_VERSION = 1
DEFAULT_TEMPLATE = "{style} art, {description}"
TEMPLATE_FIELDS = ("style", "description", "trigger", "image")
SEED_POLICIES = ("per-image", "fixed", "random")
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
MAX_SEED = 2**32 - 1
DEFAULT_SEED = 1234


@dataclass(frozen=True)
class CannyUnit:
    """The ControlNet canny unit of a job, in the webui's own terms (thresholds are cv2.Canny's)."""

    low: int = 100
    high: int = 200
    weight: float = 1.0
    processor_res: int = 512
    control_mode: str = "Balanced"
    resize_mode: str = "Crop and Resize"
    guidance_start: float = 0.0
    guidance_end: float = 1.0

    def __post_init__(self) -> None:
        from lib_stylemix.dataset.canny import check_thresholds

        check_thresholds(self.low, self.high)
        if not 0.0 <= self.weight <= 2.0:
            raise StyleMixError(f"ControlNet weight {self.weight}: must be within 0..2")
        if not 64 <= self.processor_res <= 2048:
            raise StyleMixError(f"ControlNet processor resolution {self.processor_res}: must be within 64..2048")
        if self.control_mode not in CONTROL_MODES:
            raise StyleMixError(f"control mode {self.control_mode!r}: choose one of {', '.join(CONTROL_MODES)}")
        if self.resize_mode not in RESIZE_MODES:
            raise StyleMixError(f"resize mode {self.resize_mode!r}: choose one of {', '.join(RESIZE_MODES)}")
        if not 0.0 <= self.guidance_start < self.guidance_end <= 1.0:
            raise StyleMixError(
                f"ControlNet guidance {self.guidance_start}..{self.guidance_end}: need 0 <= start < end <= 1"
            )


@dataclass(frozen=True)
class RestyleJob:
    """One generation: a prepared image rendered in one style. `repeats`/`trigger` place it in the training layout."""

    job_id: str
    style: str
    style_slug: str
    image_path: str
    image_stem: str
    description: str
    prompt: str
    negative_prompt: str
    seed: int
    sampler: str = "DDIM"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    batch_size: int = 1
    canny: CannyUnit = field(default_factory=CannyUnit)
    trigger: str = ""
    repeats: int = 1

    def request(self) -> Txt2ImgRequest:
        """The txt2img part of this job (the canny unit comes on top, from `canny` and `image_path`)."""
        return Txt2ImgRequest(prompt=self.prompt, negative=self.negative_prompt, seed=self.seed, sampler=self.sampler,
                              steps=self.steps, cfg=self.cfg_scale, width=self.width, height=self.height,
                              batch=self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestyleJob:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StyleMixError(f"restyle job: unknown fields {', '.join(unknown)}")
        values = dict(data)
        values["canny"] = _canny_from(values.get("canny", {}))
        try:
            return cls(**values)
        except TypeError as exc:
            raise StyleMixError(f"restyle job {data.get('job_id', '?')}: {exc}") from exc


def _canny_from(data: Any) -> CannyUnit:
    if isinstance(data, CannyUnit):
        return data
    if not isinstance(data, Mapping):
        raise StyleMixError("canny unit: expected an object")
    unknown = sorted(set(data) - {f.name for f in fields(CannyUnit)})
    if unknown:
        raise StyleMixError(f"canny unit: unknown fields {', '.join(unknown)}")
    return CannyUnit(**data)


@dataclass
class RestylePlan:
    """All jobs of a run plus the settings that produced them (so a plan explains itself when reopened)."""

    jobs: list[RestyleJob]
    styles: list[str]
    images: list[dict[str, str]]  # {"stem", "path", "description"} per image, in plan order
    template: str = DEFAULT_TEMPLATE
    negative_prompt: str = ""
    seed_policy: str = "per-image"
    seed: int = DEFAULT_SEED
    sampler: str = "DDIM"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    batch_size: int = 1
    canny: CannyUnit = field(default_factory=CannyUnit)
    target_steps_per_epoch: int = 100
    train_batch_size: int = 1
    triggers: dict[str, str] = field(default_factory=dict)  # style → caption trigger token

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"format": PLAN_FORMAT, "version": PLAN_VERSION, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestylePlan:
        if data.get("format") != PLAN_FORMAT:
            raise StyleMixError(f"not a restyle plan (format is {data.get('format')!r}, expected {PLAN_FORMAT!r})")
        if data.get("version") != PLAN_VERSION:
            raise StyleMixError(f"restyle plan version {data.get('version')!r} is not supported (expected 1)")
        values = {k: v for k, v in data.items() if k not in ("format", "version")}
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise StyleMixError(f"restyle plan: unknown fields {', '.join(unknown)}")
        if not isinstance(values.get("jobs"), list):
            raise StyleMixError("restyle plan: 'jobs' must be a list")
        values["jobs"] = [RestyleJob.from_dict(j) for j in values["jobs"]]
        values["canny"] = _canny_from(values.get("canny", {}))
        try:
            plan = cls(**values)
        except TypeError as exc:
            raise StyleMixError(f"restyle plan: {exc}") from exc
        ids = [j.job_id for j in plan.jobs]
        if len(set(ids)) != len(ids):
            raise StyleMixError("restyle plan: job ids are not unique")
        return plan

    @classmethod
    def from_json(cls, text: str) -> RestylePlan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StyleMixError(f"restyle plan is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise StyleMixError("restyle plan: expected a JSON object")
        return cls.from_dict(data)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return write_atomic(path, self.to_json(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> RestylePlan:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StyleMixError(f"{path}: cannot read plan ({exc})") from exc
        try:
            return cls.from_json(text)
        except StyleMixError as exc:
            raise StyleMixError(f"{path}: {exc}") from exc


def validate_template(template: str) -> tuple[str, ...]:
    """Check a prompt template; return the placeholders it uses. Only plain `{name}` fields are allowed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise StyleMixError(f"prompt template {template!r}: {exc} (write a literal brace as {{{{ or }}}})") from exc
    used: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise StyleMixError(f"prompt template {template!r}: use named placeholders such as {{style}}")
        if name not in TEMPLATE_FIELDS:
            raise StyleMixError(
                f"prompt template {template!r}: unknown placeholder {{{name}}}; "
                f"allowed: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
            )
        if spec or conversion:
            raise StyleMixError(f"prompt template {template!r}: {{{name}}} takes no format spec or conversion")
        used.append(name)
    if "style" not in used and "trigger" not in used:
        raise StyleMixError(
            f"prompt template {template!r}: needs {{style}} (or {{trigger}}), otherwise every style looks alike"
        )
    return tuple(used)


def per_image_seed(base_seed: int, image_stem: str) -> int:
    """A seed fixed by the image (not by its position), shared by all styles of that image."""
    digest = hashlib.sha256(f"{base_seed}:{image_stem}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (MAX_SEED + 1)


def _check_settings(steps: int, cfg_scale: float, width: int, height: int, batch_size: int, seed: int) -> None:
    if not 1 <= steps <= 150:
        raise StyleMixError(f"steps {steps}: must be within 1..150")
    if not 1.0 <= cfg_scale <= 30.0:
        raise StyleMixError(f"CFG scale {cfg_scale}: must be within 1..30")
    for name, value in (("width", width), ("height", height)):
        if value < 64 or value % 8:
            raise StyleMixError(f"{name} {value}: must be a multiple of 8 and at least 64")
    if not 1 <= batch_size <= 8:
        raise StyleMixError(f"batch size {batch_size}: must be within 1..8")
    if not 0 <= seed <= MAX_SEED:
        raise StyleMixError(f"seed {seed}: must be within 0..{MAX_SEED}")


def parse_styles(text: str | Sequence[str]) -> list[str]:
    """`"Monet, Hokusai"` or a list → clean names, order kept, duplicates (by slug) refused."""
    names = text.split(",") if isinstance(text, str) else list(text)
    styles = [" ".join(n.split()) for n in names if n and n.strip()]
    if not styles:
        raise StyleMixError("no styles given")
    seen: dict[str, str] = {}
    for name in styles:
        slug = style_slug(name)
        if slug in seen:
            raise StyleMixError(f"styles {seen[slug]!r} and {name!r} share the folder name {slug!r}; rename one")
        seen[slug] = name
    return styles


def make_plan(  # noqa: PLR0913 — keyword-only plan fields mirrored by the CLI flags
    images: ImageSet | str | Path,
    styles: str | Sequence[str],
    *,
    template: str = DEFAULT_TEMPLATE,
    negative_prompt: str = "",
    seed_policy: str = "per-image",
    seed: int = DEFAULT_SEED,
    sampler: str = "DDIM",
    steps: int = 20,
    cfg_scale: float = 7.0,
    width: int = 512,
    height: int = 512,
    batch_size: int = 1,
    canny: CannyUnit | None = None,
    target_steps_per_epoch: int = 100,
    train_batch_size: int = 1,
    triggers: Mapping[str, str] | None = None,
    canny_per_image: Mapping[str, CannyUnit] | None = None,
    rng: random.Random | None = None,
) -> RestylePlan:
    """Jobs for styles × images, ordered image-major so a cancelled run has every style of the first images.

    Seeds: `per-image` (default) derives one seed per image from `seed` and the image stem; `fixed` uses
    `seed` for every job; `random` draws one per job (from `rng`) and records it in the plan. `seed=-1` (the
    webui's "random") draws the base seed once and records it.
    Job ids are `<style_slug>__<image_stem>`. `canny_per_image` (image stem → unit, e.g. from auto thresholds)
    overrides `canny` for those images.
    """
    image_set = images if isinstance(images, ImageSet) else load_image_set(images)
    style_names = parse_styles(styles)
    validate_template(template)
    if seed_policy not in SEED_POLICIES:
        raise StyleMixError(f"seed policy {seed_policy!r}: choose one of {', '.join(SEED_POLICIES)}")
    rng = rng or random.SystemRandom()
    if seed == -1:  # the webui's "random": draw the base seed here so the plan stays reproducible
        seed = rng.randint(0, MAX_SEED)
    _check_settings(steps, cfg_scale, width, height, batch_size, seed)
    canny = canny or CannyUnit()
    if not sampler.strip():
        raise StyleMixError("sampler name is empty")
    trigger_for = {name: (triggers or {}).get(name) or style_slug(name) for name in style_names}
    for name, trigger in trigger_for.items():
        if not trigger.strip() or any(c in trigger for c in "/\\\n\r\x00"):
            raise StyleMixError(f"trigger {trigger!r} for style {name!r}: must be a non-empty single-line token")
    repeats = repeats_for(len(image_set), target_steps_per_epoch, train_batch_size)
    jobs: list[RestyleJob] = []
    paths = {entry.stem: str(Path(entry.path).resolve()) for entry in image_set.entries}  # the webui runs elsewhere
    for entry in image_set.entries:
        image_seed = per_image_seed(seed, entry.stem) if seed_policy == "per-image" else seed
        for name in style_names:
            slug = style_slug(name)
            values = {
                "style": name,
                "description": entry.description,
                "trigger": trigger_for[name],
                "image": entry.stem,
            }
            jobs.append(
                RestyleJob(
                    job_id=f"{slug}__{entry.stem}",
                    style=name,
                    style_slug=slug,
                    image_path=paths[entry.stem],
                    image_stem=entry.stem,
                    description=entry.description,
                    prompt=template.format(**values),
                    negative_prompt=negative_prompt,
                    seed=rng.randint(0, MAX_SEED) if seed_policy == "random" else image_seed,
                    sampler=sampler,
                    steps=steps,
                    cfg_scale=cfg_scale,
                    width=width,
                    height=height,
                    batch_size=batch_size,
                    canny=(canny_per_image or {}).get(entry.stem, canny),
                    trigger=trigger_for[name],
                    repeats=repeats,
                )
            )
    return RestylePlan(
        jobs=jobs,
        styles=style_names,
        images=[{"stem": e.stem, "path": paths[e.stem], "description": e.description} for e in image_set.entries],
        template=template,
        negative_prompt=negative_prompt,
        seed_policy=seed_policy,
        seed=seed,
        sampler=sampler,
        steps=steps,
        cfg_scale=cfg_scale,
        width=width,
        height=height,
        batch_size=batch_size,
        canny=canny,
        target_steps_per_epoch=target_steps_per_epoch,
        train_batch_size=train_batch_size,
        triggers=trigger_for,
    )


def with_canny(plan: RestylePlan, canny: CannyUnit) -> RestylePlan:
    """The same plan with another canny unit on every job (e.g. thresholds chosen after a preview)."""
    return replace(plan, canny=canny, jobs=[replace(j, canny=canny) for j in plan.jobs])
