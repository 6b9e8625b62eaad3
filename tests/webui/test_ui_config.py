"""Issue 12 item 12: the webui's ui-config.json must not freeze the tab's settings-derived values, and no two
fields may share a stored value (the stand-in's `modules.ui_loadsave` keeps the webui's rules)."""

from __future__ import annotations

import json

import gradio as gr

from lib_stylemix.webui import script as stylemix_script
from lib_stylemix.webui.options import PREFIX


def _start(webui, config):
    """One webui start: build the tab through on_ui_tabs, track it in ui-config.json, dump the defaults."""
    from modules.ui_loadsave import UiLoadsave

    blocks, _, tab_id = webui.callbacks.ui_tabs_callback()[0]
    loadsave = UiLoadsave(str(config))
    loadsave.add_block(blocks, tab_id)
    loadsave.dump_defaults()
    by_id = {b.elem_id: b for b in blocks.blocks.values() if getattr(b, "elem_id", None)}
    return loadsave, by_id


def _blocks(webui):
    blocks, _, _ = webui.callbacks.ui_tabs_callback()[0]
    return list(blocks.blocks.values())


def _ready(webui):
    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")


def test_every_tracked_tab_field_has_its_own_key(webui, tmp_path):
    _ready(webui)
    loadsave, by_id = _start(webui, tmp_path / "ui-config.json")
    assert loadsave.shared_keys == []
    ids = [b.elem_id for b in _blocks(webui) if getattr(b, "elem_id", None)]
    assert len(ids) == len(set(ids)) and all(i.startswith("stylemix") for i in ids)
    assert len(loadsave.component_mapping) > 20  # the fields the person may still set defaults for
    assert by_id["stylemix_pool_seed"].value == 0  # was 1234: the Restyle "Seed" shared its stored value
    assert by_id["stylemix_restyle_seed"].value == 1234
    # fields that start from the settings (or the host's folders) are not stored at all
    stored = json.loads((tmp_path / "ui-config.json").read_text())
    for elem_id in ("stylemix_restyle_canny_low", "stylemix_restyle_template", "stylemix_epochs_prompts",
                    "stylemix_epochs_folder", "stylemix_pool_sources", "stylemix_dataset_size",
                    "stylemix_train_sd_scripts"):
        label = by_id[elem_id].label
        assert by_id[elem_id].do_not_save_to_config is True
        assert not [key for key in stored if key.startswith(f"stylemix/{label}/")], elem_id


def test_settings_changes_reach_the_tab_after_the_first_start(webui, tmp_path):
    _ready(webui)
    config = tmp_path / "ui-config.json"
    _start(webui, config)  # first start writes ui-config.json
    webui.shared.opts.data.update({PREFIX + "canny_low": 42, PREFIX + "default_template": "{style}, new",
                                   PREFIX + "preview_prompts": "a fox\na boat", PREFIX + "epoch_strengths": "0.3, 1"})
    stored = json.loads(config.read_text())
    stored["stylemix/Evolve seed/value"] = 7  # the person's own default (Settings → Defaults → Apply)
    config.write_text(json.dumps(stored))
    _, by_id = _start(webui, config)  # second start (or Reload UI)
    assert by_id["stylemix_restyle_canny_low"].value == 42
    assert by_id["stylemix_dataset_canny_low"].value == 42
    assert by_id["stylemix_restyle_template"].value == "{style}, new"
    assert by_id["stylemix_epochs_prompts"].value == "a fox\na boat"
    assert by_id["stylemix_epochs_strengths"].value == "0.3, 1"
    assert by_id["stylemix_pool_seed"].value == 7  # ui-config still works for the fields it may keep


def test_script_settings_fields_follow_the_settings(webui, tmp_path):
    from modules.ui_loadsave import UiLoadsave

    webui.load_scripts()
    config = tmp_path / "ui-config.json"

    def start():
        with gr.Blocks() as txt2img:
            webui.make_runner(build_ui=lambda script: script.ui(False))
        loadsave = UiLoadsave(str(config))
        loadsave.add_block(txt2img, "txt2img")
        loadsave.dump_defaults()
        ours = webui.script(stylemix_script.TITLE)
        return loadsave, {c.elem_id.rsplit("restyle_", 1)[1]: c for c in ours.controls}

    loadsave, controls = start()
    assert loadsave.shared_keys == []
    assert "customscript/stylemix.py/txt2img/Restyle seed/value" not in loadsave.component_mapping
    assert "customscript/stylemix.py/txt2img/Seed/value" in loadsave.component_mapping  # its own, tracked
    webui.shared.opts.data.update({PREFIX + "canny_high": 99, PREFIX + "restyle_output_dir": "elsewhere"})
    _, controls = start()
    assert controls["canny_high"].value == 99 and controls["out_dir"].value == str(webui.root / "elsewhere")
