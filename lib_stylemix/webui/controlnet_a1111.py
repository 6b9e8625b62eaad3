"""ControlNet bridge for Mikubill's sd-webui-controlnet extension (A1111; tested against 1.1.455).

Its unit is a pydantic model (enum fields accept their string values) and it lists models with
`external_code.get_models(update=True)`.
"""

from __future__ import annotations

from lib_stylemix.webui.controlnet_base import MIKUBILL, UnitBridge


class MikubillBridge(UnitBridge):
    """sd-webui-controlnet: pydantic units, `get_models` for the installed models."""

    backend = MIKUBILL

    @staticmethod
    def handles(module) -> bool:
        return hasattr(module.external_code, "get_models")

    def models(self) -> list[str]:
        """Installed model names ("stem [hash8]"), rescanned so newly copied files count."""
        return [n for n in self.external_code.get_models(update=True) if n != "None"]
