"""Generators that render through the webui's own `process_images`, so LoRA tags, ControlNet, ADetailer and
every other always-on script behave exactly as in txt2img.

Each job gets its own processing object: either a copy of the Script's `p` (the person's txt2img panel
settings, its scripts and their arguments) or a fresh txt2img `p` with the always-on scripts' default
arguments (for the StyleMix tab). A processing object is never reused for two `process_images` calls.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.restyle.plan import RestyleJob
from lib_stylemix.seams import GeneratedImage, Txt2ImgRequest
from lib_stylemix.webui.controlnet import ControlNetBridge
from lib_stylemix.webui.state import StateCancel

NewProcessing = Callable[[], Any]
log = logging.getLogger(__name__)


def process(p, what: str):
    """`process_images(p)`, with the webui's own failures (NansException, out of memory …) turned into a
    `StyleMixError` naming the job, so the caller records that job as failed and goes on with the rest."""
    from modules import processing

    try:
        return processing.process_images(p)
    except (StyleMixError, CancelledError):
        raise
    except Exception as exc:
        log.exception("StyleMix: %s failed inside the webui", what)
        raise StyleMixError(f"{what}: the webui failed ({type(exc).__name__}: {exc})") from exc


def copy_processing(p) -> Callable[[], Any]:
    """A factory of per-job copies of the Script's `p` (mutable containers copied, so jobs never share them).

    The copies keep `scripts`, `script_args` and `scripts_setup_complete`, so the always-on scripts run in
    every job without their `setup()` running again.
    """

    def new():
        pc = copy.copy(p)
        pc.styles = list(getattr(p, "styles", None) or [])
        pc.extra_generation_params = dict(getattr(p, "extra_generation_params", None) or {})
        pc.override_settings = dict(getattr(p, "override_settings", None) or {})
        return pc

    return new


def default_script_args(runner) -> list[Any]:
    """Full `script_args` for `runner` with no selectable script and every always-on script at its UI defaults.

    This is what the webui's API does for requests that name no scripts; without it ControlNet and the other
    always-on scripts would not run (or would crash on missing arguments).
    """
    scripts = list(getattr(runner, "scripts", None) or [])
    size = max([1] + [s.args_to for s in scripts])
    args: list[Any] = [None] * size
    args[0] = 0
    for script in getattr(runner, "alwayson_scripts", None) or []:
        controls = getattr(script, "controls", None) or []
        if len(controls) == script.args_to - script.args_from:
            args[script.args_from : script.args_to] = [getattr(c, "value", None) for c in controls]
    return args


def fresh_txt2img() -> Callable[[], Any]:
    """A factory of new txt2img processing objects with the txt2img scripts attached (for the StyleMix tab)."""
    from modules import scripts

    runner = scripts.scripts_txt2img
    defaults = default_script_args(runner)

    def new():
        from modules import processing, shared

        opts = shared.opts
        p = processing.StableDiffusionProcessingTxt2Img(
            outpath_samples=getattr(opts, "outdir_samples", "") or getattr(opts, "outdir_txt2img_samples", ""),
            outpath_grids=getattr(opts, "outdir_grids", "") or getattr(opts, "outdir_txt2img_grids", ""),
            do_not_save_samples=True,
            do_not_save_grid=True,
        )
        p.scripts = runner
        p.is_api = True  # before script_args: keeps the built-in seed/sampler scripts from overwriting our fields
        p.script_args = list(defaults)
        return p

    return new


def set_request_fields(p, request: Txt2ImgRequest) -> None:
    """Put a `Txt2ImgRequest` on a processing object; its LoRAs become `<lora:name:w>` tags (extra networks)."""
    from lib_stylemix.epochs.tags import with_loras

    set_txt2img_fields(p, prompt=with_loras(request.prompt, request.loras), negative=request.negative,
                       seed=request.seed, steps=request.steps, sampler=request.sampler, cfg=request.cfg,
                       width=request.width, height=request.height, batch_size=request.batch)


def set_txt2img_fields(  # noqa: PLR0913 — the webui's txt2img fields, filled from a Txt2ImgRequest
    p,
    *,
    prompt: str,
    negative: str,
    seed: int,
    steps: int,
    sampler: str,
    cfg: float,
    width: int,
    height: int,
    batch_size: int = 1,
) -> None:
    """Put one job's settings on a processing object. Hires fix is off: outputs must be exactly width×height."""
    p.prompt = prompt
    p.negative_prompt = negative
    p.seed = int(seed)
    p.subseed = -1
    p.subseed_strength = 0
    p.sampler_name = sampler
    p.steps = int(steps)
    p.cfg_scale = float(cfg)
    p.width = int(width)
    p.height = int(height)
    p.batch_size = int(batch_size)
    p.n_iter = 1
    p.enable_hr = False
    p.do_not_save_samples = True
    p.do_not_save_grid = True


def collect(processed, expected: int, what: str) -> list[GeneratedImage]:
    """The generated images of a `Processed` (grid and extra images skipped) with their infotexts."""
    start = int(getattr(processed, "index_of_first_image", 0) or 0)
    images = list(processed.images or [])[start:]
    infotexts = list(getattr(processed, "infotexts", None) or [])[start:]
    if not images:
        raise StyleMixError(f"{what}: the webui returned no image (see its console for the reason)")
    images = images[:expected]
    infotexts += [getattr(processed, "info", "") or ""] * (len(images) - len(infotexts))
    return [GeneratedImage(image, text) for image, text in zip(images, infotexts, strict=False)]


class WebuiRestyleGenerator:
    """Restyle `Generator`: txt2img + one canny ControlNet unit on the job's prepared image."""

    def __init__(self, new_processing: NewProcessing, bridge: ControlNetBridge, model: str) -> None:
        self._new = new_processing
        self._bridge = bridge
        self._model = model
        self._cancel = StateCancel()

    @property
    def controlnet_model(self) -> str:
        """The canny model every job uses (record it with `execute(..., controlnet_model=...)`)."""
        return self._model

    def _control_image(self, job: RestyleJob) -> np.ndarray:
        from lib_stylemix.dataset.images import open_rgb

        array = np.asarray(open_rgb(job.image_path), dtype=np.uint8)
        if int(array.max(initial=0)) < 5:
            raise StyleMixError(f"{job.image_path}: the image is black; ControlNet has no edges to follow")
        return array

    def generate(self, job: RestyleJob) -> list[GeneratedImage]:
        unit = self._bridge.canny_unit(self._control_image(job), job.canny, self._model)
        p = self._new()
        set_request_fields(p, job.request())
        p.extra_generation_params["StyleMix style"] = job.style
        p.script_args = self._bridge.splice(p.scripts, p.script_args, [unit])
        processed = process(p, f"restyle job {job.job_id}")
        if self._cancel.interrupted():
            raise CancelledError(f"interrupted while rendering {job.job_id}")
        return collect(processed, job.batch_size, f"restyle job {job.job_id}")


class WebuiTxt2ImgGenerator:
    """`Txt2ImgGenerator` for epoch grids and pool previews: plain txt2img, LoRAs from the prompt's tags."""

    def __init__(self, new_processing: NewProcessing) -> None:
        self._new = new_processing
        self._cancel = StateCancel()

    def generate(self, request: Txt2ImgRequest) -> list[GeneratedImage]:
        p = self._new()
        set_request_fields(p, request)
        processed = process(p, f"txt2img seed {request.seed}")
        if self._cancel.interrupted():
            raise CancelledError("interrupted")
        return collect(processed, request.batch, f"txt2img {request.prompt[:40]!r}")
