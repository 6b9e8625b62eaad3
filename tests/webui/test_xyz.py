from __future__ import annotations

import itertools
import sys

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.webui.xyz import FILE_LABEL, STRENGTH_LABEL, find_xyz_module, register_xyz_axes


def _axes(module):
    options = {o.label: o for o in module.axis_options}
    return options[FILE_LABEL], options[STRENGTH_LABEL], options["Prompt S/R"]


def _p(webui, prompt):
    return webui.processing.StableDiffusionProcessingTxt2Img(prompt=prompt)


@pytest.fixture
def xyz(webui):
    webui.load_scripts()
    webui.callbacks.before_ui_callback()
    return find_xyz_module()


def test_axes_registered_once_per_load_and_again_after_reload(webui):
    webui.load_scripts()
    webui.callbacks.before_ui_callback()
    webui.callbacks.before_ui_callback()
    labels = [o.label for o in find_xyz_module().axis_options]
    assert labels.count(FILE_LABEL) == 1 and labels.count(STRENGTH_LABEL) == 1
    assert register_xyz_axes() is False
    webui.load_scripts()  # Reload UI: a fresh xyz_grid module, callbacks cleared and registered again
    assert [o.label for o in find_xyz_module().axis_options].count(FILE_LABEL) == 0
    webui.callbacks.before_ui_callback()
    assert [o.label for o in find_xyz_module().axis_options].count(FILE_LABEL) == 1
    assert "xyz_grid.py" not in sys.modules  # loaded like the webui does: not cached


@pytest.mark.parametrize("prompt", ["a cat", "a cat, <lora:base:0.5>", "<lora:ink-000002:0.3> a cat"])
def test_result_is_the_same_whichever_axis_goes_first(webui, xyz, prompt):
    file_axis, strength_axis, _ = _axes(xyz)
    files, strengths = ["ink-000001", "ink-000002"], ["0.5", "1"]
    file_first = xyz.cell_prompts(_p(webui, prompt), [(file_axis, files), (strength_axis, strengths)])
    strength_first = xyz.cell_prompts(_p(webui, prompt), [(strength_axis, strengths), (file_axis, files)])
    by_cell = dict(zip(itertools.product(files, strengths), file_first, strict=True))
    assert by_cell == dict(zip(((f, s) for s, f in itertools.product(strengths, files)), strength_first, strict=True))
    assert by_cell[("ink-000002", "0.5")].count("<lora:ink-000002:") == 1
    assert by_cell[("ink-000002", "0.5")].endswith("<lora:ink-000002:0.5>")


def test_strength_alone_changes_the_persons_last_tag(webui, xyz):
    _, strength_axis, _ = _axes(xyz)
    prompts = xyz.cell_prompts(_p(webui, "x <lora:a:1> <lora:b:1>"), [(strength_axis, ["0.2", "0.7"])])
    assert prompts == ["x <lora:a:1> <lora:b:0.2>", "x <lora:a:1> <lora:b:0.7>"]


def test_other_axes_edits_are_kept(webui, xyz):
    file_axis, strength_axis, replace = _axes(xyz)
    axes = [(file_axis, ["ink"]), (replace, ["cat", "dog"]), (strength_axis, ["0.5"])]
    assert xyz.cell_prompts(_p(webui, "a cat"), axes) == ["a cat <lora:ink:0.5>", "a dog <lora:ink:0.5>"]


def test_confirm_rejects_unknown_lora_names(webui, xyz, tmp_path):
    file_axis, _, _ = _axes(xyz)
    (webui.root / "models" / "Lora" / "ink-000001.safetensors").write_bytes(b"")
    webui.networks.list_available_networks()
    assert file_axis.choices() == ["ink-000001"]
    file_axis.confirm(None, ["ink-000001"])
    with pytest.raises(StyleMixError, match="unknown LoRA name"):
        file_axis.confirm(None, ["ink-000009"])
    assert file_axis.format_value(None, file_axis, "ink-000001") == "ink-000001"
