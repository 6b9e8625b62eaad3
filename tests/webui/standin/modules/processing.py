"""modules/processing.py essentials: the processing dataclasses, Processed, process_images, fix_seed, and the
API's txt2img (modules/api/api.py: its response `info` is `Processed.js()`)."""

import base64
import dataclasses
import hashlib
import io
import json
import random
import re

from PIL import Image

from modules import shared

calls = []  # one dict per process_images call: what the "model" saw
before_batch_hooks = []  # tests append fn(p, batch_index) to e.g. press Interrupt mid-run

LORA_TAG = re.compile(r"<lora:([^:>]+):([^:>]+)(?::[^>]*)?>")


def fix_seed(p):
    if p.seed is None or p.seed == -1:
        p.seed = random.randrange(4294967294)


@dataclasses.dataclass(repr=False)
class StableDiffusionProcessing:
    sd_model: object = None
    outpath_samples: str = None
    outpath_grids: str = None
    prompt: str = ""
    negative_prompt: str = ""
    styles: list = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0
    sampler_name: str = None
    scheduler: str = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    extra_generation_params: dict = None
    override_settings: dict = None
    override_settings_restore_afterwards: bool = True
    disable_extra_networks: bool = False

    scripts_value: object = dataclasses.field(default=None, init=False)
    script_args_value: list = dataclasses.field(default=None, init=False)
    scripts_setup_complete: bool = dataclasses.field(default=False, init=False)
    is_api: bool = dataclasses.field(default=False, init=False)
    all_prompts: list = dataclasses.field(default=None, init=False)
    all_negative_prompts: list = dataclasses.field(default=None, init=False)
    all_seeds: list = dataclasses.field(default=None, init=False)
    all_subseeds: list = dataclasses.field(default=None, init=False)
    comments: dict = dataclasses.field(default=None, init=False)

    def __post_init__(self):
        self.comments = {}  # A1111 1.10 / Forge: a dict used as an ordered set; `Processed` reads it
        self.styles = self.styles or []
        self.extra_generation_params = self.extra_generation_params or {}
        self.override_settings = self.override_settings or {}
        self.used = False

    @property
    def scripts(self):
        return self.scripts_value

    @scripts.setter
    def scripts(self, value):
        self.scripts_value = value
        if self.scripts_value and self.script_args_value and not self.scripts_setup_complete:
            self.setup_scripts()

    @property
    def script_args(self):
        return self.script_args_value

    @script_args.setter
    def script_args(self, value):
        self.script_args_value = value
        if self.scripts_value and self.script_args_value and not self.scripts_setup_complete:
            self.setup_scripts()

    def comment(self, text):
        self.comments[text] = 1

    def setup_scripts(self):
        self.scripts_setup_complete = True
        self.scripts.setup_scrips(self, is_ui=not self.is_api)


@dataclasses.dataclass(repr=False)
class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    enable_hr: bool = False
    denoising_strength: float = 0.75
    hr_scale: float = 2.0
    hr_upscaler: str = None
    hr_second_pass_steps: int = 0
    hr_prompt: str = ""
    hr_negative_prompt: str = ""


class Processed:
    def __init__(
        self,
        p,
        images_list,
        seed=-1,
        info="",
        subseed=None,
        all_prompts=None,
        all_negative_prompts=None,
        all_seeds=None,
        all_subseeds=None,
        index_of_first_image=0,
        infotexts=None,
        comments="",
    ):
        self.images = images_list
        self.prompt = p.prompt
        self.negative_prompt = p.negative_prompt
        self.seed = seed
        self.info = info
        self.comments = "".join(f"{comment}\n" for comment in p.comments)  # 1.10: the `comments=` argument is unused
        self.extra_generation_params = p.extra_generation_params
        self.width = p.width
        self.height = p.height
        self.sampler_name = p.sampler_name
        self.steps = p.steps
        self.all_prompts = all_prompts or p.all_prompts or [self.prompt]
        self.all_seeds = all_seeds or p.all_seeds or [self.seed]
        self.index_of_first_image = index_of_first_image
        self.infotexts = infotexts or [info] * len(images_list)  # 1.10 default (1.9 used [info])

    def js(self):
        """The generation info JSON (a subset of the real keys); `info` and `comments` are not in it."""
        obj = {
            "prompt": self.all_prompts[0],
            "all_prompts": self.all_prompts,
            "seed": self.seed,
            "all_seeds": self.all_seeds,
            "width": self.width,
            "height": self.height,
            "sampler_name": self.sampler_name,
            "steps": self.steps,
            "extra_generation_params": self.extra_generation_params,
            "index_of_first_image": self.index_of_first_image,
            "infotexts": self.infotexts,
        }
        return json.dumps(obj, default=lambda o: None)


def _colour(*parts):
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return digest[0], digest[1], digest[2]


image_painter = None  # tests may draw real pictures: painter(prompt, seed, width, height) -> Image


def process_images(p):
    """One call per processing object; LoRA tags applied per batch; ControlNet via the always-on scripts."""
    if p.used:
        raise RuntimeError("processing object reused for a second process_images call")
    p.used = True
    state = shared.state
    if p.scripts is not None:
        p.scripts.before_process(p)
    p.all_prompts = [p.prompt] * (p.n_iter * p.batch_size)
    p.all_seeds = [p.seed + i for i in range(p.n_iter * p.batch_size)]
    if p.scripts is not None:
        p.scripts.process(p)
    if state.job_count == -1:
        state.job_count = p.n_iter
    images, infotexts = [], []
    record = {
        "prompt": p.prompt,
        "negative": p.negative_prompt,
        "seed": p.seed,
        "steps": p.steps,
        "sampler": p.sampler_name,
        "cfg": p.cfg_scale,
        "size": (p.width, p.height),
        "batch_size": p.batch_size,
        "enable_hr": getattr(p, "enable_hr", False),
        "loras": [],
        "controlnet": list(getattr(p, "controlnet_units_seen", [])),
        "script_args": p.script_args,
        "is_api": p.is_api,
    }
    for n in range(p.n_iter):
        if state.interrupted or state.stopping_generation:
            break
        for hook in before_batch_hooks:
            hook(p, n)
        record["loras"] = [(name, float(weight)) for name, weight in LORA_TAG.findall(p.prompt)]
        for i in range(p.batch_size):
            seed = p.seed + n * p.batch_size + i
            colour = _colour(p.prompt, seed, tuple(u["model"] for u in record["controlnet"]))
            images.append(image_painter(p.prompt, seed, p.width, p.height) if image_painter
                          else Image.new("RGB", (p.width, p.height), colour))
            infotexts.append(
                f"{p.prompt}\nNegative prompt: {p.negative_prompt}\n"
                f"Steps: {p.steps}, Sampler: {p.sampler_name}, Seed: {seed}"
            )
        for unit in record["controlnet"]:
            if unit["save_detected_map"]:
                images.append(Image.new("RGB", (p.width, p.height), (255, 255, 255)))
                infotexts.append("detected map")
        state.nextjob()
    calls.append(record)
    index_of_first_image = 0
    if shared.opts.return_grid and len(images) > 1:
        images.insert(0, Image.new("RGB", (p.width * 2, p.height), (0, 0, 0)))
        infotexts.insert(0, infotexts[0])
        index_of_first_image = 1
    return Processed(
        p,
        images,
        p.seed,
        infotexts[0] if infotexts else "",
        index_of_first_image=index_of_first_image,
        infotexts=infotexts,
    )


def txt2img(args, **fields):
    """modules/txt2img.py: build p, attach scripts, run the selected script, generate again if it returned None."""
    from modules import scripts

    p = StableDiffusionProcessingTxt2Img(**fields)
    p.scripts = scripts.scripts_txt2img
    p.script_args = args
    processed = scripts.scripts_txt2img.run(p, *p.script_args)
    if processed is None:
        processed = process_images(p)
    return processed


def txt2img_api(script_name, script_args, **fields):
    """POST /sdapi/v1/txt2img with `script_name`/`script_args`: p.is_api, the script's slice placed into default
    args, and the response {images (base64 PNG), parameters, info = processed.js()} (no comments, no `info` text)."""
    from modules import scripts, shared

    runner = scripts.scripts_txt2img
    index = [title.lower() for title in runner.titles].index(script_name.lower())
    script = runner.selectable_scripts[index]
    args = list(runner.default_args())
    args[0] = index + 1
    args[script.args_from : script.args_from + len(script_args)] = list(script_args)
    p = StableDiffusionProcessingTxt2Img(**fields)
    p.is_api = True
    p.scripts = runner
    p.script_args = args
    shared.state.begin(job="scripts_txt2img")
    try:
        processed = runner.run(p, *p.script_args)
    finally:
        shared.state.end()
    encoded = []
    for image in processed.images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        encoded.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return {"images": encoded, "parameters": dict(fields, script_name=script_name), "info": processed.js()}
