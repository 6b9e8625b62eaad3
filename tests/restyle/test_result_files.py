"""`RestyleResult.files` lists every finished job's images, written now or resumed, so front ends (the Script)
never rebuild the output layout themselves."""

from __future__ import annotations

from pathlib import Path

from lib_stylemix.dataset.images import ImageSet
from lib_stylemix.restyle.execute import execute, job_paths
from lib_stylemix.restyle.plan import make_plan
from lib_stylemix.seams import CancelFlag
from tests.restyle.conftest import FakeGenerator


def test_files_cover_written_and_resumed_jobs(image_set: ImageSet, fake: FakeGenerator, tmp_path: Path) -> None:
    plan = make_plan(image_set, "Claude Monet, Hokusai", width=64, height=64, batch_size=2)
    out = tmp_path / "out"
    flag = CancelFlag()

    class StopAfterTwo(FakeGenerator):
        def generate(self, job):
            images = super().generate(job)
            if len(self.calls) == 2:
                flag.cancel()
            return images

    first = execute(plan, StopAfterTwo(), out, cancel=flag, grid=False)
    assert first.cancelled and list(first.files) == list(first.written) and len(first.files) == 2
    second = execute(plan, fake, out, grid=False)
    assert list(second.files) == [job.job_id for job in plan.jobs]  # plan order, resumed ones included
    for job in plan.jobs:
        primary = job_paths(out, job)[0]
        assert second.files[job.job_id] == [(0, str(primary)), (1, str(primary.parent / f"{primary.stem}-2.png"))]
    assert set(second.skipped) == set(first.files)
