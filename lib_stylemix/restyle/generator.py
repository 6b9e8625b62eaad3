"""Compatibility names: the restyle generator seam now lives in `lib_stylemix.seams` (`RestyleGenerator`)."""

from __future__ import annotations

from lib_stylemix.seams import GeneratedImage
from lib_stylemix.seams import RestyleGenerator as Generator

__all__ = ["GeneratedImage", "Generator"]
