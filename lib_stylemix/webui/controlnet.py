"""One canny ControlNet unit per generation, on either ControlNet: picks the bridge for the one that is loaded.

Both register an always-on Script titled "ControlNet" whose slice of `p.script_args` holds one unit per
slot. We replace that slice in a *copy* of the args (never the caller's tuple, never the runner's
`args_from/args_to`), keep its length, and fill spare slots with disabled units (`controlnet_base.py`). The
differences live in one small bridge per backend, side by side: `controlnet_a1111.py` (Mikubill's pydantic
units, `get_models`) and `controlnet_forge.py` (Forge's dataclass units, `global_state`); both satisfy the
`ControlNetBridge` protocol of `lib_stylemix.seams`. Model names must be the exact "stem [hash8]" strings both
of them list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import ControlNetBridge
from lib_stylemix.webui.controlnet_a1111 import MikubillBridge
from lib_stylemix.webui.controlnet_base import FORGE, MIKUBILL, find_controlnet_script
from lib_stylemix.webui.controlnet_forge import ForgeBridge

__all__ = ["FORGE", "MIKUBILL", "ControlNetBridge", "ForgeBridge", "MikubillBridge", "controlnet_bridge",
           "find_controlnet_module", "find_controlnet_script", "pick_canny_model"]

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


def controlnet_bridge() -> ControlNetBridge:
    """The bridge for the ControlNet that is loaded, or a `StyleMixError` saying how to get one."""
    from lib_stylemix.webui.env import is_forge

    module = find_controlnet_module()
    if module is None:
        raise StyleMixError(f"ControlNet is not available: {INSTALL_HINT[FORGE if is_forge() else MIKUBILL]}")
    return MikubillBridge(module) if MikubillBridge.handles(module) else ForgeBridge(module)
