"""The txt2img Script "StyleMix: batch restyle": its controls, the canny preview, and `run`.

`scripts/stylemix.py` only subclasses the webui's `Script` and forwards here, so everything testable lives
in the package. `run` turns the controls plus the txt2img panel (negative prompt, sampler, steps, CFG,
size) into a restyle plan, renders it through copies of `p` with a canny ControlNet unit per job, and
returns a `Processed` whose images are the images × styles grid pages followed by every finished image.
The output folder is a root that holds one run folder per plan: running the same plan again into the same
output folder resumes its run (finished jobs are skipped); another plan gets a new run folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import safe_child, write_with
from lib_stylemix.settings import StyleMixSettings

if TYPE_CHECKING:
    from lib_stylemix.restyle.execute import RestyleResult
    from lib_stylemix.restyle.plan import RestylePlan

TITLE = "StyleMix: batch restyle"
SEED_POLICY_CHOICES = ("per-image", "fixed", "random")
HELP = (
    "Renders every image of a prepared set in every style (txt2img + one canny ControlNet unit per image) "
    "into one sd-scripts training folder per style. The negative prompt, sampler, steps, CFG and size come from "
    "the txt2img panel above, and its batch size is the number of images per job; the txt2img prompt itself is not "
    "used, the template below is. "
    "Run again with the same output folder to resume an interrupted run."
)


def upload_paths(value: Any) -> list[Path]:
    """File paths from a gr.File value in either gradio: tempfile objects (`.name`), dicts, or plain strings."""
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    paths = []
    for item in items:
        if isinstance(item, (str, Path)):
            paths.append(Path(item))
        elif isinstance(item, dict):
            paths.append(Path(item.get("path") or item.get("name")))
        elif hasattr(item, "name"):
            paths.append(Path(item.name))
    return paths


def first_image(folder: str, uploads: Any) -> Path | None:
    """The image the canny preview shows: the first upload, else the first image of the folder."""
    from lib_stylemix.dataset.images import list_image_files

    uploaded = upload_paths(uploads)
    if uploaded:
        return uploaded[0]
    if folder and folder.strip() and Path(folder.strip()).is_dir():
        images, _ = list_image_files(folder.strip())
        return images[0] if images else None
    return None


def canny_preview(folder: str, uploads: Any, low: float, high: float) -> tuple[Image.Image | None, str]:
    """Edge map of one image at these thresholds, with its edge density and a warning when ControlNet will struggle."""
    from lib_stylemix.dataset.canny import canny_map, check_thresholds, density_warning, edge_density, map_image

    try:
        path = first_image(folder, uploads)
        if path is None:
            return None, "Choose an image folder or upload images to preview the edges."
        low_i, high_i = check_thresholds(int(low), int(high))
        edges = canny_map(path, low_i, high_i, resolution=512)
    except StyleMixError as exc:
        return None, str(exc)
    density = edge_density(edges)
    warning = density_warning(density)
    text = f"{path.name}: {density:.1%} edge pixels at {low_i}/{high_i}" + (f" — {warning}" if warning else "")
    return map_image(edges), text


def build_ui(elem_id: Callable[[str], str], settings: StyleMixSettings) -> list[Any]:
    """The Script's controls (gradio 3.41 and 4.x). Returns the input components, in `run`'s argument order.

    Controls whose defaults come from the settings are kept out of the webui's ui-config.json (`from_settings`).
    """
    import gradio as gr

    from lib_stylemix.ui.common import from_settings

    with gr.Group(elem_id=elem_id("panel")):
        gr.Markdown(HELP, elem_id=elem_id("help"))
        folder = gr.Textbox(
            label="Image folder (a prepared set)", placeholder="/path/to/prepared", elem_id=elem_id("folder")
        )
        uploads = gr.File(
            label="…or upload images", file_count="multiple", file_types=["image"], elem_id=elem_id("uploads")
        )
        styles = gr.Textbox(
            label="Styles (one per line)",
            lines=4,
            placeholder="ukiyo-e woodblock\nart nouveau poster",
            elem_id=elem_id("styles"),
        )
        template = from_settings(
            gr.Textbox(
                label="Prompt template ({style}, {description}, {trigger}, {image})",
                value=settings.default_template,
                elem_id=elem_id("template"),
            )
        )
        with gr.Row():
            low = from_settings(
                gr.Slider(1, 255, value=settings.canny_low, step=1, label="Canny low", elem_id=elem_id("canny_low"))
            )
            high = from_settings(
                gr.Slider(1, 255, value=settings.canny_high, step=1, label="Canny high", elem_id=elem_id("canny_high"))
            )
            weight = from_settings(
                gr.Slider(
                    0.0,
                    2.0,
                    value=settings.controlnet_weight,
                    step=0.05,
                    label="ControlNet weight",
                    elem_id=elem_id("cn_weight"),
                )
            )
        with gr.Row():
            preview = gr.Image(label="Canny preview", type="pil", interactive=False, elem_id=elem_id("preview"))
            preview_text = gr.Markdown(elem_id=elem_id("preview_text"))
        with gr.Row():
            seed_policy = gr.Radio(
                list(SEED_POLICY_CHOICES), value="per-image", label="Seed policy", elem_id=elem_id("seed_policy")
            )
            seed = gr.Number(value=1234, precision=0, label="Seed", elem_id=elem_id("seed"))
        out_dir = from_settings(
            gr.Textbox(
                label="Output folder (one run folder per plan inside; the same plan again resumes)",
                value=settings.restyle_output_dir,
                elem_id=elem_id("out_dir"),
            )
        )
    preview_inputs = [folder, uploads, low, high]
    preview_outputs = [preview, preview_text]
    # the folder box previews when typing is done (a listing per keystroke would be wasted work)
    for event in (folder.blur, folder.submit, uploads.change, low.change, high.change):
        event(canny_preview, inputs=preview_inputs, outputs=preview_outputs)
    return [folder, uploads, styles, template, low, high, weight, seed_policy, seed, out_dir]


def copy_uploads(paths: Sequence[Path], root: Path) -> Path:
    """Copy uploads into `root/<digest of their names and bytes>` (kept for resuming); returns that folder.

    The same uploads again land in the same folder (so a rerun resumes); other uploads, even with the same
    file names, get their own folder and never replace an earlier run's sources.
    """
    digest = hashlib.sha256()
    payloads = []
    for path in sorted(paths, key=lambda item: item.name):
        data = path.read_bytes()
        digest.update(path.name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
        payloads.append((path.name, data))
    target = root / digest.hexdigest()[:12]
    target.mkdir(parents=True, exist_ok=True)
    for name, data in payloads:
        destination = safe_child(target, name)
        if destination.exists():
            if destination.read_bytes() != data:
                raise StyleMixError(f"{destination}: two uploads share this file name; rename one")
            continue
        write_with(destination, lambda tmp, payload=data: tmp.write_bytes(payload))
    return target


def _styles(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _saved(path: Path) -> tuple[Image.Image, str]:
    with Image.open(path) as image:
        image.load()
        return image.copy(), str(image.info.get("parameters", ""))


def absolute(path: str | Path) -> Path:
    """An absolute path as the person reads it (no symlinks resolved), whatever the webui's working folder."""
    return Path(os.path.abspath(Path(path).expanduser()))


def source_folder(folder: str, uploads: Any, out_root: Path) -> Path:
    """The image folder the plan reads: the uploads' copy next to the output root, else the typed folder."""
    uploaded = upload_paths(uploads)
    if uploaded:
        return copy_uploads(uploaded, out_root.parent / f"{out_root.name}-uploads")
    if (folder or "").strip():
        return absolute(folder.strip())
    raise StyleMixError("StyleMix: choose an image folder or upload images")


@dataclasses.dataclass
class RunOutputs:
    """What the Script hands back to the webui: images (grid pages first) and their texts."""

    images: list[Image.Image] = dataclasses.field(default_factory=list)
    infotexts: list[str] = dataclasses.field(default_factory=list)
    prompts: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)
    grids: int = 0

    def add(self, image: Image.Image, infotext: str, prompt: str, seed: int) -> None:
        self.images.append(image)
        self.infotexts.append(infotext)
        self.prompts.append(prompt)
        self.seeds.append(seed)


def collect_outputs(plan: RestylePlan, result: RestyleResult) -> RunOutputs:
    """Grid pages, then every finished image of the run (written now or resumed), read back from disk."""
    out = RunOutputs(grids=len(result.grids))
    for number, grid_path in enumerate(result.grids, start=1):
        image, _ = _saved(Path(grid_path))
        out.add(image, f"StyleMix images × styles grid, page {number}/{len(result.grids)}", "", -1)
    jobs = {job.job_id: job for job in plan.jobs}
    for job_id, files in result.files.items():
        job = jobs[job_id]
        for index, path in files:
            image, infotext = _saved(Path(path))
            out.add(image, infotext, job.prompt, job.seed + index)
    return out


def run_summary(plan: RestylePlan, result: RestyleResult, *, resumed_run: bool) -> dict[str, Any]:
    """The run's outcome as plain JSON values: what API callers find under `extra_generation_params`."""
    return {
        "run_folder": str(absolute(result.out_dir)),
        "resumed_run": resumed_run,
        "manifest": str(absolute(result.manifest_path)) if result.manifest_path else "",
        "jobs": len(plan.jobs),
        "written": len(result.written),
        "resumed": len(result.skipped),
        "failed": dict(result.failed),
        "pending": len(plan.jobs) - len(result.written) - len(result.skipped) - len(result.failed),
        "interrupted": result.cancelled,
        "grids": [str(absolute(g)) for g in result.grids],
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as the lines the txt2img page shows under the images (its "comments")."""
    lines = [
        f"StyleMix: {summary['written']} written, {summary['resumed']} resumed, {len(summary['failed'])} failed"
        f" of {summary['jobs']} job(s)"
        + (" — interrupted; run again with the same output folder to continue" if summary["interrupted"] else "")
        + f". Run folder: {summary['run_folder']}"
    ]
    lines += [f"StyleMix failed {job_id}: {message}" for job_id, message in summary["failed"].items()]
    return lines


SUMMARY_KEY = "StyleMix"


def report(p, summary: dict[str, Any]) -> str:
    """Put the summary where A1111 1.10 and Forge show and return it.

    `Processed` copies `p.comments` (its `comments=` argument is ignored) into the page's comment box, and the
    API's `info` is `Processed.js()`, which carries `p.extra_generation_params`: the summary goes into both.
    """
    lines = summary_lines(summary)
    comment = getattr(p, "comment", None)
    if callable(comment):
        for line in lines:
            comment(line)
    else:
        comments = getattr(p, "comments", None)
        p.comments = {**(comments if isinstance(comments, dict) else {}), **dict.fromkeys(lines, 1)}
    params = getattr(p, "extra_generation_params", None)
    p.extra_generation_params = {**(params if isinstance(params, dict) else {}), SUMMARY_KEY: summary}
    return "\n".join(lines)


def _make_plan(p, values: ScriptValues, source: Path, settings: StyleMixSettings) -> RestylePlan:
    from lib_stylemix.restyle.plan import CannyUnit, make_plan

    return make_plan(
        source,
        _styles(values.styles_text),
        template=values.template or settings.default_template,
        negative_prompt=p.negative_prompt or "",
        seed_policy=values.seed_policy,
        seed=int(values.seed),
        sampler=p.sampler_name or settings.sampler,
        steps=int(p.steps),
        cfg_scale=float(p.cfg_scale),
        width=int(p.width),
        height=int(p.height),
        batch_size=max(1, min(8, int(p.batch_size or 1))),
        canny=CannyUnit(low=int(values.low), high=int(values.high), weight=float(values.weight)),
    )


@dataclasses.dataclass(frozen=True)
class ScriptValues:
    """The Script's control values, in `build_ui`'s order."""

    folder: str
    uploads: Any
    styles_text: str
    template: str
    low: float
    high: float
    weight: float
    seed_policy: str
    seed: float
    out_dir: str


def run(p, *values: Any):
    """Execute the restyle plan for the Script and return a `Processed` (never None: None makes txt2img run again).

    The output folder is a root: the run goes into its own run folder there (a rerun of the same plan finds and
    resumes it), so a second run never replaces an earlier run's manifest or grid pages.
    """
    from modules.processing import Processed

    from lib_stylemix.restyle.execute import execute
    from lib_stylemix.restyle.runs import choose_run_folder
    from lib_stylemix.webui.controlnet import controlnet_bridge, pick_canny_model
    from lib_stylemix.webui.env import loaded_model, model_arch, webui_info
    from lib_stylemix.webui.generator import WebuiRestyleGenerator, copy_processing
    from lib_stylemix.webui.options import read_settings
    from lib_stylemix.webui.state import StateCancel, StateProgress

    args = ScriptValues(*values)
    settings = read_settings()
    if not (args.out_dir or "").strip():
        raise StyleMixError("StyleMix: choose an output folder")
    root = absolute(args.out_dir.strip())
    plan = _make_plan(p, args, source_folder(args.folder, args.uploads, root), settings)
    run_dir, resumed_run = choose_run_folder(plan, root)
    bridge = controlnet_bridge()
    model = pick_canny_model(bridge.models(), model_arch(loaded_model()), settings.controlnet_model)
    result = execute(
        plan,
        WebuiRestyleGenerator(copy_processing(p), bridge, model),
        run_dir,
        progress=StateProgress(),
        cancel=StateCancel(),
        backend=webui_info().label,
        controlnet_model=model,
    )
    outputs = collect_outputs(plan, result)
    text = report(p, run_summary(plan, result, resumed_run=resumed_run))
    first = outputs.grids
    return Processed(
        p,
        outputs.images,
        seed=outputs.seeds[first] if len(outputs.seeds) > first else -1,
        info=text,
        all_prompts=outputs.prompts,
        all_seeds=outputs.seeds,
        index_of_first_image=first if outputs.images[first:] else 0,
        infotexts=outputs.infotexts,
        comments=text,
    )
