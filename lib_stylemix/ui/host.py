"""The seam between the StyleMix panels and whatever application hosts them.

The panels never import the webui: everything they need from their surroundings (where LoRAs live,
whether images can be generated, how progress and cancel reach the user, how GPU work is queued) comes
through a `Host`. The webui adapter (`lib_stylemix.webui`) implements it over `modules`; `StandaloneHost`
implements it for `python -m lib_stylemix ui`, where nothing can be generated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import (
    CancelFlag,
    CancelToken,
    FolderRegistry,
    GpuHandoff,
    LoraRegistry,
    NoGpuHandoff,
    NullProgress,
    Progress,
)

if TYPE_CHECKING:
    from lib_stylemix.epochs import Txt2ImgGenerator
    from lib_stylemix.restyle.generator import Generator
    from lib_stylemix.settings import StyleMixSettings

F = TypeVar("F", bound=Callable)

NEEDS_WEBUI = (
    "Generating images needs the Stable Diffusion WebUI (A1111 or Forge): open the StyleMix tab there. "
    "The standalone app can only load, compare, merge and evolve LoRAs and prepare datasets."
)


@runtime_checkable
class Host(Protocol):
    """What a panel may ask of the application it runs in."""

    label: str
    """Shown in the tab header: "standalone", "A1111 1.10.1", "Forge 2.0.1v1.10.1"."""

    def settings(self) -> StyleMixSettings:
        """Current StyleMix settings, read with defaults (they may change between calls)."""
        ...

    def lora_registry(self) -> LoraRegistry:
        """The LoRA folder new files are saved into, and how to make the host list them."""
        ...

    def can_generate(self) -> str | None:
        """None when image generation works, else the reason to show instead of the generate buttons."""
        ...

    def restyle_generator(self) -> Generator:
        """Generator for restyle jobs (txt2img + one canny ControlNet unit); raises `StyleMixError` if unavailable."""
        ...

    def txt2img_generator(self) -> Txt2ImgGenerator:
        """Plain txt2img generator for epoch grids and pool previews; raises `StyleMixError` if unavailable."""
        ...

    def progress(self) -> Progress:
        """Progress sink for a long job the host should also show (the webui's progress bar)."""
        ...

    def cancel_token(self) -> CancelToken:
        """Cancel token tied to the host's own Interrupt (checked between units of work)."""
        ...

    def gpu_handoff(self) -> GpuHandoff:
        """Frees and restores the host's GPU around an external trainer."""
        ...

    def wrap_gpu(self, fn: F) -> F:
        """Wrap a gradio handler that generates, so it runs under the host's GPU queue."""
        ...

    def current_checkpoint(self) -> Path | None:
        """The checkpoint file the host has loaded, if any."""
        ...

    def checkpoint_arch(self) -> str | None:
        """The loaded checkpoint's architecture: "sd1", "sd2" or "sdxl"; None if unknown or none is loaded."""
        ...


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

    def restyle_generator(self) -> Generator:
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
