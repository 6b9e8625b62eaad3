"""The txt2img Script "StyleMix: batch restyle": its controls, the canny preview, and `run`.

`scripts/stylemix.py` only subclasses the webui's `Script` and forwards here, so everything testable lives
in the package. `run` turns the controls plus the txt2img panel (negative prompt, sampler, steps, CFG,
size) into a restyle plan, renders it through copies of `p` with a canny ControlNet unit per job, and
returns a `Processed` whose images are the images × styles grid pages followed by every finished image.
Running again into the same output folder resumes: finished jobs are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import safe_child, write_with
from lib_stylemix.settings import StyleMixSettings

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
    """The Script's controls (gradio 3.41 and 4.x). Returns the input components, in `run`'s argument order."""
    import gradio as gr

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
        template = gr.Textbox(
            label="Prompt template ({style}, {description}, {trigger}, {image})",
            value=settings.default_template,
            elem_id=elem_id("template"),
        )
        with gr.Row():
            low = gr.Slider(1, 255, value=settings.canny_low, step=1, label="Canny low", elem_id=elem_id("canny_low"))
            high = gr.Slider(
                1, 255, value=settings.canny_high, step=1, label="Canny high", elem_id=elem_id("canny_high")
            )
            weight = gr.Slider(
                0.0,
                2.0,
                value=settings.controlnet_weight,
                step=0.05,
                label="ControlNet weight",
                elem_id=elem_id("cn_weight"),
            )
        with gr.Row():
            preview = gr.Image(label="Canny preview", type="pil", interactive=False, elem_id=elem_id("preview"))
            preview_text = gr.Markdown(elem_id=elem_id("preview_text"))
        with gr.Row():
            seed_policy = gr.Radio(
                list(SEED_POLICY_CHOICES), value="per-image", label="Seed policy", elem_id=elem_id("seed_policy")
            )
            seed = gr.Number(value=1234, precision=0, label="Seed", elem_id=elem_id("seed"))
        out_dir = gr.Textbox(
            label="Output folder (same folder again = resume)",
            value=settings.restyle_output_dir,
            elem_id=elem_id("out_dir"),
        )
    preview_inputs = [folder, uploads, low, high]
    preview_outputs = [preview, preview_text]
    # the folder box previews when typing is done (a listing per keystroke would be wasted work)
    for event in (folder.blur, folder.submit, uploads.change, low.change, high.change):
        event(canny_preview, inputs=preview_inputs, outputs=preview_outputs)
    return [folder, uploads, styles, template, low, high, weight, seed_policy, seed, out_dir]


def copy_uploads(paths: Sequence[Path], target: Path) -> Path:
    """Copy uploads into `target` (kept for resuming); a different file under the same name is an error."""
    target.mkdir(parents=True, exist_ok=True)
    for path in paths:
        data = path.read_bytes()
        destination = safe_child(target, path.name)
        if destination.exists():
            if destination.read_bytes() != data:
                raise StyleMixError(
                    f"{destination}: a different file of this name is already there; use a new output folder"
                )
            continue
        write_with(destination, lambda tmp, payload=data: tmp.write_bytes(payload))
    return target


def _styles(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _saved(path: Path) -> tuple[Image.Image, str]:
    with Image.open(path) as image:
        image.load()
        return image.copy(), str(image.info.get("parameters", ""))


def run(
    p,
    folder: str,
    uploads: Any,
    styles_text: str,
    template: str,
    low: float,
    high: float,
    weight: float,
    seed_policy: str,
    seed: float,
    out_dir: str,
):
    """Execute the restyle plan for the Script and return a `Processed` (never None: None makes txt2img run again)."""
    from modules.processing import Processed

    from lib_stylemix.restyle.execute import execute, is_complete, job_paths
    from lib_stylemix.restyle.layout import output_name
    from lib_stylemix.restyle.plan import CannyUnit, make_plan
    from lib_stylemix.webui.controlnet import controlnet_bridge, pick_canny_model
    from lib_stylemix.webui.env import webui_info
    from lib_stylemix.webui.generator import WebuiRestyleGenerator, copy_processing
    from lib_stylemix.webui.host import loaded_model, model_arch
    from lib_stylemix.webui.options import read_settings
    from lib_stylemix.webui.state import StateCancel, StateProgress

    settings = read_settings()
    if not (out_dir or "").strip():
        raise StyleMixError("StyleMix: choose an output folder")
    out = Path(out_dir.strip())
    uploaded = upload_paths(uploads)
    if uploaded:
        source: Path = copy_uploads(uploaded, out.parent / f"{out.name}-uploads")
    elif (folder or "").strip():
        source = Path(folder.strip())
    else:
        raise StyleMixError("StyleMix: choose an image folder or upload images")
    bridge = controlnet_bridge()
    model = pick_canny_model(bridge.models(), model_arch(loaded_model()), settings.controlnet_model)
    plan = make_plan(
        source,
        _styles(styles_text),
        template=template or settings.default_template,
        negative_prompt=p.negative_prompt or "",
        seed_policy=seed_policy,
        seed=int(seed),
        sampler=p.sampler_name or settings.sampler,
        steps=int(p.steps),
        cfg_scale=float(p.cfg_scale),
        width=int(p.width),
        height=int(p.height),
        batch_size=max(1, min(8, int(p.batch_size or 1))),
        canny=CannyUnit(low=int(low), high=int(high), weight=float(weight)),
    )
    generator = WebuiRestyleGenerator(copy_processing(p), bridge, model)
    result = execute(
        plan,
        generator,
        out,
        progress=StateProgress(),
        cancel=StateCancel(),
        backend=webui_info().label,
        controlnet_model=model,
    )
    images: list[Image.Image] = []
    infotexts: list[str] = []
    prompts: list[str] = []
    seeds: list[int] = []
    for number, grid_path in enumerate(result.grids, start=1):
        image, _ = _saved(Path(grid_path))
        images.append(image)
        infotexts.append(f"StyleMix images × styles grid, page {number}/{len(result.grids)}")
        prompts.append("")
        seeds.append(-1)
    for job in plan.jobs:
        if job.job_id not in result.written and job.job_id not in result.skipped:
            continue
        job_folder = job_paths(out, job)[0].parent
        for index in range(job.batch_size):
            path = job_folder / f"{output_name(job.image_stem, index)}.png"
            if not is_complete(path):
                continue
            image, infotext = _saved(path)
            images.append(image)
            infotexts.append(infotext)
            prompts.append(job.prompt)
            seeds.append(job.seed + index)
    summary = (
        f"StyleMix: {len(result.written)} written, {len(result.skipped)} resumed, {len(result.failed)} failed"
        + (" — interrupted; run again with the same output folder to continue" if result.cancelled else "")
        + f". Output: {out}"
    )
    if result.failed:
        summary += "\n" + "\n".join(f"{job_id}: {message}" for job_id, message in result.failed.items())
    return Processed(
        p,
        images,
        seed=seeds[len(result.grids)] if len(seeds) > len(result.grids) else -1,
        info=summary,
        all_prompts=prompts,
        all_seeds=seeds,
        index_of_first_image=len(result.grids) if images[len(result.grids) :] else 0,
        infotexts=infotexts,
        comments=summary,
    )
