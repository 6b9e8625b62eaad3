"""Compatibility name: the txt2img seam now lives in `lib_stylemix.seams` (`Txt2ImgGenerator`, `Txt2ImgRequest`)."""

from __future__ import annotations

from lib_stylemix.seams import Txt2ImgGenerator, Txt2ImgRequest

__all__ = ["Txt2ImgGenerator", "Txt2ImgRequest"]
