"""What the Restyle panel does, without gradio: the same plan as the txt2img Script, run from the tab."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelToken, Progress
from lib_stylemix.ui.common import parse_lines

if TYPE_CHECKING:
    from lib_stylemix.restyle.execute import RestyleResult
    from lib_stylemix.restyle.plan import RestylePlan
    from lib_stylemix.seams import RestyleGenerator as Generator
    from lib_stylemix.settings import StyleMixSettings

SEED_POLICIES = ["per-image", "fixed", "random"]


def default_output(folder: str, output_root: str) -> str:
    """Where restyled images of `folder` go by default: `<output_root>/<image folder name>` (a root of run folders)."""
    name = Path((folder or "").strip()).expanduser().resolve().name if (folder or "").strip() else ""
    return str(Path(output_root) / name) if name else ""


def build_plan(
    folder: str,
    styles_text: str,
    template: str,
    negative: str,
    seed_policy: str,
    seed: float,
    low: float,
    high: float,
    settings: StyleMixSettings,
) -> RestylePlan:
    """The restyle plan for a prepared image folder × one style per line, with the settings' generation values."""
    from lib_stylemix.restyle.plan import CannyUnit, make_plan

    path = Path((folder or "").strip()).expanduser()
    if not str(folder or "").strip() or not path.is_dir():
        raise StyleMixError(f"{folder!r}: image folder not found (prepare one in the Dataset panel)")
    styles = parse_lines(styles_text)
    if not styles:
        raise StyleMixError("styles: give one style per line")
    canny = CannyUnit(low=int(low), high=int(high), weight=settings.controlnet_weight)
    return make_plan(path, styles, template=template or settings.default_template, negative_prompt=negative or "",
                     seed_policy=seed_policy, seed=int(seed), sampler=settings.sampler, steps=settings.steps,
                     cfg_scale=settings.cfg_scale, width=settings.width, height=settings.height, canny=canny)


def plan_summary(plan: RestylePlan) -> str:
    return (f"{len(plan.jobs)} job(s): {len(plan.images)} image(s) × {len(plan.styles)} style(s) "
            f"({', '.join(plan.styles)}), {plan.width}x{plan.height}, {plan.sampler} {plan.steps} steps, "
            f"canny {plan.canny.low}/{plan.canny.high}. First prompt: {plan.jobs[0].prompt!r}")


def run_plan(
    plan: RestylePlan,
    generator: Generator,
    out_dir: str,
    *,
    backend: str,
    progress: Progress,
    cancel: CancelToken,
) -> tuple[RestyleResult, str, list[tuple[str, str]], list[str]]:
    """Execute into the plan's run folder under `out_dir` (found again, and resumed, when the same plan ran there
    before; a new `run-…` folder otherwise). Returns the result, a summary, gallery items and grid pages."""
    from lib_stylemix.restyle.execute import execute
    from lib_stylemix.restyle.runs import choose_run_folder

    if not (out_dir or "").strip():
        raise StyleMixError("output folder: type where the restyled images should go")
    root = Path(os.path.abspath(Path(out_dir.strip()).expanduser()))
    run_dir, resumed_run = choose_run_folder(plan, root)
    result = execute(plan, generator, run_dir, progress=progress, cancel=cancel, backend=backend)
    style_of = {job.job_id: (job.style, job.image_stem) for job in plan.jobs}
    gallery: list[tuple[str, str]] = []
    for job_id, paths in result.written.items():
        style, stem = style_of.get(job_id, ("", job_id))
        gallery.extend((p, f"{style} · {stem}") for p in paths)
    return result, summary_text(plan, result, resumed_run), gallery, list(result.grids)


def summary_text(plan: RestylePlan, result: RestyleResult, resumed_run: bool) -> str:
    """One status line; the run folder is absolute (never relative to the webui's working folder)."""
    written = sum(len(p) for p in result.written.values())
    parts = [f"{written} image(s) written to {'the resumed run ' if resumed_run else 'new run '}{result.out_dir}"]
    if result.skipped:
        parts.append(f"{len(result.skipped)} job(s) already done (resumed)")
    if result.failed:
        first = next(iter(result.failed.items()))
        parts.append(f"{len(result.failed)} failed (first: {first[0]}: {first[1]})")
    if result.cancelled:
        parts.append(f"cancelled after {len(result.written) + len(result.skipped)}/{len(plan.jobs)} job(s) — "
                     "run again with the same output folder to resume")
    return "; ".join(parts)
