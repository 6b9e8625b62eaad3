from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lib_stylemix.dataset.images import ImageSet
from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.restyle.execute import execute, job_paths
from lib_stylemix.restyle.generator import GeneratedImage
from lib_stylemix.restyle.infotext import parse_infotext
from lib_stylemix.restyle.plan import RestyleJob, make_plan
from lib_stylemix.seams import CancelFlag
from tests.restyle.conftest import FakeGenerator


def _all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_layout_captions_and_infotext(image_set: ImageSet, fake: FakeGenerator, tmp_path: Path) -> None:
    plan = make_plan(image_set, "Claude Monet, Hokusai", width=64, height=64, target_steps_per_epoch=30)
    out = tmp_path / "out"
    result = execute(plan, fake, out, backend="fake")
    assert len(result.written) == 6 and not result.skipped and not result.failed and not result.cancelled
    folder = out / "claude_monet" / "img" / "10_claude_monet"  # repeats = round(30 / 3)
    assert sorted(p.name for p in folder.iterdir()) == [
        "boy_walking_on_beach_02.png",
        "boy_walking_on_beach_02.txt",
        "red_house.png",
        "red_house.txt",
        "sleeping_cat.png",
        "sleeping_cat.txt",
    ]
    assert (folder / "red_house.txt").read_text(encoding="utf-8") == "claude_monet, a red house, at dusk\n"
    with Image.open(folder / "red_house.png") as image:
        parsed = parse_infotext(image.text["parameters"])
        assert image.size == (64, 64)
    job = next(j for j in plan.jobs if j.job_id == "claude_monet__red_house")
    assert parsed["Prompt"] == job.prompt and parsed["Seed"] == str(job.seed)
    assert parsed["StyleMix job"] == job.job_id and "Module: canny" in parsed["ControlNet 0"]
    assert not [p for p in _all_files(out) if p.name.endswith(".tmp")]

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "stylemix-restyle-output" and manifest["version"] == 1
    style = manifest["styles"][0]
    assert style == {
        "style": "Claude Monet",
        "style_slug": "claude_monet",
        "trigger": "claude_monet",
        "repeats": 10,
        "train_data_dir": "claude_monet/img",
        "image_dir": "claude_monet/img/10_claude_monet",
        "images": 3,
        "steps_per_epoch": 30,
    }
    entry = next(j for j in manifest["jobs"] if j["job_id"] == "hokusai__sleeping_cat")
    assert entry["status"] == "written" and entry["images"] == ["hokusai/img/10_hokusai/sleeping_cat.png"]
    assert entry["captions"] == ["hokusai/img/10_hokusai/sleeping_cat.txt"]
    assert manifest["grids"] == ["grids/grid-01.png"]


def test_webui_infotext_is_kept_and_tagged(image_set: ImageSet, tmp_path: Path) -> None:
    webui = "wave\nSteps: 25, Sampler: Euler, CFG scale: 5, Seed: 9, Size: 64x64, Version: v1.10.1"
    plan = make_plan(image_set, "Hokusai", width=64, height=64)
    execute(plan, FakeGenerator(infotext=webui), tmp_path / "out", backend="webui", grid=False)
    with Image.open(job_paths(tmp_path / "out", plan.jobs[0])[0]) as image:
        text = image.text["parameters"]
    assert text.startswith(webui) and parse_infotext(text)["StyleMix backend"] == "webui"


def test_batches_write_numbered_extras(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "Hokusai", width=64, height=64, batch_size=3)
    result = execute(plan, FakeGenerator(), tmp_path / "out", grid=False)
    names = [Path(p).name for p in result.written["hokusai__sleeping_cat"]]
    assert names == ["sleeping_cat.png", "sleeping_cat-2.png", "sleeping_cat-3.png"]
    folder = Path(result.written["hokusai__sleeping_cat"][0]).parent
    assert (folder / "sleeping_cat-3.txt").read_text(encoding="utf-8") == "hokusai, sleeping cat\n"
    with Image.open(folder / "sleeping_cat-3.png") as image:
        assert parse_infotext(image.text["parameters"])["StyleMix batch index"] == "2"


def test_rerun_resumes_and_redoes_only_missing_or_broken(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A, B", width=64, height=64)
    out = tmp_path / "out"
    execute(plan, FakeGenerator(), out)
    second = FakeGenerator()
    result = execute(plan, second, out)
    assert second.calls == [] and len(result.skipped) == 6 and not result.written
    missing, broken = job_paths(out, plan.jobs[1])[0], job_paths(out, plan.jobs[4])[0]
    missing.unlink()
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    third = FakeGenerator()
    result = execute(plan, third, out)
    assert third.calls == [plan.jobs[1].job_id, plan.jobs[4].job_id]
    with Image.open(broken) as image:
        assert image.size == (64, 64)
    statuses = {j["job_id"]: j["status"] for j in json.loads((out / "manifest.json").read_text())["jobs"]}
    assert statuses[plan.jobs[1].job_id] == "written" and statuses[plan.jobs[0].job_id] == "resumed"


def test_cancel_stops_between_jobs_without_partial_files(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A, B", width=64, height=64)
    out = tmp_path / "out"
    flag = CancelFlag()
    generator = FakeGenerator(cancel_after=3, flag=flag)
    result = execute(plan, generator, out, cancel=flag)
    # cancel was pressed during the third job, whose images still came back complete: kept, then the run stops
    assert result.cancelled and len(generator.calls) == 3 and len(result.written) == 3
    pngs = [p for p in _all_files(out) if p.suffix == ".png" and p.parent.name != "grids"]
    assert len(pngs) == 3 and not [p for p in _all_files(out) if p.name.endswith(".tmp")]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cancelled"] is True
    assert [j["status"] for j in manifest["jobs"]] == ["written"] * 3 + ["pending"] * 3
    finish = FakeGenerator()
    result = execute(plan, finish, out)
    assert finish.calls == [j.job_id for j in plan.jobs[3:]] and len(result.skipped) == 3


class _CutShort(FakeGenerator):
    """A generator interrupted mid-image: it raises instead of returning a partial picture."""

    def generate(self, job: RestyleJob) -> list[GeneratedImage]:
        images = super().generate(job)
        if len(self.calls) == 2:
            raise CancelledError("interrupted mid-image")
        return images


def test_cut_short_generation_is_discarded(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A, B", width=64, height=64)
    out = tmp_path / "out"
    result = execute(plan, _CutShort(), out, grid=False)
    assert result.cancelled and len(result.written) == 1
    pngs = [p for p in _all_files(out) if p.suffix == ".png"]
    assert len(pngs) == 1 and not [p for p in _all_files(out) if p.name.endswith(".tmp")]


def test_generator_errors_fail_one_job_and_the_run_goes_on(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A, B", width=64, height=64)
    result = execute(plan, FakeGenerator(fail=("b__red_house",)), tmp_path / "out", grid=False)
    assert result.failed == {"b__red_house": "b__red_house: model missing"} and len(result.written) == 5
    empty = execute(plan, FakeGenerator(count=0), tmp_path / "out2", grid=False)
    assert len(empty.failed) == 6 and "no image" in empty.failed["a__red_house"]


def test_grid_pages_split_and_size(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A, B, C", width=64, height=64)
    result = execute(plan, FakeGenerator(), tmp_path / "out", grid_rows=2, grid_cols=2, grid_cell=96)
    assert [Path(g).name for g in result.grids] == ["grid-01.png", "grid-02.png", "grid-03.png", "grid-04.png"]
    sizes = [Image.open(g).size for g in result.grids]
    # page 1: 2 images × (source + 2 styles); page 2: 2 images × (source + 1 style); pages 3-4: one image row
    assert sizes[0][0] >= 3 * 96 and sizes[1][0] >= 2 * 96 and sizes[0][0] - sizes[1][0] >= 96
    assert sizes[0][1] >= 2 * 96 and sizes[0][1] - sizes[2][1] >= 96
    assert all(w < 3 * 96 + 400 and h < 2 * 96 + 300 for w, h in sizes)
    again = execute(plan, FakeGenerator(), tmp_path / "out", grid_rows=8, grid_cols=8, grid_cell=96)
    assert sorted(p.name for p in (tmp_path / "out" / "grids").iterdir()) == ["grid-01.png"]
    assert Path(again.grids[0]).is_file()


def test_output_folder_guards(image_set: ImageSet, image_folder: Path, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A", width=64, height=64)
    with pytest.raises(StyleMixError, match="inside the source image folder"):
        execute(plan, FakeGenerator(), image_folder)
    with pytest.raises(StyleMixError, match="inside the source image folder"):
        execute(plan, FakeGenerator(), image_folder / "out")
    clash = make_plan(image_set, image_folder.name, width=64, height=64)  # style slug == source folder name
    with pytest.raises(StyleMixError, match="written into the source image folder"):
        execute(clash, FakeGenerator(), image_folder.parent)
    beside = execute(plan, FakeGenerator(), image_folder.parent, grid=False)  # sources in a sibling: fine
    assert len(beside.written) == 3
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"name": "someone else"}', encoding="utf-8")
    with pytest.raises(StyleMixError, match="not a StyleMix restyle manifest"):
        execute(plan, FakeGenerator(), foreign)
    assert (foreign / "manifest.json").read_text(encoding="utf-8") == '{"name": "someone else"}'


def test_non_latin_prompts_survive_the_png_chunk(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, ["葛飾北斎", "Hokusai"], template="{style}の浮世絵, {description}", width=64, height=64)
    plan.jobs = plan.jobs[:1]  # as if hand-edited: the second style has no job left
    result = execute(plan, FakeGenerator(), tmp_path / "out", grid=False)
    with Image.open(result.written[plan.jobs[0].job_id][0]) as image:
        parsed = parse_infotext(image.text["parameters"])
    assert parsed["Prompt"] == "葛飾北斎の浮世絵, boy walking on beach" and parsed["StyleMix style"] == "葛飾北斎"
    assert plan.jobs[0].style_slug.startswith("style_")
    manifest = json.loads(Path(result.manifest_path).read_text(encoding="utf-8"))
    assert [s["style"] for s in manifest["styles"]] == ["葛飾北斎"]


class _Crashing(FakeGenerator):
    def generate(self, job):
        if len(self.calls) == 2:
            raise RuntimeError("CUDA out of memory")
        return super().generate(job)


def test_a_crash_still_leaves_a_true_manifest(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(image_set, "A, B", width=64, height=64)
    with pytest.raises(RuntimeError, match="out of memory"):
        execute(plan, _Crashing(), tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert [j["status"] for j in manifest["jobs"]] == ["written", "written"] + ["pending"] * 4


def test_grid_enlarges_small_outputs_for_display_only(image_set: ImageSet, tmp_path: Path) -> None:
    """Issue 12 item 17: 64 px outputs fill their 128 px grid cell; the written images keep their size."""
    plan = make_plan(image_set, "A", width=64, height=64)
    out = tmp_path / "out"
    result = execute(plan, FakeGenerator(), out, grid_cell=128)
    colour = ((len("A") * 40) % 256, 0, 90)
    with Image.open(result.grids[0]) as page:
        filled = sum(count for count, rgb in page.convert("RGB").getcolors(1 << 20) if rgb == colour)
    assert filled >= 3 * 128 * 128 * 0.95  # three outputs, each covering its whole cell
    with Image.open(job_paths(out, plan.jobs[0])[0]) as image:
        assert image.size == (64, 64)
