"""The "StyleMix" section of the webui's Settings page, and reading it back with defaults.

Keys are `stylemix_<field>` of `StyleMixSettings` (the options share one flat namespace with every other
extension). Reading never relies on the section having been registered: with `--nowebui`, in the API or
before the UI is built, `opts.data` simply lacks the keys and the defaults apply.
"""

from __future__ import annotations

import dataclasses

from lib_stylemix.settings import StyleMixSettings

PREFIX = "stylemix_"
SECTION = ("stylemix", "StyleMix")

LABELS = {
    "sd_scripts_dir": "sd-scripts folder (empty: look in the usual places)",
    "sd_scripts_python": "Python for sd-scripts (empty: the venv inside the sd-scripts folder)",
    "dataset_output_dir": "Output folder for prepared datasets",
    "restyle_output_dir": "Output folder for restyled images (training folders)",
    "training_output_dir": "Output folder for training runs",
    "epochs_output_dir": "Output folder for epoch grids",
    "pool_output_dir": "Output folder for pool recipes and figures",
    "default_template": "Default prompt template ({style}, {description}, {trigger}, {image})",
    "negative_prompt": "Default negative prompt",
    "sampler": "Sampler for StyleMix generations",
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
}


def read_settings() -> StyleMixSettings:
    """Current settings from `shared.opts.data`, defaults for anything missing or malformed."""
    from modules import shared

    return StyleMixSettings.from_mapping(getattr(shared.opts, "data", {}) or {}, prefix=PREFIX)


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
        shared.opts.add_option(
            PREFIX + field.name,
            shared.OptionInfo(
                _option_default(default),
                LABELS.get(field.name, field.name.replace("_", " ")),
                component,
                component_args,
                section=SECTION,
            ),
        )
