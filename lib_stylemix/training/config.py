"""From a style's training folder + base model + settings to a complete sd-scripts training job.

The job is data (command, cwd, env, TOML text, expected files) so it can be shown, stored in the queue and
checked before anything runs. Defaults follow the published style experiment: 20 epochs saved every epoch,
512 px, rank 32 / alpha 16, lr 1e-4, fp16 files, `.txt` captions, cached latents, fixed seed.

What the machine can do decides three defaults: mixed precision (fp16 with CUDA, `no` on a CPU-only torch),
the optimizer (AdamW8bit only when bitsandbytes really ran on the GPU) and the options' types (the detected
sd-scripts release family, see sd_args).
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.arch import detect_arch
from lib_stylemix.training.dataset import resolve_train_data_dir, scan_dataset
from lib_stylemix.training.locate import DEFAULT_TOKENIZER_DIR, SdScripts
from lib_stylemix.training.probe import EnvInfo, memory_need, probe_environment
from lib_stylemix.training.sd_args import DEFAULT_FAMILY, KNOWN_ARGS, adapt_value, check_value, coerce
from lib_stylemix.training.tokenizers import tokenizer_note
from lib_stylemix.training.toml_flat import dumps_flat

RUN_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "ACCELERATE_DISABLE_RICH": "1"}

# Options that name the job itself; they come from the plan arguments, never from --set.
_JOB_KEYS = {"pretrained_model_name_or_path", "train_data_dir", "output_dir", "output_name"}


@dataclass
class TrainSettings:
    """Every training knob StyleMix sets; None means "pick per architecture / per installed packages"."""

    max_train_epochs: int = 20
    save_every_n_epochs: int = 1
    resolution: int | None = None  # None: 512 for SD1/SD2, 1024 for SDXL
    network_dim: int = 32
    network_alpha: float = 16.0
    learning_rate: float = 1e-4
    lr_scheduler: str = "constant"
    train_batch_size: int = 1
    mixed_precision: str | None = None  # None: fp16 when sd-scripts' torch has CUDA, else "no"
    save_precision: str = "fp16"
    optimizer_type: str | None = None  # None: AdamW8bit if bitsandbytes imports in sd-scripts' venv, else AdamW
    caption_extension: str = ".txt"
    cache_latents: bool = True
    seed: int = 42
    enable_bucket: bool = True
    sdpa: bool = True
    max_data_loader_n_workers: int = 1
    gradient_checkpointing: bool | None = None  # None: on for SDXL
    network_train_unet_only: bool | None = None  # None: on for SDXL (and then text-encoder outputs are cached)
    no_half_vae: bool | None = None  # None: on for SDXL (fp16 SDXL VAE gives NaN latents)
    sample_count: int = 0  # sample prompts per epoch, taken from the image descriptions; 0 = no samples
    sample_sampler: str = "euler_a"
    num_cpu_threads_per_process: int = 1
    use_accelerate: bool | None = None  # None: use `accelerate launch` when accelerate is installed
    overwrite: bool = False  # replace existing LoRA files of the same name in the output folder
    tokenizer_cache_dir: str | None = None  # None: the extension's data/tokenizer-cache folder
    extra: dict[str, Any] = field(default_factory=dict)  # any other sd-scripts option (checked against sd_args)


_OWN_KINDS = {
    "resolution": "int",
    "optimizer_type": "str",
    "sample_count": "int",
    "num_cpu_threads_per_process": "int",
    "use_accelerate": "flag",
    "overwrite": "flag",
}
_OPTIONAL = {
    "resolution",
    "mixed_precision",
    "tokenizer_cache_dir",
    "optimizer_type",
    "gradient_checkpointing",
    "network_train_unet_only",
    "no_half_vae",
    "use_accelerate",
}


def apply_overrides(settings: TrainSettings, pairs: list[str]) -> TrainSettings:
    """Apply `key=value` strings (the CLI's `--set`): settings fields first, then any known sd-scripts option."""
    changes: dict[str, Any] = {}
    extra = dict(settings.extra)
    names = {f.name for f in dataclasses.fields(TrainSettings)} - {"extra"}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise StyleMixError(f"--set {pair!r}: expected key=value")
        if key in _JOB_KEYS:
            raise StyleMixError(f"--set {key}: set by StyleMix itself (use --dataset / --base-model / --output-root)")
        if key in names:
            if key in _OPTIONAL and text.strip().lower() in {"auto", "none", ""}:
                changes[key] = None
                continue
            kind = _OWN_KINDS.get(key) or KNOWN_ARGS[key].kind
            changes[key] = coerce(key, text, kind)
        elif key in KNOWN_ARGS:
            extra[key] = coerce(key, text, KNOWN_ARGS[key].kind)
        else:
            raise StyleMixError(f"--set {key}: not a StyleMix setting or a known sd-scripts option (typo?)")
    return dataclasses.replace(settings, extra=extra, **changes)


@dataclass
class TrainJob:
    """A fully planned training run. Paths are strings so the job round-trips through JSON (the queue)."""

    style: str
    slug: str
    arch: str
    base_model: str
    train_data_dir: str
    output_dir: str
    output_name: str
    script: str
    command: list[str]
    cwd: str
    env: dict[str, str]
    config_path: str
    config_text: str
    toml_args: dict[str, Any]
    sample_prompts_path: str | None
    sample_prompts_text: str | None
    expected_files: list[str]
    final_file: str
    epochs: int
    overwrite: bool
    log_path: str
    estimated_bytes: int  # all expected LoRA files together (what the free-disk check needs)
    device: str = ""  # "cuda" or "cpu" as probed ("" = not probed)
    notes: list[str] = field(default_factory=list)  # said before the run starts (memory need, downloads)
    sd_version: str = ""  # the sd-scripts version label and release family the options were written for

    @property
    def bytes_per_file(self) -> int:
        """Estimated size of one epoch file."""
        return self.estimated_bytes // max(len(self.expected_files), 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainJob:
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}  # fmt: skip
        missing = required - set(data)
        if missing:
            raise StyleMixError(f"stored training job is missing {', '.join(sorted(missing))}")
        return cls(**{k: data[k] for k in names if k in data})


def slugify(name: str) -> str:
    """The LoRA file name for a style: lower-case ASCII letters, digits and `_` (the restyle folder rule, so a
    style folder's name is kept as is)."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:64].strip("_")
    if not slug:
        raise StyleMixError(f"style name {name!r}: has no ASCII letters or digits to name the LoRA file; pass --style")
    return slug


def default_style_name(train_data_dir: Path) -> str:
    """`<out>/<style>/img` -> `<style>`; any other kohya folder -> its own name."""
    return train_data_dir.parent.name if train_data_dir.name == "img" else train_data_dir.name


# Trainable parameters per unit of rank for kohya `networks.lora` (default targets), summed in+out features
# over the module tables of sd-scripts networks/lora.py (shared fixtures sd15/sdxl_lora_modules.json);
# SD2 re-derived for OpenCLIP-H (23 layers, width 1024) and 1024-wide cross-attention context.
_PARAMS_PER_RANK = {"sd1": (165_888, 423_936), "sd2": (423_936, 432_128), "sdxl": (903_168, 2_659_840)}


def estimate_file_bytes(arch: str, rank: int, precision: str | None, unet_only: bool) -> int:
    te, unet = _PARAMS_PER_RANK[arch]
    params = rank * (unet if unet_only else te + unet)
    return params * (2 if precision in {"fp16", "bf16"} else 4) + 1024 * 1024


def expected_outputs(output_dir: Path, name: str, ext: str, epochs: int, every: int | None) -> list[Path]:
    """Epoch files sd-scripts writes (`<name>-NNNNNN`, never for the last epoch) plus the final `<name>` file."""
    files = []
    if every:
        files = [output_dir / f"{name}-{e:06d}.{ext}" for e in range(1, epochs) if e % every == 0]
    return [*files, output_dir / f"{name}.{ext}"]


def build_sample_prompts(captions: list[str], count: int, size: int, seed: int) -> str:
    """Up to `count` prompts spread evenly over the image descriptions, in sd-scripts' prompt-file syntax."""
    picked = captions if len(captions) <= count else [captions[i * len(captions) // count] for i in range(count)]
    lines = []
    for index, caption in enumerate(picked):
        clean = caption.replace("--", "-").lstrip("#").strip()  # " --" starts an option in the prompt file
        lines.append(f"{clean} --n lowres, blurry, worst quality --w {size} --h {size} --d {seed + index} --s 24 --l 7")
    return "\n".join(lines) + "\n" if lines else ""


def _resolve_env(sd: SdScripts, env: EnvInfo | None, settings: TrainSettings) -> EnvInfo | None:
    needs_probe = settings.optimizer_type is None or settings.use_accelerate is None or settings.mixed_precision is None
    return env if env is not None or not needs_probe else probe_environment(sd)


def pick_precision(settings: TrainSettings, env: EnvInfo | None) -> str:
    """fp16 needs CUDA: on a CPU-only torch it fails with a dtype error after the whole model load."""
    cuda = env.cuda if env is not None else None
    if settings.mixed_precision is None:
        return "no" if cuda is False else "fp16"
    if settings.mixed_precision == "fp16" and cuda is False:
        raise StyleMixError(
            "mixed_precision=fp16 needs a CUDA GPU, and sd-scripts' torch has no CUDA: "
            "use mixed_precision=no (or auto) to train on the CPU"
        )
    return settings.mixed_precision


def pick_optimizer(settings: TrainSettings, env: EnvInfo | None) -> str:
    """AdamW8bit only where bitsandbytes really ran on the GPU (it imports with a warning without one)."""
    if settings.optimizer_type is None:
        return "AdamW8bit" if env is not None and env.bitsandbytes_gpu else "AdamW"
    if "8bit" in settings.optimizer_type.lower() and env is not None and not env.bitsandbytes_gpu:
        reason = "there is no CUDA GPU" if env.cuda is False else "bitsandbytes has no working GPU support"
        raise StyleMixError(f"optimizer_type={settings.optimizer_type}: {reason}; use AdamW (or leave it on auto)")
    return settings.optimizer_type


@dataclass(frozen=True)
class JobNames:
    """What one job trains on and where it writes (the part of the TOML that names the job)."""

    arch: str
    base_model: Path
    train_data_dir: Path
    output_dir: Path
    slug: str
    style: str


def build_toml_args(
    names: JobNames,
    settings: TrainSettings,
    *,
    optimizer: str,
    sample_prompts_path: Path | None,
    family: str = DEFAULT_FAMILY,
) -> dict[str, Any]:
    """The `--config_file` contents: flat keys that are sd-scripts argparse dests, with argparse's types."""
    arch, base_model, train_data_dir, output_dir, slug, style = (
        names.arch, names.base_model, names.train_data_dir, names.output_dir, names.slug, names.style)  # fmt: skip
    sdxl = arch == "sdxl"
    size = settings.resolution or (1024 if sdxl else 512)
    unet_only = settings.network_train_unet_only if settings.network_train_unet_only is not None else sdxl
    args: dict[str, Any] = {
        "pretrained_model_name_or_path": str(base_model),
        "train_data_dir": str(train_data_dir),
        "output_dir": str(output_dir),
        "output_name": slug,
        "save_model_as": "safetensors",
        "save_precision": settings.save_precision,
        "mixed_precision": settings.mixed_precision or "fp16",
        "network_module": "networks.lora",
        "network_dim": settings.network_dim,
        "network_alpha": float(settings.network_alpha),
        "learning_rate": float(settings.learning_rate),
        "lr_scheduler": settings.lr_scheduler,
        "optimizer_type": optimizer,
        "train_batch_size": settings.train_batch_size,
        "max_train_epochs": settings.max_train_epochs,
        "save_every_n_epochs": settings.save_every_n_epochs,
        "resolution": f"{size},{size}",
        "caption_extension": settings.caption_extension,
        "seed": settings.seed,
        "max_data_loader_n_workers": settings.max_data_loader_n_workers,
        "tokenizer_cache_dir": str(Path(settings.tokenizer_cache_dir or DEFAULT_TOKENIZER_DIR).expanduser().resolve()),
        "console_log_simple": True,
        "training_comment": f"StyleMix style {style!r}",
    }
    flags = {
        "cache_latents": settings.cache_latents,
        "enable_bucket": settings.enable_bucket,
        "bucket_no_upscale": settings.enable_bucket,
        "sdpa": settings.sdpa,
        "v2": arch == "sd2",
        "gradient_checkpointing": settings.gradient_checkpointing
        if settings.gradient_checkpointing is not None
        else sdxl,
        "network_train_unet_only": unet_only,
        "cache_text_encoder_outputs": sdxl and unet_only,
        "no_half_vae": settings.no_half_vae if settings.no_half_vae is not None else sdxl,
    }
    args.update({key: True for key, on in flags.items() if on})
    if sample_prompts_path is not None:
        args.update(
            sample_prompts=str(sample_prompts_path), sample_every_n_epochs=1, sample_sampler=settings.sample_sampler
        )
    args.update({key: adapt_value(key, value, family) for key, value in settings.extra.items()})
    if sdxl and args.get("cache_text_encoder_outputs"):
        clashing = [k for k in ("shuffle_caption", "caption_dropout_rate", "caption_tag_dropout_rate") if args.get(k)]
        if clashing:
            args.pop("cache_text_encoder_outputs")
    for key, value in args.items():
        check_value(key, value, sdxl=sdxl, family=family)
    _check_combinations(args, sdxl)
    _check_buckets(args)
    return args


def _check_buckets(args: dict[str, Any]) -> None:
    """sd-scripts asserts min_bucket_reso <= resolution <= max_bucket_reso (after rounding both to
    bucket_reso_steps) once the model is loaded; refuse here instead."""
    if not args.get("enable_bucket"):
        return
    size = [int(part) for part in str(args["resolution"]).split(",") if part.strip()]
    steps = int(args.get("bucket_reso_steps", 64)) or 64
    low, high = int(args.get("min_bucket_reso", 256)), int(args.get("max_bucket_reso", 1024))
    low -= low % steps
    high += (steps - high % steps) % steps
    if min(size) < low:
        raise StyleMixError(
            f"resolution {min(size)} is below min_bucket_reso {low} (buckets on): sd-scripts would stop after loading "
            f"the model; set min_bucket_reso={min(size) - min(size) % steps or steps} or lower, or enable_bucket=false"
        )
    if max(size) > high:
        raise StyleMixError(
            f"resolution {max(size)} is above max_bucket_reso {high} (buckets on): set max_bucket_reso={max(size)} "
            "or higher"
        )


def _check_combinations(args: dict[str, Any], sdxl: bool) -> None:
    """Combinations sd-scripts rejects with an assertion after loading the model (minutes in)."""
    if args.get("cache_latents") or args.get("cache_latents_to_disk"):
        bad = [k for k in ("color_aug", "random_crop") if args.get(k)]
        if bad:
            raise StyleMixError(f"cache_latents cannot be combined with {' / '.join(bad)} (sd-scripts asserts)")
    if sdxl and args.get("cache_text_encoder_outputs") and not args.get("network_train_unet_only"):
        raise StyleMixError("cache_text_encoder_outputs needs network_train_unet_only=true (sd-scripts asserts)")
    if args.get("network_train_unet_only") and args.get("network_train_text_encoder_only"):
        raise StyleMixError("network_train_unet_only and network_train_text_encoder_only exclude each other")
    if args.get("save_every_n_epochs") is not None and args["save_every_n_epochs"] < 1:
        raise StyleMixError("save_every_n_epochs must be at least 1")
    if args["max_train_epochs"] < 1:
        raise StyleMixError("max_train_epochs must be at least 1")


def build_command(
    sd: SdScripts, script: Path, config_path: Path, settings: TrainSettings, use_accelerate: bool
) -> list[str]:
    """`accelerate launch` with every launcher value explicit (no accelerate config needed, never multi-GPU)."""
    tail = [str(script), "--config_file", str(config_path)]
    if not use_accelerate:
        return [str(sd.python), *tail]
    return [
        str(sd.python), "-m", "accelerate.commands.launch",
        "--num_processes", "1", "--num_machines", "1",
        "--mixed_precision", settings.mixed_precision or "fp16",  # resolved by pick_precision before this
        "--dynamo_backend", "no",
        "--num_cpu_threads_per_process", str(settings.num_cpu_threads_per_process),
        *tail,
    ]  # fmt: skip


def plan_training(  # noqa: PLR0913 — keyword-only options; an options dataclass is the follow-up
    dataset_dir: str | os.PathLike[str],
    base_model: str | os.PathLike[str],
    *,
    sd: SdScripts,
    style: str | None = None,
    settings: TrainSettings | None = None,
    output_root: str | os.PathLike[str] = Path("models") / "Lora" / "stylemix",
    arch: str | None = None,
    env: EnvInfo | None = None,
    now: float | None = None,
) -> TrainJob:
    """Plan one training run; nothing is written. `env` (from `probe_environment`) avoids a second probe."""
    settings = settings or TrainSettings()
    base = Path(base_model).expanduser().resolve()
    arch = detect_arch(base, arch)
    train_dir = resolve_train_data_dir(dataset_dir)
    style = style or default_style_name(train_dir)
    slug = slugify(style)
    output_dir = Path(output_root).expanduser().resolve() / slug
    env = _resolve_env(sd, env, settings)
    optimizer = pick_optimizer(settings, env)
    settings = dataclasses.replace(settings, mixed_precision=pick_precision(settings, env))
    use_accelerate = settings.use_accelerate
    if use_accelerate is None:
        use_accelerate = env is not None and env.accelerate is not None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    config_dir = output_dir / "config"
    config_path = config_dir / f"{slug}-{stamp}.toml"
    prompts_path = prompts_text = None
    if settings.sample_count > 0:
        size = settings.resolution or (1024 if arch == "sdxl" else 512)
        captions = scan_dataset(train_dir, settings.caption_extension).captions(settings.caption_extension)
        prompts_text = build_sample_prompts(captions, settings.sample_count, size, settings.seed) or None
        prompts_path = config_dir / f"{slug}-{stamp}-prompts.txt" if prompts_text else None
    toml_args = build_toml_args(
        JobNames(arch=arch, base_model=base, train_data_dir=train_dir, output_dir=output_dir, slug=slug, style=style),
        settings,
        optimizer=optimizer,
        sample_prompts_path=prompts_path,
        family=sd.family,
    )
    script = sd.script(arch)
    ext = toml_args["save_model_as"]
    epochs = toml_args["max_train_epochs"]
    files = expected_outputs(output_dir, slug, ext, epochs, toml_args.get("save_every_n_epochs"))
    per_file = estimate_file_bytes(
        arch, toml_args["network_dim"], toml_args.get("save_precision"), bool(toml_args.get("network_train_unet_only"))
    )
    return TrainJob(
        style=style,
        slug=slug,
        arch=arch,
        base_model=str(base),
        train_data_dir=str(train_dir),
        output_dir=str(output_dir),
        output_name=slug,
        script=str(script),
        command=build_command(sd, script, config_path, settings, use_accelerate),
        cwd=str(sd.root),
        env=dict(RUN_ENV),
        config_path=str(config_path),
        config_text=dumps_flat(toml_args),
        toml_args=toml_args,
        sample_prompts_path=str(prompts_path) if prompts_path else None,
        sample_prompts_text=prompts_text,
        expected_files=[str(p) for p in files],
        final_file=str(files[-1]),
        epochs=epochs,
        overwrite=settings.overwrite,
        log_path=str(output_dir / "logs" / f"{slug}-{stamp}.log"),
        estimated_bytes=per_file * len(files),
        device="" if env is None or env.cuda is None else ("cuda" if env.cuda else "cpu"),
        notes=_notes(arch, env, toml_args),
        sd_version=f"{sd.version} ({sd.family}.x options)",
    )


def _notes(arch: str, env: EnvInfo | None, toml_args: dict[str, Any]) -> list[str]:
    notes = [f"{arch.upper()} training {memory_need(arch, env.cuda if env is not None else None)}"]
    if env is not None and env.cuda is False:
        notes.append("no CUDA in sd-scripts' torch: mixed_precision=no, optimizer without 8-bit states")
    download = tokenizer_note(Path(toml_args["tokenizer_cache_dir"]), arch, bool(toml_args.get("v2")))
    if download:
        notes.append(download)
    return notes
