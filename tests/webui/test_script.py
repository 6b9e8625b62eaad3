"""The txt2img Script driven like the webui drives it: `txt2img()` → `ScriptRunner.run` → our `run`."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from lib_stylemix.errors import StyleMixError
from lib_stylemix.webui.script import TITLE
from tests.webui.conftest import make_images, upload

SD15_CANNY = "control_v11p_sd15_canny [d14c016b]"


def _args(webui, folder="", uploads=None, styles="ink wash\npop art", out="out/restyle", low=60, high=160):
    """The flat script_args tuple the UI would send with our Script selected."""
    runner = webui.runner
    ours = webui.script(TITLE)
    args = list(runner.default_args(selected_title=TITLE))
    args[ours.args_from : ours.args_to] = [
        str(folder),
        uploads,
        styles,
        "{style} art, {description}",
        low,
        high,
        0.9,
        "per-image",
        1234,
        str(out),
    ]
    return tuple(args)


@pytest.fixture
def ready(webui):
    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    return webui


def _txt2img(webui, args):
    return webui.processing.txt2img(
        args,
        prompt="ignored",
        negative_prompt="blurry",
        steps=12,
        sampler_name="Euler",
        cfg_scale=6.0,
        width=64,
        height=64,
        seed=-1,
    )


def test_run_returns_processed_with_grid_and_images(ready, tmp_path):
    folder = make_images(tmp_path / "set", 2)
    args = _args(ready, folder, out=tmp_path / "out")
    runner_slices = [(s.args_from, s.args_to) for s in ready.runner.scripts]
    processed = _txt2img(ready, args)
    calls = ready.processing.calls
    assert len(calls) == 4  # 2 images × 2 styles, and no extra generation after run()
    assert len(processed.images) == len(processed.infotexts) == 1 + 4
    assert processed.index_of_first_image == 1
    assert processed.images[0].size != (64, 64)  # the images × styles grid page comes first
    assert all(image.size == (64, 64) for image in processed.images[1:])
    for call in calls:
        assert call["controlnet"] == [
            {
                "module": "canny",
                "model": SD15_CANNY,
                "weight": 0.9,
                "low": 60,
                "high": 160,
                "control_mode": "Balanced",
                "resize_mode": "Crop and Resize",
                "save_detected_map": False,
                "image_shape": (64, 64, 3),
            }
        ]
        assert (call["negative"], call["steps"], call["sampler"], call["cfg"]) == ("blurry", 12, "Euler", 6.0)
        assert call["enable_hr"] is False
    assert calls[0]["prompt"] == "ink wash art, a test photo number 1"
    assert {c["seed"] for c in calls[:2]} != {-1}  # plan seeds, not the txt2img seed box
    assert [(s.args_from, s.args_to) for s in ready.runner.scripts] == runner_slices
    assert "ink wash art" in processed.infotexts[1]
    written = sorted((tmp_path / "out").rglob("*.png"))
    assert len([p for p in written if p.parent.name != "grids"]) == 4
    assert ready.shared.state.job_count == 4


def test_interrupt_returns_what_is_done_and_rerun_resumes(ready, tmp_path):
    folder = make_images(tmp_path / "set", 2)
    args = _args(ready, folder, out=tmp_path / "out")
    state = ready.shared.state

    def press_interrupt(p, batch):
        if len(ready.processing.calls) == 1:  # during the second job
            state.interrupt()

    ready.processing.before_batch_hooks.append(press_interrupt)
    processed = _txt2img(ready, args)
    assert "interrupted" in processed.info
    assert len(processed.images) == len(processed.infotexts)
    assert len(processed.images) - processed.index_of_first_image == 1  # only the first job finished
    ready.processing.before_batch_hooks.clear()
    state.interrupted = False  # wrap_gradio_call resets the flags after the request
    ready.processing.calls.clear()
    resumed = _txt2img(ready, args)
    assert len(ready.processing.calls) == 3  # the finished job is not generated again
    assert len(resumed.images) - resumed.index_of_first_image == 4
    assert "3 written, 1 resumed" in resumed.info


def test_stop_after_current_stops_the_run(ready, tmp_path):
    folder = make_images(tmp_path / "set", 2)
    state = ready.shared.state

    def stop_after_this(p, batch):
        if len(ready.processing.calls) == 1:
            state.stop_generating()

    ready.processing.before_batch_hooks.append(stop_after_this)
    processed = _txt2img(ready, _args(ready, folder, out=tmp_path / "out"))
    assert len(ready.processing.calls) == 2  # the current image was finished, nothing after it was started
    assert "interrupted" in processed.info
    assert len(processed.images) == len(processed.infotexts)


def test_uploads_are_copied_next_to_the_output(ready, tmp_path):
    folder = make_images(tmp_path / "set", 1)
    uploads = [upload(folder / "photo1.png")]
    processed = _txt2img(ready, _args(ready, "", uploads=uploads, styles="ink", out=tmp_path / "out"))
    copied = list((tmp_path / "out-uploads").glob("*/photo1.png"))
    assert len(copied) == 1
    assert len(processed.images) == len(processed.infotexts) == 2  # grid page + the one image
    assert processed.index_of_first_image == 1
    assert ready.processing.calls[0]["prompt"] == "ink art, photo1"  # description from the file name
    other = tmp_path / "other" / "photo1.png"  # another upload under the same name: its own folder, no error
    other.parent.mkdir()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(other)
    _txt2img(ready, _args(ready, "", uploads=[upload(other)], styles="ink", out=tmp_path / "out"))
    assert len(list((tmp_path / "out-uploads").glob("*/photo1.png"))) == 2
    assert copied[0].read_bytes() == (folder / "photo1.png").read_bytes()


def test_missing_controlnet_fails_before_generating(webui, tmp_path):
    webui.load_scripts(with_controlnet=False)
    webui.make_runner()
    webui.load_model("sd1")
    folder = make_images(tmp_path / "set", 1)
    with pytest.raises(StyleMixError, match="ControlNet is not available"):
        _txt2img(webui, _args(webui, folder, out=tmp_path / "out"))
    assert webui.processing.calls == []


def test_sdxl_checkpoint_gets_the_xl_canny_model(ready, tmp_path):
    ready.load_model("sdxl")
    folder = make_images(tmp_path / "set", 1)
    _txt2img(ready, _args(ready, folder, styles="ink", out=tmp_path / "out"))
    assert ready.processing.calls[0]["controlnet"][0]["model"] == "diffusers_xl_canny_mid [112a778d]"


def test_no_input_is_a_clear_error(ready, tmp_path):
    with pytest.raises(StyleMixError, match="choose an image folder or upload images"):
        _txt2img(ready, _args(ready, "", out=tmp_path / "out"))


def test_txt2img_batch_size_gives_images_per_job(ready, tmp_path):
    folder = make_images(tmp_path / "set", 1)
    processed = ready.processing.txt2img(
        _args(ready, folder, styles="ink", out=tmp_path / "out"),
        negative_prompt="",
        steps=4,
        sampler_name="Euler",
        width=64,
        height=64,
        batch_size=2,
    )
    assert ready.processing.calls[0]["batch_size"] == 2
    assert len(processed.images) == len(processed.infotexts) == 1 + 2
    assert processed.all_seeds[1] + 1 == processed.all_seeds[2]
    assert sorted(p.name for p in (tmp_path / "out").rglob("photo1*.png")) == ["photo1-2.png", "photo1.png"]


def test_a_failing_job_is_reported_and_the_rest_still_runs(ready, tmp_path):
    folder = make_images(tmp_path / "set", 1)
    Image.new("RGB", (64, 64)).save(folder / "zblack.png")  # no edges: refused before generating
    processed = _txt2img(ready, _args(ready, folder, styles="ink", out=tmp_path / "out"))
    assert len(ready.processing.calls) == 1
    assert len(processed.images) == len(processed.infotexts) == 2
    assert "1 written, 0 resumed, 1 failed" in processed.info
    assert "ink__zblack: " in processed.info and "the image is black" in processed.info


def _run_folders(root):
    return sorted(p for p in root.iterdir() if p.name.startswith("run-"))


def test_second_run_into_the_same_folder_keeps_the_first_runs_records(ready, tmp_path):
    """Issue 12 item 13: the Script's default folder is shared by every run."""
    folder = make_images(tmp_path / "set", 1)
    root = tmp_path / "out"
    _txt2img(ready, _args(ready, folder, styles="ink", out=root))
    (first,) = _run_folders(root)
    manifest = (first / "manifest.json").read_bytes()
    grids = {p.name: p.read_bytes() for p in (first / "grids").iterdir()}
    second = _txt2img(ready, _args(ready, folder, styles="pop art", out=root))
    runs = _run_folders(root)
    assert len(runs) == 2 and first in runs
    assert (first / "manifest.json").read_bytes() == manifest
    assert {p.name: p.read_bytes() for p in (first / "grids").iterdir()} == grids
    assert f"Run folder: {next(r for r in runs if r != first)}" in second.comments
    ready.processing.calls.clear()
    again = _txt2img(ready, _args(ready, folder, styles="ink", out=root))  # the first plan again: resumed
    assert ready.processing.calls == [] and "0 written, 1 resumed" in again.comments
    assert len(_run_folders(root)) == 2


def test_summary_is_in_comments_with_absolute_paths(ready, tmp_path):
    """Issue 12 item 21: 1.10's `Processed` reads `p.comments`; a relative folder is shown absolute."""
    folder = make_images(tmp_path / "set", 1)
    processed = _txt2img(ready, _args(ready, folder, styles="ink", out="out/restyle"))
    run_folder = _run_folders(ready.root / "out" / "restyle")[0]
    assert processed.comments.startswith("StyleMix: 1 written, 0 resumed, 0 failed of 1 job(s)")
    assert f"Run folder: {run_folder}" in processed.comments and run_folder.is_absolute()
    info = json.loads(processed.js())["extra_generation_params"]["StyleMix"]
    assert info["run_folder"] == str(run_folder) and info["manifest"] == str(run_folder / "manifest.json")


def test_api_response_carries_the_summary(ready, tmp_path):
    """Issue 12 item 15: `/sdapi/v1/txt2img` returns `Processed.js()` as `info`, not `info`/`comments` text."""
    folder = make_images(tmp_path / "set", 2)
    Image.new("RGB", (64, 64)).save(folder / "zblack.png")  # fails: no edges
    state = ready.shared.state

    def press_interrupt(p, batch):
        if len(ready.processing.calls) == 2:  # during the third job
            state.interrupt()

    ready.processing.before_batch_hooks.append(press_interrupt)
    script_args = ["", None, "ink\npop art", "{style} art, {description}", 60, 160, 0.9, "per-image", 1234,
                   str(tmp_path / "out")]
    script_args[0] = str(folder)
    response = ready.processing.txt2img_api(TITLE.lower(), script_args, negative_prompt="", steps=4,
                                            sampler_name="Euler", width=64, height=64)
    summary = json.loads(response["info"])["extra_generation_params"]["StyleMix"]
    assert summary["interrupted"] is True
    assert summary["jobs"] == 6 and summary["written"] == 2 and summary["resumed"] == 0
    assert summary["failed"] == {} and summary["pending"] == 4
    assert len(response["images"]) == 1 + 2  # the grid page and the two finished images
    ready.processing.before_batch_hooks.clear()
    ready.processing.calls.clear()
    response = ready.processing.txt2img_api(TITLE.lower(), script_args, negative_prompt="", steps=4,
                                            sampler_name="Euler", width=64, height=64)
    summary = json.loads(response["info"])["extra_generation_params"]["StyleMix"]
    assert summary["resumed_run"] is True and summary["interrupted"] is False
    assert (summary["written"], summary["resumed"]) == (2, 2)
    assert list(summary["failed"]) == ["ink__zblack", "pop_art__zblack"]
    assert "the image is black" in summary["failed"]["ink__zblack"]


def test_a_webui_exception_fails_one_restyle_job_not_the_run(ready, tmp_path):
    from modules import devices

    folder = make_images(tmp_path / "set", 2)
    seen = []

    def nans_in_second(p, batch):
        seen.append(p)
        if len(seen) == 2:
            raise devices.NansException("A tensor with all NaNs was produced in VAE.")

    ready.processing.before_batch_hooks.append(nans_in_second)
    processed = _txt2img(ready, _args(ready, folder, styles="ink", out=tmp_path / "out"))
    assert "1 written, 0 resumed, 1 failed of 2 job(s)" in processed.comments
    assert "StyleMix failed ink__photo2: restyle job ink__photo2: the webui failed (NansException" in processed.comments
    summary = json.loads(processed.js())["extra_generation_params"]["StyleMix"]
    assert list(summary["failed"]) == ["ink__photo2"] and summary["written"] == 1
