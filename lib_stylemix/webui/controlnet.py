"""One canny ControlNet unit per generation, on either ControlNet: Mikubill's extension (A1111) or Forge's built-in.

Both register an always-on Script titled "ControlNet" whose slice of `p.script_args` holds one unit per
slot. We replace that slice in a *copy* of the args (never the caller's tuple, never the runner's
`args_from/args_to`), keep its length, and fill spare slots with disabled units. Differences handled here:
Mikubill's unit is a pydantic model and lists models with `get_models`; Forge's is a plain dataclass (unknown
fields are a TypeError), wants string enum values and ndarray images, and lists models in `global_state`.
Model names must be the exact "stem [hash8]" strings both of them list.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError

MIKUBILL = "mikubill"
FORGE = "forge"
ARCH_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
INSTALL_HINT = {
    MIKUBILL: "install the sd-webui-controlnet extension (Extensions tab) and restart",
    FORGE: "Forge's built-in ControlNet (extensions-builtin/sd_forge_controlnet) is disabled; enable it and restart",
}


def find_controlnet_module():
    """The loaded `controlnet.py` script module that exposes `external_code` (works for both implementations)."""
    from modules import scripts

    for data in scripts.scripts_data:
        module = getattr(data, "module", None)
        if os.path.basename(getattr(data, "path", "")) == "controlnet.py" and hasattr(module, "external_code"):
            return module
    return None


def find_controlnet_script(runner):
    """ControlNet's always-on Script instance in a ScriptRunner (`p.scripts`), or None."""
    for script in getattr(runner, "alwayson_scripts", None) or []:
        try:
            if script.title().lower() == "controlnet":
                return script
        except Exception:  # a broken third-party title() must not stop us
            continue
    return None


def pick_canny_model(names: Sequence[str], arch: str | None, preferred: str = "") -> str:
    """Choose the canny model for the loaded checkpoint's architecture, or explain what is installed.

    `preferred` (the StyleMix setting) wins when it is installed. Otherwise a name containing "canny" is
    picked; for SDXL one that mentions "xl", for SD 1.x/2.x one that does not (SD1.5 models do not work on
    SDXL and vice versa); among those, SD1.5-named models first for SD 1.x.
    """
    installed = [n for n in names if n and n != "None"]
    listing = ", ".join(installed) or "none"
    if preferred:
        if preferred in installed:
            return preferred
        raise StyleMixError(f"ControlNet model {preferred!r} (StyleMix setting) is not installed; installed: {listing}")
    canny = [n for n in installed if "canny" in n.lower()]
    if not canny:
        raise StyleMixError(
            f"no canny ControlNet model is installed (installed models: {listing}); put one such as "
            "control_v11p_sd15_canny.pth (SD 1.5) or diffusers_xl_canny_mid.safetensors (SDXL) into models/ControlNet"
        )
    if arch == "sdxl":
        fitting = [n for n in canny if "xl" in n.lower()]
    elif arch in ("sd1", "sd2"):
        fitting = [n for n in canny if "xl" not in n.lower()]
    else:
        fitting = canny
    if not fitting:
        raise StyleMixError(
            f"no canny ControlNet model for {ARCH_NAMES.get(arch or '', arch)} checkpoints; "
            f"installed canny models: {', '.join(canny)}"
        )
    if arch == "sd1":
        fitting.sort(key=lambda n: 0 if ("sd15" in n.lower() or "v11p" in n.lower()) else 1)
    return fitting[0]


class ControlNetBridge:
    """Lists ControlNet models and builds/places canny units for one ControlNet implementation."""

    def __init__(self, module) -> None:
        self.module = module
        self.external_code = module.external_code
        self.global_state = getattr(module, "global_state", None)
        self.backend = MIKUBILL if hasattr(self.external_code, "get_models") else FORGE

    def models(self) -> list[str]:
        """Installed model names ("stem [hash8]"), rescanned so newly copied files count."""
        if self.backend == MIKUBILL:
            return [n for n in self.external_code.get_models(update=True) if n != "None"]
        state = self.global_state
        if state is None:
            raise StyleMixError("Forge ControlNet: its global_state module is missing; cannot list models")
        if hasattr(state, "update_controlnet_filenames"):
            state.update_controlnet_filenames()
        return [n for n in state.get_all_controlnet_names() if n != "None"]

    def _unit(self, **fields: Any):
        cls = self.external_code.ControlNetUnit
        if dataclasses.is_dataclass(cls):
            known = {f.name for f in dataclasses.fields(cls)}
            fields = {k: v for k, v in fields.items() if k in known}
        try:
            return cls(**fields)
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


def controlnet_bridge() -> ControlNetBridge:
    """The bridge for the ControlNet that is loaded, or a `StyleMixError` saying how to get one."""
    from lib_stylemix.webui.env import is_forge

    module = find_controlnet_module()
    if module is None:
        raise StyleMixError(f"ControlNet is not available: {INSTALL_HINT[FORGE if is_forge() else MIKUBILL]}")
    return ControlNetBridge(module)
