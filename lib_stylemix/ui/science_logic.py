"""What the Style science panel does, without gradio: the correlation report, blind A/B trials, epoch suggestion.

Everything is written under `<pool output folder>/science/`: one folder per report (JSON, PNG, renders), and
one append-only answers file shared by every A/B session.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_stylemix.errors import StyleMixError
from lib_stylemix.science.abtest import AnswerStore, Trial, TrialSource, agreement, answer_trial, make_trial
from lib_stylemix.science.correlation import CorrelationReport
from lib_stylemix.seams import CancelToken, Progress
from lib_stylemix.ui.common import SessionJob

if TYPE_CHECKING:
    from lib_stylemix.epochs import Txt2ImgGenerator
    from lib_stylemix.science.epoch_rank import EpochRanking
    from lib_stylemix.science.features import FeatureExtractor
    from lib_stylemix.settings import StyleMixSettings
    from lib_stylemix.ui.epochs_logic import EpochsSession
    from lib_stylemix.ui.pool_logic import PoolSession

ANSWERS_FILE = "ab_answers.jsonl"
MAX_TRAINING_IMAGES = 16


@dataclass
class ScienceSession:
    """The last report (and the trials drawn from its renders) of one browser session."""

    report: CorrelationReport | None = None
    source: TrialSource | None = None
    trial: Trial | None = None
    seed: int = field(default_factory=lambda: int(time.time()))
    job: SessionJob = field(default_factory=SessionJob)


def science_folder(settings: StyleMixSettings) -> Path:
    return Path(settings.pool_output_dir) / "science"


def extractor_of(host: Any) -> FeatureExtractor:
    """The host's U-Net feature extractor (only the webui has one)."""
    make = getattr(host, "feature_extractor", None)
    if make is None:
        from lib_stylemix.ui.host import NEEDS_WEBUI

        raise StyleMixError(NEEDS_WEBUI)
    return make()


def _new_folder(base: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        folder = base / (f"report-{stamp}" if n == 1 else f"report-{stamp}-{n}")
        if not folder.exists():
            folder.mkdir(parents=True)
            return folder
    raise StyleMixError(f"{base}: cannot find a free report folder name")


def run_report(session: ScienceSession, pool_session: PoolSession, settings: StyleMixSettings,
               generator: Txt2ImgGenerator, extractor: FeatureExtractor, *, progress: Progress,
               cancel: CancelToken, candidates: bool = False) -> tuple[str, Path, list[list[Any]]]:
    """Render the pool's members (and the evolve candidates on request), write the report; returns
    (summary, PNG path, disagreement rows)."""
    from lib_stylemix.science.pool_input import pool_geometry, pool_subjects
    from lib_stylemix.science.render import RenderRun, RenderSpec, correlation_report
    from lib_stylemix.science.report import write_report

    pool = pool_session.require_pool(3)
    subjects, coef, notes = pool_subjects(pool, pool_session.candidates if candidates else ())
    if len(subjects) < 3:
        raise StyleMixError("the report needs at least 3 members that prompt tags can render")
    dw, by_block = pool_geometry(pool, coef)
    folder = _new_folder(science_folder(settings))
    run = RenderRun(generator, extractor, folder / "renders", progress, cancel)
    report, rendered = correlation_report(subjects, dw, RenderSpec.from_settings(settings), run, by_block=by_block)
    _, png = write_report(report, folder)
    session.report = report
    session.source = TrialSource(report.names, {r.name: r.images for r in rendered}, report.dw, report.image)
    return summary(report, notes) + f" Saved in {folder}.", png, disagreement_rows(report)


def summary(report: CorrelationReport, notes: list[str] | None = None) -> str:
    ci = f"{report.ci_low:.2f} … {report.ci_high:.2f}" if report.bootstrap_samples else "n/a"
    best = f" Best single block: {report.best_block}." if report.best_block else ""
    skipped = f" Left out: {'; '.join(notes)}." if notes else ""
    return (f"Spearman ρ = {report.rho:.3f} (95% CI {ci}) between ΔW and image-space distance over "
            f"{len(report.names)} members.{best}{skipped}")


def disagreement_rows(report: CorrelationReport) -> list[list[Any]]:
    return [[d.a, d.b, d.dw_rank, d.image_rank, d.gap] for d in report.worst]


def load_report(session: ScienceSession, path: str) -> str:
    """Take the trials' images and distances from a saved report (so A/B can continue in a new session)."""
    file = Path((path or "").strip()).expanduser()
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        names, renders = list(doc["names"]), dict(doc["renders"])
        dw, image = np.asarray(doc["dw_distance"], float), np.asarray(doc["image_distance"], float)
    except FileNotFoundError:
        raise StyleMixError(f"{file}: file not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StyleMixError(f"{file}: not a style report with renders ({exc})") from None
    session.source = TrialSource(names, renders, dw, image)
    return f"Loaded {len(names)} members' renders from {file}."


def next_trial(session: ScienceSession, kind: str, settings: StyleMixSettings) -> tuple[str, list[str]]:
    """Draw the next blind trial; returns (reference image path, candidate image paths in shown order)."""
    if session.source is None:
        raise StyleMixError("run the style report first (or load a saved report) to have renders to compare")
    number = AnswerStore(science_folder(settings) / ANSWERS_FILE).next_number()
    session.trial = make_trial(session.source, number, kind, seed=session.seed)
    return session.trial.reference.image, [c.image for c in session.trial.candidates]


def answer(session: ScienceSession, value: str, settings: StyleMixSettings) -> str:
    """Store the person's answer to the shown trial; returns the statistics line."""
    if session.trial is None:
        raise StyleMixError("show a trial first (Next trial)")
    store = AnswerStore(science_folder(settings) / ANSWERS_FILE)
    store.append(answer_trial(session.trial, value))
    session.trial = None
    return statistics(settings)


def statistics(settings: StyleMixSettings) -> str:
    store = AnswerStore(science_folder(settings) / ANSWERS_FILE)
    answers = store.read()
    lines = [agreement(answers, kind).summary() for kind in ("closer", "same")]
    return "\n".join(lines + [f"warning: {w}" for w in store.warnings])


def _training_images(folder: str) -> list[Any]:
    from lib_stylemix.dataset.images import list_image_files, open_rgb

    files, _ = list_image_files(Path((folder or "").strip()).expanduser())
    if not files:
        raise StyleMixError(f"{folder}: no images (point it at the restyled training images of this style)")
    return [open_rgb(f) for f in files[:MAX_TRAINING_IMAGES]]


def suggest_epochs(epochs_session: EpochsSession, training_folder: str,
                   extractor: FeatureExtractor) -> EpochRanking:
    """Rank the rendered grid's epochs (column with strength nearest 1) by distance to the training images."""
    from lib_stylemix.science.epoch_rank import rank_epochs

    result = epochs_session.result
    if result is None:
        raise StyleMixError("render an epoch grid first")
    strengths = result.plan.strengths
    col = min(range(len(strengths)), key=lambda c: abs(strengths[c] - 1.0))
    targets = extractor.describe(_training_images(training_folder))
    renders, epochs = {}, {}
    for row, file in enumerate(result.plan.files):
        images = result.cell_images(row, col)
        if images:
            renders[file.label] = extractor.describe(images)
            epochs[file.label] = file.epoch
    ranking = rank_epochs(renders, targets, epochs)
    picked = picked_label(epochs_session)
    return ranking.with_pick(picked) if picked in renders else ranking


def picked_label(epochs_session: EpochsSession) -> str | None:
    if epochs_session.result is None or epochs_session.picked is None:
        return None
    return epochs_session.result.cell(epochs_session.picked)[0].label


def save_ranking(epochs_session: EpochsSession, ranking: EpochRanking) -> Path:
    """Store the ranking, with the person's clicked cell as the override, in the run's sidecar."""
    from lib_stylemix.science import epoch_rank

    if epochs_session.result is None:
        raise StyleMixError("render an epoch grid first")
    picked = picked_label(epochs_session)
    if picked is not None:
        ranking = ranking.with_pick(picked)
    anchor = epoch_rank.run_anchor(list(epochs_session.result.plan.files))
    return epoch_rank.save_ranking(anchor.path, ranking)


def merge_check(settings: StyleMixSettings, generator: Txt2ImgGenerator, merged_path: str, lora_folder: Path, *,
                cancel: CancelToken) -> tuple[str, Path]:
    """ΔW error of a saved merge vs its recipe, and pixel difference of merge vs prompt stack; saved as JSON."""
    from lib_stylemix.fsutil import write_atomic
    from lib_stylemix.science.merge_check import (
        PixelJob,
        check_dw,
        check_pixels,
        recipe_from_metadata,
        render_pair,
        stack_tags,
    )
    from lib_stylemix.science.render import RenderSpec

    path = Path((merged_path or "").strip()).expanduser()
    if not path.is_absolute():
        path = lora_folder / path
    if not path.is_file():
        raise StyleMixError(f"{path}: file not found")
    if lora_folder.resolve() not in path.resolve().parents:
        raise StyleMixError(f"{path}: the merge must be in the LoRA folder {lora_folder} for <lora:…> tags to find it")
    recipe = recipe_from_metadata(path, path.parent)
    dw = check_dw(path, recipe)
    job = PixelJob(RenderSpec.from_settings(settings), path.stem, tuple(stack_tags(recipe)))
    merged, stacked = render_pair(job, generator, cancel)
    pixels = check_pixels(merged, stacked)
    folder = science_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"merge": str(path), "recipe": [[str(t.path), t.weight] for t in recipe], **dw.to_json(),
           "pixels": pixels.to_json()}
    out = write_atomic(folder / f"merge_check-{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}.json",
                       json.dumps(doc, indent=1))
    fp32 = "n/a" if dw.fp32_error is None else f"{dw.fp32_error:.1e}"
    text = (f"ΔW relative error {dw.stored_error:.1e} as stored ({dw.stored_dtype}), {fp32} in fp32. "
            f"Pixels vs the prompt stack over {len(merged)} image(s): mean |Δ| {pixels.overall_mean_abs:.2f}/255, "
            f"PSNR {pixels.overall_psnr:.1f} dB. Saved {out}.")
    return text, out
