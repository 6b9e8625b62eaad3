"""The plain txt2img seam: what the epoch grid and the pool previews need from an image generator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lib_stylemix.restyle.generator import GeneratedImage


@runtime_checkable
class Txt2ImgGenerator(Protocol):
    """Renders one prompt with one seed; LoRAs come in through `<lora:name:w>` tags in the prompt.

    The webui implements it with `process_images`; tests use a fake that draws solid colours. Raises
    `StyleMixError` when the host cannot generate (no checkpoint loaded, …).
    """

    def generate(
        self,
        prompt: str,
        negative: str,
        seed: int,
        steps: int,
        sampler: str,
        cfg: float,
        width: int,
        height: int,
    ) -> list[GeneratedImage]: ...
