"""Our gradio pieces built with the real gradio the webui pins (3.41.2): the Script's controls, the
settings section, and the StyleMix tab through the webui's `on_ui_tabs` callback."""

from __future__ import annotations

import dataclasses

import gradio as gr

from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.webui import script as stylemix_script
from lib_stylemix.webui.options import PREFIX, register_settings
from tests.webui.conftest import make_images


def _build_ui(script):
    with gr.Blocks():
        return script.ui(False)


def test_gradio_is_the_webui_version():
    assert gr.__version__ == "3.41.2"


def test_script_controls_match_run_arguments(webui):
    webui.load_scripts()
    runner = webui.make_runner(build_ui=_build_ui)
    ours = webui.script(stylemix_script.TITLE)
    names = [field.name for field in dataclasses.fields(stylemix_script.ScriptValues)]
    assert len(ours.controls) == len(names) == ours.args_to - ours.args_from
    kinds = [type(c).__name__ for c in ours.controls]
    assert kinds == [
        "Textbox",
        "File",
        "Textbox",
        "Textbox",
        "Slider",
        "Slider",
        "Slider",
        "Radio",
        "Number",
        "Textbox",
    ]
    defaults = StyleMixSettings()
    values = dict(zip(names, (c.value for c in ours.controls), strict=True))
    assert values["template"] == defaults.default_template
    assert (values["low"], values["high"]) == (defaults.canny_low, defaults.canny_high)
    assert values["out_dir"] == str(webui.root / defaults.restyle_output_dir)  # shown absolute
    assert all(c.elem_id.startswith("script_stylemix_batch_restyle_") for c in ours.controls)
    assert runner.titles[-1] == stylemix_script.TITLE


def test_script_runs_with_values_from_real_components(webui, tmp_path):
    webui.load_scripts()
    runner = webui.make_runner(build_ui=_build_ui)
    webui.load_model("sd1")
    ours = webui.script(stylemix_script.TITLE)
    args = list(runner.default_args(selected_title=stylemix_script.TITLE))
    args[ours.args_from] = str(make_images(tmp_path / "set", 1))
    args[ours.args_from + 2] = "ink"
    args[ours.args_to - 1] = str(tmp_path / "out")
    processed = webui.processing.txt2img(tuple(args), width=64, height=64, steps=5, sampler_name="Euler")
    assert len(processed.images) == len(processed.infotexts) == 2
    assert len(webui.processing.calls) == 1


def test_canny_preview(tmp_path):
    folder = make_images(tmp_path / "set", 1)
    image, text = stylemix_script.canny_preview(str(folder), None, 50, 150)
    assert image is not None and image.mode == "RGB"
    assert text.startswith("photo1.png: ") and "% edge pixels at 50/150" in text
    image, text = stylemix_script.canny_preview("", None, 50, 150)
    assert image is None and "Choose an image folder" in text
    image, text = stylemix_script.canny_preview(str(folder), None, 200, 100)
    assert image is None and "above high threshold" in text


def test_settings_section_uses_gradio_components(webui):
    register_settings()
    labels = webui.shared.opts.data_labels
    assert labels[PREFIX + "steps"].component is gr.Slider
    assert labels[PREFIX + "preview_prompts"].component is gr.Textbox
    assert labels[PREFIX + "sd_scripts_dir"].component is None  # a str default: the webui picks a textbox
    assert all(info.section == ("stylemix", "StyleMix") for key, info in labels.items() if key.startswith(PREFIX))


def test_tab_is_built_through_on_ui_tabs(webui):
    webui.load_scripts()
    webui.make_runner()
    tabs = webui.callbacks.ui_tabs_callback()
    assert len(tabs) == 1
    blocks, title, elem_id = tabs[0]
    assert isinstance(blocks, gr.Blocks) and (title, elem_id) == ("StyleMix", "stylemix")
    footer = [b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "stylemix_footer"]
    expected = "A1111 1.10.1" if webui.kind == "a1111" else "Forge 2.0.1v1.10.1"
    assert footer and expected in footer[0].value


def test_sampler_and_canny_model_settings_are_dropdowns_of_what_is_installed(webui):
    """Issue 12 item 17: dropdowns (free text still allowed) of the webui's samplers and the canny models."""
    webui.load_scripts()
    register_settings()
    labels = webui.shared.opts.data_labels
    sampler, model = labels[PREFIX + "sampler"], labels[PREFIX + "controlnet_model"]
    assert sampler.component is gr.Dropdown and model.component is gr.Dropdown
    assert sampler.component_args() == {"choices": ["DPM++ 2M", "Euler a", "Euler", "DDIM", "UniPC"],
                                        "allow_custom_value": True}
    choices = model.component_args()["choices"]
    assert choices and all("canny" in name for name in choices)
    assert "control_v11p_sd15_canny [d14c016b]" in choices
    assert labels[PREFIX + "canny_low"].reload_ui and not labels[PREFIX + "sampler"].reload_ui
    with gr.Blocks():  # the settings page builds them with the value not among the choices
        gr.Dropdown(value="", label=model.label, **model.component_args())


def test_canny_model_setting_is_free_text_without_controlnet(webui):
    webui.load_scripts(with_controlnet=False)
    register_settings()
    args = webui.shared.opts.data_labels[PREFIX + "controlnet_model"].component_args()
    assert args == {"choices": [], "allow_custom_value": True}


def test_style_css_rules_match_real_elem_ids(webui):
    """Issue 12 item 21: the grid gallery's rule named an id that did not exist, so grid pages were cropped."""
    import re
    from pathlib import Path

    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    blocks, _, _ = webui.callbacks.ui_tabs_callback()[0]
    ids = {b.elem_id for b in blocks.blocks.values() if getattr(b, "elem_id", None)}
    css = (Path(__file__).resolve().parents[2] / "style.css").read_text()
    named = set(re.findall(r"#(stylemix_[a-z0-9_]+)", css))
    assert {"stylemix_restyle_grids", "stylemix_epochs_grid", "stylemix_pool_map"} <= named
    assert named <= ids, named - ids
    by_id = {b.elem_id: b for b in blocks.blocks.values() if getattr(b, "elem_id", None)}
    assert by_id["stylemix_restyle_grids"].object_fit == "contain"
    assert by_id["stylemix_epochs_grid"].height == 640  # a 1040×2386 grid no longer makes the panel 4,000 px tall
    assert not by_id["stylemix_pool_map"].show_label and not by_id["stylemix_pool_lineage_plot"].show_label
