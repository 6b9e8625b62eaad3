"""What the Epochs panel does, without gradio: render an epoch × strength grid and record the choice."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelToken, Progress
from lib_stylemix.ui.common import SessionJob, parse_float_list, parse_lines

if TYPE_CHECKING:
    from PIL import Image

    from lib_stylemix.epochs import EpochFile, EpochGridResult, Txt2ImgGenerator
    from lib_stylemix.settings import StyleMixSettings


@dataclass
class EpochsSession:
    """The last grid a browser session rendered and the cell the person picked."""

    result: EpochGridResult | None = None
    picked: int | None = None
    job: SessionJob = field(default_factory=SessionJob)


def runs(folder: str) -> list[str]:
    """Training runs in a LoRA folder (run name → how many epoch files), as dropdown labels."""
    from lib_stylemix.epochs import list_runs

    return list(list_runs(Path((folder or "").strip()).expanduser()))


def render(
    session: EpochsSession,
    folder: str,
    run: str,
    strengths_text: str,
    prompts_text: str,
    seeds_text: str,
    settings: StyleMixSettings,
    generator: Txt2ImgGenerator,
    *,
    progress: Progress,
    cancel: CancelToken,
) -> tuple[str, list[tuple[Image.Image, str]], Image.Image, Path]:
    """Render the grid, save it (PNG + JSON record) under the settings' epochs folder; returns what to show."""
    from lib_stylemix.epochs import find_run, make_plan, run_grid, save_result

    if not run:
        raise StyleMixError("pick a training run first (Find runs)")
    files = find_run(Path((folder or "").strip()).expanduser(), run)
    seeds = [int(s) for s in parse_float_list(seeds_text, "seeds")]
    plan = make_plan(files, settings, strengths=parse_float_list(strengths_text, "strengths"),
                     prompts=parse_lines(prompts_text), seeds=seeds)
    result = run_grid(plan, generator, progress, cancel)
    session.result, session.picked = result, None
    saved = save_result(result, settings.epochs_output_dir)
    done = len(result.outputs)
    failures = result.failure_lines()
    text = (f"{len(plan.files)} epoch(s) × {len(plan.strengths)} strength(s), {done}/{len(plan.jobs)} image(s)"
            + (f", {len(failures)} failed (first: {failures[0]})" if failures else "")
            + (" — cancelled" if result.cancelled else "") + f"; saved {saved.absolute()}. Click the best cell.")
    return text, result.gallery(), result.grid(), saved


def pick(session: EpochsSession, index: int) -> tuple[EpochFile, float]:
    if session.result is None:
        raise StyleMixError("render a grid first")
    try:
        chosen = session.result.cell(index)
    except IndexError as exc:
        raise StyleMixError(str(exc)) from None
    session.picked = index
    return chosen


def record_choice(session: EpochsSession, strength: float, activation_text: str, arch: str | None) -> tuple[Path, Path]:
    """Write the picked epoch's preferred strength into its webui sidecar; returns (LoRA file, sidecar)."""
    from lib_stylemix.epochs import write_choice

    if session.result is None or session.picked is None:
        raise StyleMixError("click a grid cell to pick the best epoch first")
    file, _ = session.result.cell(session.picked)
    sidecar = write_choice(file.path, float(strength), epoch=file.epoch, arch=arch,
                           activation_text=activation_text if activation_text.strip() else None)
    return file.path, sidecar
