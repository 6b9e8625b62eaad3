"""The sd-scripts options StyleMix may put into a training-args TOML, with their argparse types.

sd-scripts flattens the `--config_file` TOML into the argparse namespace *without checking the keys*: a typo is
silently ignored and a wrong type crashes deep inside training. So every key we emit, and every `--set key=value`
a user passes, is checked against this table first.

Names, types and choices were read from kohya-ss/sd-scripts (argument definitions only, nothing copied):
`library/train_util.py` @ 0005867ba509d2e1a5674b267e8286b561c0ed71 (add_sd_models/optimizer/training/dataset/
masked_loss arguments), `library/utils.py` @ 0005867b (add_logging_arguments), `train_network.py` @
0010c81a3353b6bb51e698ca649442e730817a8f (setup_parser), `library/sdxl_train_util.py` (add_sdxl_training_arguments,
SDXL script only). Only options that exist in v0.8.7 … v0.10 are listed; Hugging Face upload/download options and
interactive ones (`debug_dataset`, `output_config`, `config_file`) are deliberately left out.

A few options changed type between releases, and a value of the wrong type reaches the trainer unchecked (the
TOML bypasses argparse) and kills the run at the first step. `FAMILY_ARGS` holds those per release family
(read from the v0.8.7, v0.9.0, v0.9.1, v0.10.0 tags and main): `text_encoder_lr` is one float up to v0.9.x
and a list (`nargs="*"`) from v0.10.0; `lr_warmup_steps` takes a ratio (float < 1 or "5%") from v0.9.0, when
`lr_decay_steps` also appeared. `adapt_value` turns what the user typed into what the detected family takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib_stylemix.errors import StyleMixError


@dataclass(frozen=True)
class ArgSpec:
    """One sd-scripts option: `kind` is str|int|float|flag|str_list|float_list|int_or_ratio; `choices` as
    argparse has them."""

    kind: str
    choices: tuple[Any, ...] | None = None
    sdxl_only: bool = False


_S, _I, _F, _B = ArgSpec("str"), ArgSpec("int"), ArgSpec("float"), ArgSpec("flag")
_SL, _FL = ArgSpec("str_list"), ArgSpec("float_list")
_IR = ArgSpec("int_or_ratio")

SAMPLERS = (
    "ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpm_2", "dpm_2_a", "dpmsolver", "dpmsolver++",
    "dpmsingle", "k_lms", "k_euler", "k_euler_a", "k_dpm_2", "k_dpm_2_a",
)  # fmt: skip

KNOWN_ARGS: dict[str, ArgSpec] = {
    # library/utils.py add_logging_arguments
    "console_log_level": ArgSpec("str", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    "console_log_file": _S,
    "console_log_simple": _B,
    # train_util.add_sd_models_arguments
    "v2": _B,
    "v_parameterization": _B,
    "pretrained_model_name_or_path": _S,
    "tokenizer_cache_dir": _S,
    # train_util.add_optimizer_arguments
    "optimizer_type": _S,
    "learning_rate": _F,
    "max_grad_norm": _F,
    "optimizer_args": _SL,
    "lr_scheduler_type": _S,
    "lr_scheduler_args": _SL,
    "lr_scheduler": _S,
    "lr_warmup_steps": _IR,
    "lr_decay_steps": _IR,
    "lr_scheduler_num_cycles": _I,
    "lr_scheduler_power": _F,
    # train_util.add_training_arguments
    "output_dir": _S,
    "output_name": _S,
    "save_precision": ArgSpec("str", ("float", "fp16", "bf16")),
    "save_every_n_epochs": _I,
    "save_every_n_steps": _I,
    "save_n_epoch_ratio": _I,
    "save_last_n_epochs": _I,
    "save_last_n_epochs_state": _I,
    "save_last_n_steps": _I,
    "save_last_n_steps_state": _I,
    "save_state": _B,
    "save_state_on_train_end": _B,
    "resume": _S,
    "train_batch_size": _I,
    "max_token_length": ArgSpec("int", (150, 225)),
    "mem_eff_attn": _B,
    "xformers": _B,
    "sdpa": _B,
    "vae": _S,
    "max_train_steps": _I,
    "max_train_epochs": _I,
    "max_data_loader_n_workers": _I,
    "persistent_data_loader_workers": _B,
    "seed": _I,
    "gradient_checkpointing": _B,
    "gradient_accumulation_steps": _I,
    "mixed_precision": ArgSpec("str", ("no", "fp16", "bf16")),
    "full_fp16": _B,
    "full_bf16": _B,
    "fp8_base": _B,
    "clip_skip": _I,
    "logging_dir": _S,
    "log_with": ArgSpec("str", ("tensorboard", "wandb", "all")),
    "log_prefix": _S,
    "log_tracker_name": _S,
    "log_config": _B,
    "noise_offset": _F,
    "noise_offset_random_strength": _B,
    "multires_noise_iterations": _I,
    "multires_noise_discount": _F,
    "ip_noise_gamma": _F,
    "ip_noise_gamma_random_strength": _B,
    "adaptive_noise_scale": _F,
    "zero_terminal_snr": _B,
    "min_timestep": _I,
    "max_timestep": _I,
    "huber_c": _F,
    "lowram": _B,
    "highvram": _B,
    "sample_every_n_steps": _I,
    "sample_every_n_epochs": _I,
    "sample_at_first": _B,
    "sample_prompts": _S,
    "sample_sampler": ArgSpec("str", SAMPLERS),
    "metadata_title": _S,
    "metadata_author": _S,
    "metadata_description": _S,
    "metadata_license": _S,
    "metadata_tags": _S,
    "prior_loss_weight": _F,
    # train_util.add_masked_loss_arguments
    "conditioning_data_dir": _S,
    "masked_loss": _B,
    # train_util.add_dataset_arguments
    "train_data_dir": _S,
    "reg_data_dir": _S,
    "shuffle_caption": _B,
    "caption_separator": _S,
    "caption_extension": _S,
    "keep_tokens": _I,
    "keep_tokens_separator": _S,
    "enable_wildcard": _B,
    "caption_prefix": _S,
    "caption_suffix": _S,
    "color_aug": _B,
    "flip_aug": _B,
    "face_crop_aug_range": _S,
    "random_crop": _B,
    "resolution": _S,
    "cache_latents": _B,
    "cache_latents_to_disk": _B,
    "vae_batch_size": _I,
    "enable_bucket": _B,
    "min_bucket_reso": _I,
    "max_bucket_reso": _I,
    "bucket_reso_steps": _I,
    "bucket_no_upscale": _B,
    "token_warmup_min": _I,
    "token_warmup_step": _F,
    "alpha_mask": _B,
    "caption_dropout_rate": _F,
    "caption_dropout_every_n_epochs": _I,
    "caption_tag_dropout_rate": _F,
    # train_network.py setup_parser
    "no_metadata": _B,
    "save_model_as": ArgSpec("str", ("ckpt", "pt", "safetensors")),
    "unet_lr": _F,
    "text_encoder_lr": _FL,
    "network_weights": _S,
    "network_module": _S,
    "network_dim": _I,
    "network_alpha": _F,
    "network_dropout": _F,
    "network_args": _SL,
    "network_train_unet_only": _B,
    "network_train_text_encoder_only": _B,
    "training_comment": _S,
    "dim_from_weights": _B,
    "scale_weight_norms": _F,
    "base_weights": _SL,
    "base_weights_multiplier": _FL,
    "no_half_vae": _B,
    "skip_until_initial_step": _B,
    "initial_epoch": _I,
    "initial_step": _I,
    # sdxl_train_network.py -> sdxl_train_util.add_sdxl_training_arguments
    "cache_text_encoder_outputs": ArgSpec("flag", sdxl_only=True),
    "cache_text_encoder_outputs_to_disk": ArgSpec("flag", sdxl_only=True),
}

FAMILIES = ("v0.8", "v0.9", "v0.10")
DEFAULT_FAMILY = "v0.9"  # the pinned default tag, v0.9.1
# Options whose type differs per release family; `None` = the option does not exist in that family.
FAMILY_ARGS: dict[str, dict[str, ArgSpec | None]] = {
    "v0.8": {"text_encoder_lr": _F, "lr_warmup_steps": _I, "lr_decay_steps": None},
    "v0.9": {"text_encoder_lr": _F, "lr_warmup_steps": _IR, "lr_decay_steps": _IR},
    "v0.10": {"text_encoder_lr": _FL, "lr_warmup_steps": _IR, "lr_decay_steps": _IR},
}


def args_for(family: str) -> dict[str, ArgSpec]:
    """The option table of one release family (`FAMILIES`)."""
    if family not in FAMILY_ARGS:
        raise StyleMixError(f"sd-scripts release family {family!r}: unknown (one of {', '.join(FAMILIES)})")
    table = dict(KNOWN_ARGS)
    for key, spec in FAMILY_ARGS[family].items():
        if spec is None:
            table.pop(key, None)
        else:
            table[key] = spec
    return table


def adapt_value(key: str, value: Any, family: str) -> Any:
    """Convert a value typed for the generic table into what `family`'s parser produces, or refuse clearly."""
    spec = args_for(family).get(key)
    if spec is None:
        raise StyleMixError(f"{key}: not an option of sd-scripts {family}.x (added in a later release)")
    if key == "text_encoder_lr" and spec.kind == "float" and isinstance(value, list):
        if len(value) != 1:
            raise StyleMixError(f"text_encoder_lr={value}: sd-scripts {family}.x takes one value (lists: v0.10+)")
        return value[0]
    if spec.kind == "float_list" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if spec.kind == "int" and isinstance(value, float):
        raise StyleMixError(
            f"{key}={value}: sd-scripts {family}.x takes a step count here; a ratio needs v0.9.0 or later"
        )
    return value

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(key: str, text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise StyleMixError(f"{key}={text!r}: expected true or false")


def parse_int_or_ratio(text: str) -> int | float:
    """sd-scripts' `int_or_float`: "5%" and floats below 1 are ratios of the total steps, else a step count."""
    text = text.strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100.0
    if text.isdigit():
        return int(text)  # sd-scripts turns "0" into 0.0; a step count of 0 means the same and fits every family
    number = float(text)
    return int(text) if number >= 1 else number


def coerce(key: str, text: str, kind: str) -> Any:
    """Turn the text of `--set key=value` into the Python value sd-scripts' argparse would have produced."""
    try:
        if kind == "str":
            return text
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "flag":
            return parse_bool(key, text)
        if kind == "str_list":
            return [part for part in text.split() if part]
        if kind == "float_list":
            return [float(part) for part in text.replace(",", " ").split()]
        if kind == "int_or_ratio":
            return parse_int_or_ratio(text)
    except ValueError:
        raise StyleMixError(f"{key}={text!r}: expected {kind.replace('_', ' ')}") from None
    raise StyleMixError(f"{key}: unsupported option kind {kind!r}")


def check_value(key: str, value: Any, *, sdxl: bool, family: str = DEFAULT_FAMILY) -> None:
    """Raise if `key` is not a known sd-scripts option for this script or `value` has the wrong type."""
    spec = args_for(family).get(key)
    if spec is None:
        raise StyleMixError(f"{key!r}: not an sd-scripts training option StyleMix knows (typo?)")
    if spec.sdxl_only and not sdxl:
        raise StyleMixError(f"{key!r}: only exists in sdxl_train_network.py, not for SD1/SD2 base models")
    expected: tuple[type, ...] = {
        "str": (str,),
        "int": (int,),
        "float": (float, int),
        "flag": (bool,),
        "str_list": (list,),
        "float_list": (list,),
        "int_or_ratio": (int, float),
    }[spec.kind]
    if (isinstance(value, bool) and spec.kind != "flag") or not isinstance(value, expected):
        raise StyleMixError(f"{key}={value!r}: sd-scripts expects {spec.kind.replace('_', ' ')}")
    if spec.kind == "int_or_ratio" and isinstance(value, float) and not 0 <= value < 1:
        raise StyleMixError(f"{key}={value!r}: a ratio must be below 1 (or give a whole number of steps)")
    if spec.choices is not None and value not in spec.choices:
        raise StyleMixError(f"{key}={value!r}: must be one of {', '.join(map(str, spec.choices))}")
