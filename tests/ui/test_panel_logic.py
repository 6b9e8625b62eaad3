"""Logic behind the Restyle, Epochs and Train panels, with fakes for generation and a stand-in sd-scripts."""

from __future__ import annotations

import json

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.preview import PreviewGenerator
from lib_stylemix.seams import NeverCancel, NoGpuHandoff, NullProgress
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.ui import epochs_logic, pool_logic, restyle_logic, train_logic
from lib_stylemix.ui.dataset_logic import prepare
from tests.ui.conftest import FakeTxt2Img

QUIET = {"progress": NullProgress(), "cancel": NeverCancel()}


@pytest.fixture
def prepared(image_folder, tmp_path):
    out = tmp_path / "prepared"
    prepare(str(image_folder), str(out), "64", "center", False, **QUIET)
    return out


def test_restyle_plan_and_run_resume(prepared, tmp_path):
    settings = StyleMixSettings(width=64, height=64)
    plan = restyle_logic.build_plan(str(prepared), "ink wash\nwatercolor\n", "{description}, {style}", "", "fixed",
                                    7, 50, 150, settings)
    assert len(plan.jobs) == 6 and plan.canny.low == 50 and all(j.seed == 7 for j in plan.jobs)
    assert "3 image(s) × 2 style(s)" in restyle_logic.plan_summary(plan)
    out = tmp_path / "restyled"
    _, summary, gallery, grids = restyle_logic.run_plan(plan, PreviewGenerator(), str(out), backend="test", **QUIET)
    (run,) = [p for p in out.iterdir() if p.name.startswith("run-")]
    assert summary.startswith(f"6 image(s) written to new run {run}") and len(gallery) == 6 and grids
    assert all(g.startswith(str(run)) for g in grids)
    assert {caption.split(" · ")[0] for _, caption in gallery} == {"ink wash", "watercolor"}
    _, again, gallery2, _ = restyle_logic.run_plan(plan, PreviewGenerator(), str(out), backend="test", **QUIET)
    assert "6 job(s) already done" in again and gallery2 == [] and f"resumed run {run}" in again
    other = restyle_logic.build_plan(str(prepared), "pop art", "", "", "fixed", 7, 50, 150, settings)
    _, third, _, _ = restyle_logic.run_plan(other, PreviewGenerator(), str(out), backend="test", **QUIET)
    assert len([p for p in out.iterdir() if p.name.startswith("run-")]) == 2 and "new run" in third
    assert json.loads((run / "manifest.json").read_text())["styles"][0]["style"] == "ink wash"  # first run kept


def test_restyle_status_paths_are_absolute(prepared, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = StyleMixSettings(width=64, height=64)
    plan = restyle_logic.build_plan(str(prepared), "ink", "", "", "fixed", 7, 50, 150, settings)
    result, summary, _, _ = restyle_logic.run_plan(plan, PreviewGenerator(), "relative/out", backend="t", **QUIET)
    assert f"written to new run {tmp_path / 'relative' / 'out'}" in summary
    assert result.out_dir.startswith(str(tmp_path))


def test_restyle_input_errors(prepared, tmp_path):
    settings = StyleMixSettings()
    with pytest.raises(StyleMixError, match="image folder not found"):
        restyle_logic.build_plan(str(tmp_path / "none"), "a", "", "", "fixed", 1, 100, 200, settings)
    with pytest.raises(StyleMixError, match="one style per line"):
        restyle_logic.build_plan(str(prepared), "  \n", "", "", "fixed", 1, 100, 200, settings)
    with pytest.raises(StyleMixError, match="low must not exceed high"):
        restyle_logic.build_plan(str(prepared), "a", "", "", "fixed", 1, 200, 100, settings)


@pytest.fixture
def run_folder(tmp_path):
    from tests.ui.conftest import write_small_loras

    folder = tmp_path / "Lora"
    write_small_loras(folder, count=1)
    from lib_stylemix.lora import default_modules, make_lora_file

    modules = default_modules("sd1")[:3]
    for epoch, name in ((1, "ink-000001"), (2, "ink-000002"), (3, "ink")):
        make_lora_file(folder / f"{name}.safetensors", modules=modules, seed=epoch, extra={"ss_epoch": str(epoch)})
    return folder


def test_epoch_grid_pick_and_record(run_folder, tmp_path):
    assert epochs_logic.runs(str(run_folder)) == ["ink", "style_0"]
    settings = StyleMixSettings(width=32, height=32, epochs_output_dir=str(tmp_path / "grids"))
    session = epochs_logic.EpochsSession()
    fake = FakeTxt2Img()
    text, cells, grid, saved = epochs_logic.render(session, str(run_folder), "ink", "0.5, 1", "a cat\na dog", "1",
                                                   settings, fake, **QUIET)
    assert "3 epoch(s) × 2 strength(s), 12/12 image(s)" in text
    assert len(cells) == 6 and saved.is_file() and grid.size[0] > 64
    assert "<lora:ink-000001:0.5>" in fake.prompts[0]
    file, strength = epochs_logic.pick(session, 3)
    assert (file.epoch, strength) == (2, 1.0)
    lora, sidecar = epochs_logic.record_choice(session, 0.9, "ink style", "sd1")
    assert lora == run_folder / "ink-000002.safetensors"
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    assert data["preferred weight"] == 0.9 and data["activation text"] == "ink style" and data["sd version"] == "SD1"
    pool_session = pool_logic.PoolSession()
    pool_logic.load_sources(pool_session, [lora], cache_dir=None, **QUIET)
    assert pool_session.pool.names == ["ink-000002"]


def test_epoch_errors(run_folder):
    session = epochs_logic.EpochsSession()
    with pytest.raises(StyleMixError, match="render a grid first"):
        epochs_logic.pick(session, 0)
    with pytest.raises(StyleMixError, match="pick the best epoch"):
        epochs_logic.record_choice(session, 1.0, "", None)
    with pytest.raises(StyleMixError, match="pick a training run"):
        epochs_logic.render(session, str(run_folder), "", "1", "a", "1", StyleMixSettings(), FakeTxt2Img(), **QUIET)


def test_training_service_runs_queue_in_background(tmp_path, fake_sd_scripts):
    from tests.training.conftest import make_checkpoint, make_dataset

    root = fake_sd_scripts
    settings = StyleMixSettings(sd_scripts_dir=str(root))
    ok, report = train_logic.check("", "", settings)
    assert str(root) in report and ok == ("problem:" not in report)
    service = train_logic.TrainingService(tmp_path / "queue.json", NoGpuHandoff())
    dataset = make_dataset(tmp_path / "restyled", "inkwash")
    base = make_checkpoint(tmp_path / "sd15.safetensors", "sd1")
    msg = service.add("", "", str(dataset), str(base), "", settings, tmp_path / "loras", max_train_epochs=2)
    assert "Queued" in msg and "'inkwash'" in msg
    assert service.rows()[0][1:3] == ["inkwash", "pending"]
    service.start()
    service.wait(60)
    assert not service.running()
    rows = service.rows()
    tail = service.log_tail()
    assert rows[0][2] == "succeeded" and rows[0][3] == 2, (rows, service.error, tail)
    assert rows[0][4].endswith("inkwash.safetensors")
    _fraction, line = service.progress_text()
    assert "inkwash" in line and "(finished)" in line, (line, tail)
    assert "epoch" in tail
    with pytest.raises(StyleMixError, match="nothing to train"):
        service.start()
    with pytest.raises(StyleMixError, match="dataset"):
        service.add("", "", " ", str(base), "", settings, tmp_path / "loras")


def test_one_training_service_per_queue_file(tmp_path):
    first = train_logic.TrainingService.for_file(tmp_path / "q.json", NoGpuHandoff())
    again = train_logic.TrainingService.for_file(tmp_path / "." / "q.json", NoGpuHandoff())
    other = train_logic.TrainingService.for_file(tmp_path / "other.json", NoGpuHandoff())
    assert first is again and first is not other
