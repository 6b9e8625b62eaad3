"""The generator seam: whatever turns one restyle job into images (the webui, the preview backend, a test fake)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

from lib_stylemix.restyle.plan import RestyleJob


@dataclass
class GeneratedImage:
    """One output image; `infotext` is the generator's own generation-parameters text when it has one."""

    image: Image.Image
    infotext: str = ""


@runtime_checkable
class Generator(Protocol):
    """Renders one job; returns `job.batch_size` images (fewer is allowed, none is an error).

    A problem with this job (missing model, bad image) should be raised as `StyleMixError`: `execute` records
    it and carries on with the next job. Raise `CancelledError` to stop the whole run.
    """

    def generate(self, job: RestyleJob) -> list[GeneratedImage]: ...
