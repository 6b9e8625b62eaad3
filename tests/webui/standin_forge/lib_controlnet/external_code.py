"""Forge's lib_controlnet/external_code.py: a plain dataclass unit, enabled by default, no validation."""

from dataclasses import dataclass, fields
from enum import Enum


class ControlMode(Enum):
    BALANCED = "Balanced"
    PROMPT = "My prompt is more important"
    CONTROL = "ControlNet is more important"


@dataclass
class ControlNetUnit:
    input_mode: str = "simple"
    use_preview_as_input: bool = False
    batch_image_dir: str = ""
    batch_mask_dir: str = ""
    batch_input_gallery: list = None
    batch_mask_gallery: list = None
    generated_image: object = None
    mask_image: object = None
    mask_image_fg: object = None
    hr_option: str = "Both"
    enabled: bool = True
    module: str = "None"
    model: str = "None"
    weight: float = 1.0
    image: object = None
    image_fg: object = None
    resize_mode: str = "Crop and Resize"
    processor_res: int = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: str = "Balanced"
    save_detected_map: bool = True

    @staticmethod
    def from_dict(d):
        known = {f.name for f in fields(ControlNetUnit)}
        return ControlNetUnit(**{k: v for k, v in d.items() if k in known})


def get_api_version():
    return 2
