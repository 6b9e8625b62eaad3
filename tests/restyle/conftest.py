"""A small prepared image set and a fake generator that records what it was asked to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lib_stylemix.dataset.images import ImageSet, load_image_set
from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.generator import GeneratedImage
from lib_stylemix.restyle.plan import RestyleJob
from lib_stylemix.seams import CancelFlag


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "prepared"
    folder.mkdir()
    for i, name in enumerate(["boy_walking_on_beach_02", "red_house", "sleeping_cat"]):
        image = Image.new("RGB", (96, 96), (230, 230, 230))
        ImageDraw.Draw(image).rectangle((10 + 10 * i, 20, 70, 80), fill=(200, 30, 30))
        image.save(folder / f"{name}.png")
    (folder / "red_house.txt").write_text("a red house, at dusk\n", encoding="utf-8")
    return folder


@pytest.fixture
def image_set(image_folder: Path) -> ImageSet:
    return load_image_set(image_folder)


class FakeGenerator:
    """Solid images in a colour per style; can fail chosen jobs, cancel after N calls, or supply an infotext."""

    def __init__(
        self,
        *,
        fail: tuple[str, ...] = (),
        cancel_after: int | None = None,
        flag: CancelFlag | None = None,
        infotext: str = "",
        count: int | None = None,
    ) -> None:
        self.calls: list[str] = []
        self.fail = fail
        self.cancel_after = cancel_after
        self.flag = flag
        self.infotext = infotext
        self.count = count

    def generate(self, job: RestyleJob) -> list[GeneratedImage]:
        self.calls.append(job.job_id)
        if self.flag is not None and self.cancel_after is not None and len(self.calls) >= self.cancel_after:
            self.flag.cancel()
        if job.job_id in self.fail:
            raise StyleMixError(f"{job.job_id}: model missing")
        shade = (len(job.style) * 40) % 256
        n = job.batch_size if self.count is None else self.count
        return [
            GeneratedImage(Image.new("RGB", (job.width, job.height), (shade, i * 60, 90)), self.infotext)
            for i in range(n)
        ]


@pytest.fixture
def fake() -> FakeGenerator:
    return FakeGenerator()
