"""extensions-builtin/sd_forge_controlnet/scripts/controlnet.py as seen from outside."""

import numpy as np
from lib_controlnet import external_code, global_state
from lib_controlnet.external_code import ControlNetUnit
from modules import scripts


class ControlNetForForgeOfficial(scripts.Script):
    def title(self):
        return "ControlNet"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [scripts.FakeControl(ControlNetUnit(enabled=False)) for _ in range(3)]

    def process(self, p, *args):
        seen = []
        for unit in args:
            if isinstance(unit, dict):
                unit = ControlNetUnit.from_dict(unit)
            if not unit.enabled:
                continue
            if unit.model not in global_state.controlnet_filename_dict:
                raise KeyError(unit.model)
            if not isinstance(unit.image, np.ndarray):
                raise TypeError("Forge ControlNet: image must be an np.ndarray in txt2img")
            mode = (
                unit.control_mode if unit.control_mode in [m.value for m in external_code.ControlMode] else "Balanced"
            )
            seen.append(
                {
                    "module": unit.module,
                    "model": unit.model,
                    "weight": unit.weight,
                    "low": unit.threshold_a,
                    "high": unit.threshold_b,
                    "control_mode": mode,
                    "resize_mode": unit.resize_mode,
                    "save_detected_map": unit.save_detected_map,
                    "image_shape": unit.image.shape,
                }
            )
        p.controlnet_units_seen = seen
