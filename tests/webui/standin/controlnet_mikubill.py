"""sd-webui-controlnet (Mikubill v1.1.455) as seen from outside: `external_code`, `global_state`, the Script."""

import types
from enum import Enum

from modules import scripts
from pydantic import BaseModel, root_validator


class ResizeMode(Enum):
    RESIZE = "Just Resize"
    INNER_FIT = "Crop and Resize"
    OUTER_FIT = "Resize and Fill"


class ControlMode(Enum):
    BALANCED = "Balanced"
    PROMPT = "My prompt is more important"
    CONTROL = "ControlNet is more important"


class HiResFixOption(Enum):
    BOTH = "Both"
    LOW_RES_ONLY = "Low res only"
    HIGH_RES_ONLY = "High res only"


PREPROCESSORS = ("none", "canny", "depth", "openpose")
MODELS = [
    "control_v11p_sd15_canny [d14c016b]",
    "control_v11f1p_sd15_depth [cfd03158]",
    "diffusers_xl_canny_mid [112a778d]",
]


class ControlNetUnit(BaseModel):
    class Config:
        arbitrary_types_allowed = True
        extra = "ignore"

    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    image: object = None
    resize_mode: ResizeMode = ResizeMode.INNER_FIT
    low_vram: bool = False
    processor_res: int = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: ControlMode = ControlMode.BALANCED
    hr_option: HiResFixOption = HiResFixOption.BOTH
    save_detected_map: bool = True

    @root_validator(allow_reuse=True)  # the stand-in re-executes this file on every load
    def check(cls, values):
        if values.get("module") not in PREPROCESSORS:
            raise ValueError(f"unknown preprocessor {values.get('module')}")
        if values.get("enabled"):
            if not 64 <= values.get("processor_res", -1) <= 2048:
                values["processor_res"] = 512
            if not 1 <= values.get("threshold_a", -1) <= 255:
                values["threshold_a"] = 100
            if not 1 <= values.get("threshold_b", -1) <= 255:
                values["threshold_b"] = 200
        if values.get("guidance_start", 0) > values.get("guidance_end", 1):
            raise ValueError("guidance_start > guidance_end")
        return values

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


def get_models(update=False):
    return list(MODELS)


def get_api_version():
    return 3


external_code = types.SimpleNamespace(
    ControlNetUnit=ControlNetUnit,
    get_models=get_models,
    get_api_version=get_api_version,
    ResizeMode=ResizeMode,
    ControlMode=ControlMode,
    update_cn_script=None,
    update_cn_script_in_processing=None,
)
global_state = types.SimpleNamespace(cn_models_names={m.split(" [")[0]: m for m in MODELS})


class ControlNetScript(scripts.Script):
    def title(self):
        return "ControlNet"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        from modules import shared

        return [scripts.FakeControl(ControlNetUnit()) for _ in range(shared.opts.control_net_unit_count)]

    def process(self, p, *args):
        seen = []
        for unit in args:
            if isinstance(unit, dict):
                unit = ControlNetUnit.from_dict(unit)
            if not isinstance(unit, ControlNetUnit):
                raise TypeError(f"ControlNet: unexpected unit {type(unit)}")
            if not unit.enabled:
                continue
            if unit.model not in MODELS:
                raise RuntimeError(f"ControlNet: model {unit.model!r} not found")
            seen.append(
                {
                    "module": unit.module,
                    "model": unit.model,
                    "weight": unit.weight,
                    "low": unit.threshold_a,
                    "high": unit.threshold_b,
                    "control_mode": unit.control_mode.value,
                    "resize_mode": unit.resize_mode.value,
                    "save_detected_map": unit.save_detected_map,
                    "image_shape": getattr(unit.image, "shape", None),
                }
            )
        p.controlnet_units_seen = seen
