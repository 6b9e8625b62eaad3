from __future__ import annotations

import json

import pytest
from PIL import Image

from lib_stylemix.epochs import find_run, make_plan, run_grid, save_result
from lib_stylemix.epochs.grid import labelled_grid
from lib_stylemix.epochs.tags import with_loras
from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelFlag
from lib_stylemix.settings import StyleMixSettings
from tests.epochs.conftest import ColourGenerator

SETTINGS = StyleMixSettings(width=64, height=64, steps=5, sampler="Euler", preview_prompts=("a cat", "a house"))


def _plan(run_folder, **kwargs):
    return make_plan(find_run(run_folder, "ink"), SETTINGS, strengths=(0.5, 1.0), seeds=(7,), **kwargs)


def test_plan_is_files_by_strengths_by_prompts_by_seeds(run_folder):
    plan = _plan(run_folder)
    assert len(plan.jobs) == 3 * 2 * 2 * 1
    first = plan.jobs[0]
    assert (first.row, first.col, first.prompt) == (0, 0, "a cat <lora:ink-000001:0.5>")
    assert plan.jobs[-1].prompt == "a house <lora:ink:1>"
    assert plan.row_labels == ["epoch 1", "epoch 2", "epoch 3 (final)"]
    assert plan.col_labels == ["strength 0.5", "strength 1"]
    assert {j.seed for j in plan.jobs} == {7}


def test_plan_defaults_come_from_settings(run_folder):
    plan = make_plan(find_run(run_folder, "ink"), SETTINGS)
    assert plan.strengths == SETTINGS.epoch_strengths
    assert plan.seeds == SETTINGS.preview_seeds
    assert (plan.steps, plan.sampler, plan.width) == (5, "Euler", 64)


def test_plan_refuses_empty_axes_and_duplicates(run_folder):
    files = find_run(run_folder, "ink")
    with pytest.raises(StyleMixError, match="no strengths"):
        make_plan(files, SETTINGS, strengths=())
    with pytest.raises(StyleMixError, match="no prompts"):
        make_plan(files, SETTINGS, prompts=["  "])
    with pytest.raises(StyleMixError, match="strengths repeat"):
        make_plan(files, SETTINGS, strengths=(1, 1.0))


def test_run_grid_renders_all_and_builds_labelled_grid(run_folder):
    plan = _plan(run_folder)
    generator = ColourGenerator()
    result = run_grid(plan, generator)
    assert len(generator.calls) == len(plan.jobs)
    assert generator.calls[0]["negative"] == SETTINGS.negative_prompt
    assert not result.cancelled
    assert len(result.cell_images(1, 1)) == 2
    gallery = result.gallery(size=96)
    assert [caption for _, caption in gallery][:2] == ["epoch 1 · 0.5", "epoch 1 · 1"]
    file, strength = result.cell(3)
    assert (file.epoch, strength) == (2, 1.0)
    grid = result.grid(size=96)
    assert grid.width > 2 * 96 and grid.height > 3 * 96
    # every cell is painted with generated colours, not the grey "missing" fill
    assert (200, 200, 200) not in {gallery[i][0].getpixel((10, 10)) for i in range(len(gallery))}


def test_cancel_keeps_what_is_done(run_folder):
    plan = _plan(run_folder)
    flag = CancelFlag()
    result = run_grid(plan, ColourGenerator(cancel_after=5, flag=flag), cancel=flag)
    assert result.cancelled
    assert sorted(result.outputs) == [0, 1, 2, 3, 4]
    last_cell = result.gallery(size=32)[-1][0]
    assert last_cell.getpixel((5, 5)) == (200, 200, 200)


def test_save_never_overwrites(run_folder, tmp_path):
    result = run_grid(_plan(run_folder), ColourGenerator())
    first = save_result(result, tmp_path / "out")
    second = save_result(result, tmp_path / "out")
    assert first.name == "ink-epoch-grid.png" and second.name == "ink-epoch-grid-2.png"
    record = json.loads(first.with_suffix(".json").read_text())
    assert record["epochs"] == [1, 2, 3]
    assert record["images"][0]["infotexts"] == ["a cat <lora:ink-000001:0.5>\nSeed: 7"]
    assert Image.open(first).size == result.grid().size


def test_labelled_grid_checks_label_counts():
    cell = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError):
        labelled_grid([[cell]], ["a", "b"], ["c"])


def test_generator_cancel_mid_image_ends_run(run_folder):
    from lib_stylemix.errors import CancelledError

    class Interrupted(ColourGenerator):
        def generate(self, *args):
            if len(self.calls) == 2:
                raise CancelledError("interrupted")
            return super().generate(*args)

    result = run_grid(_plan(run_folder), Interrupted())
    assert result.cancelled and sorted(result.outputs) == [0, 1]


class _FailingGenerator(ColourGenerator):
    def generate(self, request):
        if len(self.calls) == 2:
            self.calls.append({"prompt": with_loras(request.prompt, request.loras)})
            raise StyleMixError("the webui failed (NansException: NaNs in Unet)")
        return super().generate(request)


def test_a_failing_image_is_recorded_and_the_grid_goes_on(run_folder):
    plan = _plan(run_folder)
    generator = _FailingGenerator()
    result = run_grid(plan, generator)
    assert len(generator.calls) == len(plan.jobs) and not result.cancelled
    assert list(result.failed) == [2] and len(result.outputs) == len(plan.jobs) - 1
    assert result.failure_lines() == ["epoch 1, strength 1, seed 7: the webui failed (NansException: NaNs in Unet)"]
    assert len(result.cell_images(0, 1)) == 2  # the failed tile plus the finished image of that cell


def test_column_labels_fit_their_columns_for_tall_cells():
    """Tall cells (several prompts, one seed) used to give a font so large that labels ran into each other."""
    from PIL import ImageDraw

    from lib_stylemix.epochs.grid import _fitting_font, _text_size

    cells = [[Image.new("RGB", (128, 512), (9, 9, 9)) for _ in range(3)]]
    labels = ["strength 0.6", "strength 0.8", "strength 1"]
    grid = labelled_grid(cells, ["epoch 1"], labels)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _fitting_font(probe, labels, 128, 51)
    assert all(_text_size(probe, t, font)[0] <= 128 for t in labels)
    assert grid.size[0] > 3 * 128
