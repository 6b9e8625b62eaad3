"""The standalone app's `Host` (the seam itself, `Host`, lives in `lib_stylemix.seams` and is re-exported here).

The panels never import the webui: everything they need from their surroundings (where LoRAs live,
whether images can be generated, how progress and cancel reach the user, how GPU work is queued) comes
through a `Host`. The webui adapter (`lib_stylemix.webui`) implements it over `modules`; `StandaloneHost`
implements it for `python -m lib_stylemix ui`, where nothing can be generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import (
    CancelFlag,
    CancelToken,
    F,
    FolderRegistry,
    GpuHandoff,
    Host,
    LoraRegistry,
    NoGpuHandoff,
    NullProgress,
    Progress,
    RestyleGenerator,
    Txt2ImgGenerator,
)

if TYPE_CHECKING:
    from lib_stylemix.settings import StyleMixSettings

__all__ = ["NEEDS_WEBUI", "Host", "StandaloneHost"]

NEEDS_WEBUI = (
    "Generating images needs the Stable Diffusion WebUI (A1111 or Forge): open the StyleMix tab there. "
    "The standalone app can only load, compare, merge and evolve LoRAs and prepare datasets."
)


class StandaloneHost:
    """Host for the standalone app: a LoRA folder on disk and no image generation."""

    label = "standalone"

    def __init__(self, lora_dir: str | Path, settings: StyleMixSettings | None = None) -> None:
        self._registry = FolderRegistry(lora_dir)
        self._settings = settings

    def settings(self) -> StyleMixSettings:
        if self._settings is None:
            from lib_stylemix.settings import StyleMixSettings

            self._settings = StyleMixSettings()
        return self._settings

    def lora_registry(self) -> LoraRegistry:
        return self._registry

    def can_generate(self) -> str | None:
        return NEEDS_WEBUI

    def restyle_generator(self) -> RestyleGenerator:
        raise StyleMixError(NEEDS_WEBUI)

    def txt2img_generator(self) -> Txt2ImgGenerator:
        raise StyleMixError(NEEDS_WEBUI)

    def progress(self) -> Progress:
        return NullProgress()

    def cancel_token(self) -> CancelToken:
        return CancelFlag()

    def gpu_handoff(self) -> GpuHandoff:
        return NoGpuHandoff()

    def wrap_gpu(self, fn: F) -> F:
        return fn

    def current_checkpoint(self) -> Path | None:
        return None

    def checkpoint_arch(self) -> str | None:
        return None
