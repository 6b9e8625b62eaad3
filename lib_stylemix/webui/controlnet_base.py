"""What both ControlNet bridges share: finding ControlNet's script in a generation, building canny units and
splicing them into a *copy* of the script args (see `controlnet.py` for the picture)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError

MIKUBILL = "mikubill"
FORGE = "forge"


def find_controlnet_script(runner):
    """ControlNet's always-on Script instance in a ScriptRunner (`p.scripts`), or None."""
    for script in getattr(runner, "alwayson_scripts", None) or []:
        try:
            if script.title().lower() == "controlnet":
                return script
        except Exception:  # a broken third-party title() must not stop us
            continue
    return None


class UnitBridge(ABC):
    """Canny units and the args splice, over one implementation's `external_code` module.

    Subclasses say which backend they are, how it lists its models and how its unit class takes fields.
    """

    backend = ""

    def __init__(self, module) -> None:
        self.module = module
        self.external_code = module.external_code
        self.global_state = getattr(module, "global_state", None)

    @abstractmethod
    def models(self) -> list[str]:
        """Installed model names ("stem [hash8]"), rescanned so newly copied files count."""

    def _unit(self, **fields: Any):
        try:
            return self.external_code.ControlNetUnit(**fields)
        except Exception as exc:  # pydantic ValidationError on Mikubill
            raise StyleMixError(f"ControlNet refused the canny unit: {exc}") from None

    def canny_unit(self, image: np.ndarray, canny, model: str):
        """An enabled canny unit for `image` (H×W×3 uint8) with the thresholds and modes of a `CannyUnit`."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise StyleMixError(f"ControlNet image must be H×W×3 uint8, got {image.shape} {image.dtype}")
        return self._unit(
            enabled=True,
            module="canny",
            model=model,
            weight=float(canny.weight),
            image=image,
            resize_mode=str(canny.resize_mode),
            low_vram=False,
            processor_res=int(canny.processor_res),
            threshold_a=int(canny.low),
            threshold_b=int(canny.high),
            guidance_start=float(canny.guidance_start),
            guidance_end=float(canny.guidance_end),
            pixel_perfect=False,
            control_mode=str(canny.control_mode),
            hr_option="Both",
            save_detected_map=False,
        )

    def disabled_unit(self):
        return self._unit(enabled=False)

    def splice(self, runner, script_args: Sequence[Any], units: Sequence[Any]):
        """A new args sequence (same type) with ControlNet's slice holding `units`, padded with disabled units."""
        script = find_controlnet_script(runner)
        if script is None:
            raise StyleMixError("ControlNet is not among the active scripts of this generation")
        start, stop = script.args_from, script.args_to
        slots = stop - start
        if slots < 1:
            raise StyleMixError("ControlNet has no unit slots (setting: ControlNet unit number); set it to 1 or more")
        if len(units) > slots:
            raise StyleMixError(f"ControlNet has {slots} unit slots, {len(units)} units were given")
        args = list(script_args)
        if len(args) < stop:
            raise StyleMixError(f"script arguments end at {len(args)}, ControlNet's slice is {start}..{stop}")
        filled = list(units) + [self.disabled_unit() for _ in range(slots - len(units))]
        spliced = args[:start] + filled + args[stop:]
        return tuple(spliced) if isinstance(script_args, tuple) else spliced
