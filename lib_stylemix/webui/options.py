"""The "StyleMix" section of the webui's Settings page, and reading it back with defaults.

Keys are `stylemix_<field>` of `StyleMixSettings` (the options share one flat namespace with every other
extension). Reading never relies on the section having been registered: with `--nowebui`, in the API or
before the UI is built, `opts.data` simply lacks the keys and the defaults apply.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

from lib_stylemix import threads
from lib_stylemix.settings import StyleMixSettings

log = logging.getLogger(__name__)

PREFIX = "stylemix_"
SECTION = ("stylemix", "StyleMix")

LABELS = {
    "sd_scripts_dir": "sd-scripts folder (empty: look in the usual places)",
    "sd_scripts_python": "Python for sd-scripts (empty: the venv inside the sd-scripts folder)",
    "sd_scripts_tokenizer_dir": "Tokenizer cache folder for sd-scripts (empty: data/tokenizer-cache in the extension)",
    "dataset_output_dir": "Output folder for prepared datasets",
    "restyle_output_dir": "Output folder for restyled images (training folders)",
    "training_output_dir": "Output folder for training runs",
    "epochs_output_dir": "Output folder for epoch grids",
    "pool_output_dir": "Output folder for pool recipes and figures",
    "default_template": "Default prompt template ({style}, {description}, {trigger}, {image})",
    "negative_prompt": "Default negative prompt",
    "sampler": "Sampler for StyleMix generations (the tab's Restyle, Epochs and Pool previews)",
    "steps": "Sampling steps",
    "cfg_scale": "CFG scale",
    "width": "Width",
    "height": "Height",
    "canny_low": "Canny low threshold",
    "canny_high": "Canny high threshold",
    "controlnet_weight": "ControlNet weight",
    "controlnet_model": "ControlNet canny model (empty: pick one for the loaded checkpoint)",
    "preview_prompts": "Preview prompts for epoch grids and pool previews (one per line)",
    "preview_seeds": "Preview seeds (comma or line separated)",
    "epoch_strengths": "Strengths in epoch grids (comma or line separated)",
    "compute_threads": "CPU threads for compare/merge/evolve (auto: the cores not busy, 1 while the webui generates)",
}


OUTPUT_DIRS = (
    "dataset_output_dir",
    "restyle_output_dir",
    "training_output_dir",
    "epochs_output_dir",
    "pool_output_dir",
)


def read_settings() -> StyleMixSettings:
    """Current settings from `shared.opts.data`, defaults for anything missing or malformed.

    Output folders are made absolute here (relative ones are taken from the webui's working folder, as
    before), so every status line and summary names the real place, whatever folder the webui started in.
    """
    from modules import shared

    settings = StyleMixSettings.from_mapping(getattr(shared.opts, "data", {}) or {}, prefix=PREFIX)
    absolute = {
        name: os.path.abspath(os.path.expanduser(getattr(settings, name)))
        for name in OUTPUT_DIRS
        if getattr(settings, name).strip()
    }
    return dataclasses.replace(settings, **absolute)


# Settings that only give the tab's fields their starting values: the tab is built once, so they apply after
# "Reload UI" (the tab's fields are kept out of ui-config.json, so they are not frozen either).
TAB_DEFAULTS = (
    "default_template",
    "negative_prompt",
    "canny_low",
    "canny_high",
    "controlnet_weight",
    "restyle_output_dir",
    "preview_prompts",
    "preview_seeds",
    "epoch_strengths",
    "width",
    "height",
    "sd_scripts_dir",
    "sd_scripts_python",
)


def installed_samplers() -> list[str]:
    """Sampler names the webui offers (its `sd_samplers` list); empty when it cannot be read."""
    try:
        from modules import sd_samplers

        return [str(s.name) for s in getattr(sd_samplers, "all_samplers", None) or []]
    except Exception:  # the settings page must build even if the webui changed its sampler module
        log.warning("StyleMix: cannot list the webui's samplers; the sampler setting is free text", exc_info=True)
        return []


def installed_canny_models() -> list[str]:
    """Installed ControlNet models whose name mentions canny; empty when ControlNet is not loaded."""
    from lib_stylemix.errors import StyleMixError
    from lib_stylemix.webui.controlnet import controlnet_bridge

    try:
        names = controlnet_bridge().models()
    except StyleMixError:
        return []
    except Exception:
        log.warning("StyleMix: cannot list ControlNet models; the canny model setting is free text", exc_info=True)
        return []
    return [name for name in names if "canny" in name.lower()]


def thread_choices() -> list[str]:
    """"auto" and every whole number up to the cores this process may use."""
    return [threads.AUTO, *(str(n) for n in range(1, threads.cores() + 1))]


def apply_compute_threads() -> None:
    """Hand the `compute_threads` setting to the thread rule (at load; a bad stored value falls back to auto)."""
    value = read_settings().compute_threads
    try:
        threads.configure(value)
    except ValueError as exc:
        log.warning("StyleMix: %s; using auto", exc)
        threads.configure(threads.AUTO)


def compute_threads_changed() -> None:
    """`onchange` of the setting: a bad value raises, so the webui shows the message and restores the old one."""
    threads.configure(read_settings().compute_threads)


def choices_of(lister: Callable[[], list[str]]) -> Callable[[], dict[str, Any]]:
    """Dropdown arguments computed when the settings page is built; typing any other value stays possible
    (an empty list, e.g. ControlNet not loaded yet, leaves a free-text box)."""
    return lambda: {"choices": lister(), "allow_custom_value": True}


def _option_default(value):
    if isinstance(value, tuple):
        return "\n".join(str(item) for item in value)
    return value


def _component(name: str, default):
    import gradio as gr

    if name in ("steps",):
        return gr.Slider, {"minimum": 1, "maximum": 150, "step": 1}
    if name in ("canny_low", "canny_high"):
        return gr.Slider, {"minimum": 1, "maximum": 255, "step": 1}
    if name in ("width", "height"):
        return gr.Slider, {"minimum": 64, "maximum": 2048, "step": 8}
    if name == "cfg_scale":
        return gr.Slider, {"minimum": 1.0, "maximum": 30.0, "step": 0.5}
    if name == "controlnet_weight":
        return gr.Slider, {"minimum": 0.0, "maximum": 2.0, "step": 0.05}
    if name == "sampler":
        return gr.Dropdown, choices_of(installed_samplers)
    if name == "controlnet_model":
        return gr.Dropdown, choices_of(installed_canny_models)
    if name == "compute_threads":
        return gr.Dropdown, choices_of(thread_choices)
    if isinstance(default, tuple):
        return gr.Textbox, {"lines": 4}
    return None, None


def register_settings() -> None:
    """Called from `on_ui_settings`: one option per `StyleMixSettings` field, in the "StyleMix" section."""
    from modules import shared

    defaults = StyleMixSettings()
    for field in dataclasses.fields(StyleMixSettings):
        default = getattr(defaults, field.name)
        component, component_args = _component(field.name, default)
        info = shared.OptionInfo(
            _option_default(default),
            LABELS.get(field.name, field.name.replace("_", " ")),
            component,
            component_args,
            onchange=compute_threads_changed if field.name == "compute_threads" else None,
            section=SECTION,
        )
        if field.name in TAB_DEFAULTS and hasattr(info, "needs_reload_ui"):
            info = info.needs_reload_ui()
        shared.opts.add_option(PREFIX + field.name, info)
