"""Run a restyle plan through any generator into an sd-scripts-ready folder; resumable and cancellable.

Per job, extra batch images and the caption are written first and the primary image `<stem>.png` last, each
atomically, so "the primary image exists and decodes" means "this job is complete". A rerun skips complete
jobs; an incomplete one (primary missing or unreadable) is generated again and its own leftovers replaced.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from lib_stylemix.dataset.descriptions import description_from_stem
from lib_stylemix.dataset.images import open_rgb
from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.fsutil import write_atomic, write_with
from lib_stylemix.restyle.generator import GeneratedImage, Generator
from lib_stylemix.restyle.grid import grid_page, paginate
from lib_stylemix.restyle.infotext import PNG_TEXT_KEY, build_infotext, merge_infotext
from lib_stylemix.restyle.layout import caption_text, image_folder, output_name, steps_per_epoch, train_data_dir
from lib_stylemix.restyle.plan import RestyleJob, RestylePlan
from lib_stylemix.restyle.runs import MANIFEST_FORMAT, MANIFEST_NAME, check_same_run, plan_settings
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

MANIFEST_VERSION = 1
GRID_FOLDER = "grids"


@dataclass
class RestyleResult:
    """What one `execute` call did. Paths are absolute; the manifest stores them relative to the output folder."""

    out_dir: str
    written: dict[str, list[str]] = field(default_factory=dict)  # job id → image files written this run
    skipped: list[str] = field(default_factory=list)  # job ids already complete (resumed)
    failed: dict[str, str] = field(default_factory=dict)  # job id → error message
    grids: list[str] = field(default_factory=list)
    # job id → (image index, file) of every complete image of the jobs written or resumed, in plan order: what
    # a front end shows (the Script's gallery) without rebuilding the output layout itself
    files: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    cancelled: bool = False
    manifest_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _save_png(image: Image.Image, tmp: Path) -> None:
    """`write_with` callback (bound with functools.partial: a lambda default would hide the type)."""
    image.save(tmp, format="PNG")


def job_paths(out_dir: Path, job: RestyleJob) -> tuple[Path, Path]:
    """(primary image, caption) of a job in the training layout."""
    folder = image_folder(out_dir, job.style_slug, job.repeats, job.trigger)
    stem = output_name(job.image_stem, 0)
    return folder / f"{stem}.png", folder / f"{stem}.txt"


def is_complete(path: Path) -> bool:
    """True when `path` is a decodable image (a truncated or foreign file does not count)."""
    if not path.is_file():
        return False
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def save_png(target: Path, image: Image.Image, infotext: str, *, overwrite: bool) -> None:
    """PNG with the infotext in the `parameters` text chunk, where the webui's PNG Info looks."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_TEXT_KEY, infotext)
    write_with(target, lambda tmp: image.save(tmp, format="PNG", pnginfo=info), overwrite=overwrite)


def _check_out_dir(plan: RestylePlan, out_dir: Path) -> None:
    resolved = out_dir.resolve()
    written_trees = [resolved / GRID_FOLDER, *(resolved / slug for slug in {j.style_slug for j in plan.jobs})]
    for source_folder in {Path(job.image_path).resolve().parent for job in plan.jobs}:
        if source_folder == resolved or source_folder in resolved.parents:
            raise StyleMixError(f"{out_dir}: is or is inside the source image folder {source_folder}; pick another")
        if any(tree == source_folder or tree in source_folder.parents for tree in written_trees):
            raise StyleMixError(f"{out_dir}: outputs would be written into the source image folder {source_folder}")
    check_same_run(plan, out_dir)


def _write_job(
    out_dir: Path, job: RestyleJob, images: list[GeneratedImage], *, backend: str, controlnet_model: str
) -> list[Path]:
    primary, caption = job_paths(out_dir, job)
    folder = primary.parent
    paths = [folder / f"{output_name(job.image_stem, i)}.png" for i in range(len(images))]
    caption_line = caption_text(job.trigger, job.description) + "\n"
    # leftovers of an incomplete attempt of this very job are replaced; a primary that exists here does not decode
    # (complete jobs are skipped before generation), so replacing it loses nothing
    for index in [*range(1, len(images)), 0]:
        generated = images[index]
        if generated.infotext.strip():
            text = merge_infotext(generated.infotext, job, backend=backend, index=index)
        else:
            text = build_infotext(job, controlnet_model=controlnet_model, backend=backend, index=index)
        if index == 0:
            write_atomic(caption, caption_line, overwrite=True)
        else:
            write_atomic(paths[index].with_suffix(".txt"), caption_line, overwrite=True)
        save_png(paths[index], generated.image, text, overwrite=index != 0 or primary.exists())
    return paths


def execute(  # noqa: PLR0913 — keyword-only options; an options dataclass is the follow-up
    plan: RestylePlan,
    generator: Generator,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    backend: str = "",
    controlnet_model: str = "None",
    grid: bool = True,
    grid_rows: int = 8,
    grid_cols: int = 6,
    grid_cell: int = 256,
) -> RestyleResult:
    """Generate every job of `plan` not yet complete in `out_dir`, then write `manifest.json` and grid pages.

    `out_dir` is one run's folder: a folder whose manifest records a different plan is refused (see
    `restyle.runs`; callers that want a folder per run use `choose_run_folder`).

    A `StyleMixError` from the generator fails that job only (recorded, the run continues). Cancelling stops
    before the next job. A generator that was cut short raises `CancelledError` and its output is discarded;
    images it returns are complete (e.g. the webui's "stop after the current image"), so they are kept.
    """
    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    out_dir = Path(out_dir)
    _check_out_dir(plan, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = RestyleResult(out_dir=str(out_dir))
    progress.begin(len(plan.jobs), f"restyling {len(plan.jobs)} jobs")
    try:
        for done, job in enumerate(plan.jobs, start=1):
            if cancel.cancelled():
                result.cancelled = True
                break
            primary, _ = job_paths(out_dir, job)
            if is_complete(primary):
                result.skipped.append(job.job_id)
                progress.step(done, f"{job.job_id}: already done")
                continue
            try:
                images = generator.generate(job)
            except CancelledError:
                result.cancelled = True
                break
            except StyleMixError as exc:
                result.failed[job.job_id] = str(exc)
                progress.step(done, f"{job.job_id}: failed")
                continue
            if not images:
                result.failed[job.job_id] = "the generator returned no image"
                progress.step(done, f"{job.job_id}: failed")
                continue
            paths = _write_job(out_dir, job, images, backend=backend, controlnet_model=controlnet_model)
            result.written[job.job_id] = [str(p) for p in paths]
            progress.step(done, job.job_id)
    finally:  # even when the generator crashes, the manifest records what is on disk
        result.manifest_path = str(write_manifest(plan, out_dir, result, backend=backend))
    result.files = {job.job_id: job_files(out_dir, job) for job in plan.jobs
                    if job.job_id in result.written or job.job_id in result.skipped}
    if grid:
        result.grids = [str(p) for p in write_grids(plan, out_dir, rows=grid_rows, cols=grid_cols, cell=grid_cell)]
        write_manifest(plan, out_dir, result, backend=backend)  # again, now listing the grid pages
    progress.end("cancelled" if result.cancelled else f"{len(result.written)} written, {len(result.skipped)} resumed")
    return result


def job_files(out_dir: Path, job: RestyleJob) -> list[tuple[int, str]]:
    """(index, path) of every complete image of `job` in `out_dir` (index i is seed + i of the batch)."""
    folder = job_paths(out_dir, job)[0].parent
    paths = [(index, folder / f"{output_name(job.image_stem, index)}.png") for index in range(job.batch_size)]
    return [(index, str(path)) for index, path in paths if is_complete(path)]


def _existing_outputs(out_dir: Path, job: RestyleJob) -> list[Path]:
    primary, _ = job_paths(out_dir, job)
    if not is_complete(primary):
        return []
    files = [primary]
    for index in range(1, job.batch_size):
        extra = primary.parent / f"{output_name(job.image_stem, index)}.png"
        if extra.is_file():
            files.append(extra)
    return files


def build_manifest(plan: RestylePlan, out_dir: Path, result: RestyleResult, *, backend: str) -> dict[str, Any]:
    """The stable `manifest.json` document (paths relative to `out_dir`, POSIX separators)."""

    def rel(path: Path | str) -> str:
        return Path(path).relative_to(out_dir).as_posix()

    jobs = []
    done_per_style: dict[str, int] = {}
    for job in plan.jobs:
        files = _existing_outputs(out_dir, job)
        if job.job_id in result.failed:
            status = "failed"
        elif job.job_id in result.written:
            status = "written"
        elif job.job_id in result.skipped:
            status = "resumed"
        else:
            status = "done" if files else "pending"
        if files:
            done_per_style[job.style_slug] = done_per_style.get(job.style_slug, 0) + 1
        jobs.append(
            {
                "job_id": job.job_id,
                "style": job.style,
                "style_slug": job.style_slug,
                "image_stem": job.image_stem,
                "source_image": job.image_path,
                "description": job.description,
                "prompt": job.prompt,
                "negative_prompt": job.negative_prompt,
                "seed": job.seed,
                "status": status,
                "images": [rel(f) for f in files],
                "captions": [rel(f.with_suffix(".txt")) for f in files],
                "error": result.failed.get(job.job_id),
            }
        )
    styles = []
    for name in plan.styles:
        sample = next((j for j in plan.jobs if j.style == name), None)
        if sample is None:  # a hand-edited plan may drop every job of a style
            continue
        n_images = done_per_style.get(sample.style_slug, 0)
        styles.append(
            {
                "style": name,
                "style_slug": sample.style_slug,
                "trigger": sample.trigger,
                "repeats": sample.repeats,
                "train_data_dir": rel(train_data_dir(out_dir, sample.style_slug)),
                "image_dir": rel(image_folder(out_dir, sample.style_slug, sample.repeats, sample.trigger)),
                "images": n_images,
                "steps_per_epoch": steps_per_epoch(n_images, sample.repeats, plan.train_batch_size) if n_images else 0,
            }
        )
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backend": backend,
        "cancelled": result.cancelled,
        "settings": plan_settings(plan),
        "styles": styles,
        "jobs": jobs,
        "grids": [rel(g) for g in result.grids],
    }


def write_manifest(plan: RestylePlan, out_dir: Path, result: RestyleResult, *, backend: str) -> Path:
    document = build_manifest(plan, out_dir, result, backend=backend)
    return write_atomic(
        out_dir / MANIFEST_NAME, json.dumps(document, indent=2, ensure_ascii=False) + "\n", overwrite=True
    )


def _thumbnail(path: Path, cell: int) -> Image.Image | None:
    """The image fitted to a grid cell: shrunk, or enlarged when smaller (e.g. 64 px tests), for display only."""
    if not is_complete(path):
        return None
    return ImageOps.contain(open_rgb(path), (cell, cell), Image.Resampling.LANCZOS)


def _row_label(stem: str, description: str) -> str:
    """The stem names the file; the description is added when it says more than the file name does."""
    return stem if description in ("", description_from_stem(stem)) else f"{stem}\n{description}"


def write_grids(plan: RestylePlan, out_dir: Path, *, rows: int = 8, cols: int = 6, cell: int = 256) -> list[Path]:
    """Images × styles pages of what is in `out_dir` now (missing outputs are grey), replacing older pages."""
    stems = [img["stem"] for img in plan.images]
    jobs: Mapping[tuple[str, str], RestyleJob] = {(j.image_stem, j.style): j for j in plan.jobs}
    row_labels = [_row_label(img["stem"], img["description"]) for img in plan.images]
    pages = paginate(len(stems), len(plan.styles), rows, cols)
    folder = out_dir / GRID_FOLDER
    stale = sorted(folder.glob("grid-*.png")) if folder.is_dir() else []
    written: list[Path] = []
    for page in pages:

        def cell_image(r: int, c: int) -> Image.Image | None:
            job = jobs.get((stems[r], plan.styles[c]))
            return _thumbnail(job_paths(out_dir, job)[0], cell) if job else None

        def source(r: int) -> Image.Image | None:
            return _thumbnail(Path(plan.images[r]["path"]), cell)

        title = f"StyleMix restyle — page {page.number}/{len(pages)}"
        image = grid_page(page, row_labels, plan.styles, cell_image, cell=cell, title=title, include_source=source)
        target = folder / f"grid-{page.number:02d}.png"
        write_with(target, functools.partial(_save_png, image), overwrite=True)
        written.append(target)
    for old in stale:
        if old not in written:
            old.unlink()
    return written
