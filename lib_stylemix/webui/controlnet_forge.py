"""ControlNet bridge for Forge's built-in ControlNet (extensions-builtin/sd_forge_controlnet).

Its unit is a plain dataclass (an unknown field is a TypeError, so fields it lacks are dropped), it wants string
enum values and ndarray images, and it lists models in `global_state`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.webui.controlnet_base import FORGE, UnitBridge


class ForgeBridge(UnitBridge):
    """Forge's ControlNet: dataclass units, `global_state` for the installed models."""

    backend = FORGE

    def models(self) -> list[str]:
        """Installed model names ("stem [hash8]"), rescanned so newly copied files count."""
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
        return super()._unit(**fields)
