from __future__ import annotations

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.plan import CannyUnit
from lib_stylemix.webui.controlnet import FORGE, MIKUBILL, controlnet_bridge, pick_canny_model

IMAGE = np.full((64, 64, 3), 200, np.uint8)


def _loaded(webui):
    webui.load_scripts()
    return webui.make_runner()


def test_bridge_finds_the_right_backend_and_lists_models(webui):
    _loaded(webui)
    bridge = controlnet_bridge()
    assert bridge.backend == (MIKUBILL if webui.kind == "a1111" else FORGE)
    models = bridge.models()
    assert "None" not in models
    assert "control_v11p_sd15_canny [d14c016b]" in models and "diffusers_xl_canny_mid [112a778d]" in models


def test_missing_controlnet_says_how_to_get_it(webui):
    webui.load_scripts(with_controlnet=False)
    with pytest.raises(StyleMixError, match="Extensions tab" if webui.kind == "a1111" else "built-in ControlNet"):
        controlnet_bridge()


def test_canny_unit_fields_and_string_modes(webui):
    _loaded(webui)
    bridge = controlnet_bridge()
    unit = bridge.canny_unit(
        IMAGE,
        CannyUnit(low=50, high=150, weight=0.7, control_mode="My prompt is more important"),
        "control_v11p_sd15_canny [d14c016b]",
    )
    assert unit.enabled is True and unit.module == "canny" and unit.save_detected_map is False
    assert (unit.threshold_a, unit.threshold_b, unit.weight) == (50, 150, 0.7)
    assert unit.image is IMAGE
    mode = unit.control_mode
    if webui.kind == "forge":
        assert mode == "My prompt is more important"  # a string: Forge compares with the enum's value
        assert not hasattr(unit, "low_vram")  # Forge's dataclass has no such field; we must not pass it
    else:
        assert mode.value == "My prompt is more important"
    assert bridge.disabled_unit().enabled is False  # Forge units default to enabled=True


def test_splice_keeps_slice_length_and_never_mutates(webui):
    runner = _loaded(webui)
    bridge = controlnet_bridge()
    cn = next(s for s in runner.alwayson_scripts if s.title() == "ControlNet")
    before = (cn.args_from, cn.args_to)
    original = runner.default_args()
    unit = bridge.canny_unit(IMAGE, CannyUnit(), "control_v11p_sd15_canny [d14c016b]")
    spliced = bridge.splice(runner, original, [unit])
    assert isinstance(spliced, tuple) and len(spliced) == len(original)
    assert spliced[cn.args_from] is unit
    assert [u.enabled for u in spliced[cn.args_from + 1 : cn.args_to]] == [False, False]
    assert spliced[: cn.args_from] == original[: cn.args_from] and spliced[cn.args_to :] == original[cn.args_to :]
    assert original == runner.default_args()  # the caller's tuple is untouched
    assert (cn.args_from, cn.args_to) == before  # and so is the shared runner
    as_list = bridge.splice(runner, list(original), [unit])
    assert isinstance(as_list, list)
    with pytest.raises(StyleMixError, match="3 unit slots, 4 units"):
        bridge.splice(runner, original, [unit] * 4)


def test_pick_canny_model_by_architecture():
    names = [
        "None",
        "control_v11f1p_sd15_depth [cfd03158]",
        "diffusers_xl_canny_mid [112a778d]",
        "control_v11p_sd15_canny [d14c016b]",
    ]
    assert pick_canny_model(names, "sd1") == "control_v11p_sd15_canny [d14c016b]"
    assert pick_canny_model(names, "sdxl") == "diffusers_xl_canny_mid [112a778d]"
    assert pick_canny_model(names, "sdxl", preferred="control_v11p_sd15_canny [d14c016b]").startswith("control_v11p")
    with pytest.raises(
        StyleMixError, match=r"no canny ControlNet model is installed \(installed models: control_v11f1p"
    ):
        pick_canny_model(["control_v11f1p_sd15_depth [cfd03158]"], "sd1")
    with pytest.raises(StyleMixError, match="for SDXL checkpoints; installed canny models: control_v11p_sd15_canny"):
        pick_canny_model(["control_v11p_sd15_canny [d14c016b]"], "sdxl")
    with pytest.raises(StyleMixError, match=r"'nope' .* is not installed"):
        pick_canny_model(names, "sd1", preferred="nope")


def test_each_backend_has_its_own_bridge_behind_the_protocol(webui):
    from lib_stylemix.seams import ControlNetBridge
    from lib_stylemix.webui.controlnet_a1111 import MikubillBridge
    from lib_stylemix.webui.controlnet_forge import ForgeBridge

    _loaded(webui)
    bridge = controlnet_bridge()
    assert isinstance(bridge, ControlNetBridge)
    assert type(bridge) is (MikubillBridge if webui.kind == "a1111" else ForgeBridge)
