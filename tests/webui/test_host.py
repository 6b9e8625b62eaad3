"""WebuiHost and the pieces behind it: LoRA folder + refresh, settings, GPU hand-off, generators."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.restyle.plan import RestyleJob
from lib_stylemix.seams import Txt2ImgRequest
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.webui.host import WebuiHost
from lib_stylemix.webui.options import PREFIX, read_settings, register_settings
from tests.webui.conftest import make_images


def test_lora_folder_respects_lora_dir_with_fallback(webui, tmp_path):
    host = WebuiHost()
    assert host.lora_registry().folder() == webui.root / "models" / "Lora"
    webui.shared.cmd_opts.lora_dir = str(tmp_path / "elsewhere")
    assert host.lora_registry().folder() == tmp_path / "elsewhere"
    del webui.shared.cmd_opts.lora_dir  # Lora extension disabled: the flag does not exist
    assert host.lora_registry().folder() == webui.root / "models" / "Lora"


def test_saved_lora_is_listed_after_refresh(webui):
    registry = WebuiHost().lora_registry()
    webui.networks.list_available_networks()
    write_atomic(registry.folder() / "merge-a.safetensors", b"x")
    assert "merge-a" not in webui.networks.available_networks
    before = webui.networks.refresh_count
    registry.refresh()
    assert webui.networks.refresh_count == before + 1
    assert "merge-a" in webui.networks.available_networks


def test_refresh_without_lora_extension_does_not_fail(webui, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "networks", None)
    WebuiHost().lora_registry().refresh()


def _defaults_in(root):
    """The default settings as the webui adapter reads them: output folders absolute under the webui folder."""
    import dataclasses

    defaults = StyleMixSettings()
    folders = {f.name: str(root / getattr(defaults, f.name)) for f in dataclasses.fields(defaults)
               if f.name.endswith("_output_dir")}
    return dataclasses.replace(defaults, **folders)


def test_settings_read_with_defaults_before_and_after_registration(webui):
    assert read_settings() == _defaults_in(webui.root)  # on_ui_settings has not run (API mode, --nowebui)
    webui.shared.opts.data[PREFIX + "steps"] = "nonsense"
    webui.shared.opts.data[PREFIX + "epoch_strengths"] = "0.5, 0.75\n1"
    settings = read_settings()
    assert settings.steps == 20 and settings.epoch_strengths == (0.5, 0.75, 1.0)


def test_register_settings_adds_a_section(webui):
    register_settings()
    labels = webui.shared.opts.data_labels
    info = labels[PREFIX + "preview_prompts"]
    assert info.section == ("stylemix", "StyleMix")
    assert info.default == "\n".join(StyleMixSettings().preview_prompts)
    assert read_settings() == _defaults_in(webui.root)


def test_output_folders_are_absolute_whatever_the_working_folder(webui, tmp_path):
    """Issue 12 item 21: status lines named folders relative to the webui folder."""
    webui.shared.opts.data[PREFIX + "pool_output_dir"] = "my/pool"
    webui.shared.opts.data[PREFIX + "epochs_output_dir"] = str(tmp_path / "grids")
    settings = WebuiHost().settings()
    assert settings.pool_output_dir == str(webui.root / "my" / "pool")
    assert settings.epochs_output_dir == str(tmp_path / "grids")
    assert Path(settings.restyle_output_dir).is_absolute()


def test_gpu_handoff(webui):
    webui.load_model("sd1")
    handoff = WebuiHost().gpu_handoff()
    handoff.release()
    handoff.restore()
    if webui.kind == "a1111":
        assert webui.sd_models.events == ["unload", "to_device"]
        assert webui.sd_models.model_data.sd_model.device == "cuda"
    else:
        from backend import memory_management

        assert memory_management.events == ["unload_all_models", "soft_empty_cache"]
        assert webui.sd_models.events == []


def test_checkpoint_facts(webui):
    host = WebuiHost()
    assert host.can_generate() is not None and host.checkpoint_arch() is None and host.current_checkpoint() is None
    with pytest.raises(StyleMixError, match="No Stable Diffusion checkpoint"):
        host.txt2img_generator()
    webui.load_model("sdxl")
    assert host.can_generate() is None
    assert host.checkpoint_arch() == "sdxl"
    assert host.current_checkpoint() == Path("models/Stable-diffusion/v1-5.safetensors")


def test_tab_txt2img_generator_keeps_our_seed(webui):
    """A fresh p gets the always-on scripts; is_api keeps the built-in seed script from overwriting the seed."""
    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    request = Txt2ImgRequest("a cat", "ugly", 77, "Euler", 10, 5.0, 64, 64, loras=(("ink", 0.8),))
    images = WebuiHost().txt2img_generator().generate(request)
    call = webui.processing.calls[0]
    assert call["seed"] == 77 and call["is_api"] is True
    assert call["loras"] == [("ink", 0.8)]
    assert call["controlnet"] == []  # ControlNet ran with its default (disabled) units
    assert len(images) == 1 and images[0].image.size == (64, 64) and "Seed: 77" in images[0].infotext


def test_tab_restyle_generator(webui, tmp_path):
    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sdxl")
    generator = WebuiHost().restyle_generator()
    assert generator.controlnet_model == "diffusers_xl_canny_mid [112a778d]"
    image = make_images(tmp_path / "set", 1) / "photo1.png"
    job = RestyleJob(
        "ink__photo1",
        "ink",
        "ink",
        str(image),
        "photo1",
        "a photo",
        "ink art, a photo",
        "",
        5,
        sampler="Euler",
        steps=4,
        width=64,
        height=64,
    )
    out = generator.generate(job)
    assert len(out) == 1
    assert webui.processing.calls[0]["controlnet"][0]["model"] == "diffusers_xl_canny_mid [112a778d]"
    assert webui.processing.calls[0]["seed"] == 5


def test_interrupt_during_a_job_raises_cancelled(webui, tmp_path):
    from lib_stylemix.errors import CancelledError

    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    webui.processing.before_batch_hooks.append(lambda p, n: webui.shared.state.interrupt())
    with pytest.raises(CancelledError):
        WebuiHost().txt2img_generator().generate(Txt2ImgRequest("a cat", "", 1, "Euler", 4, 5.0, 64, 64))


def test_webui_host_satisfies_the_host_protocol(webui):
    from lib_stylemix.ui.host import Host

    host = WebuiHost()
    assert isinstance(host, Host)
    assert host.label == ("A1111 1.10.1" if webui.kind == "a1111" else "Forge 2.0.1v1.10.1")


def test_batch_images_skip_the_webui_grid(webui, tmp_path):
    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    image = make_images(tmp_path / "set", 1) / "photo1.png"
    job = RestyleJob(
        "ink__photo1",
        "ink",
        "ink",
        str(image),
        "photo1",
        "a photo",
        "ink art",
        "",
        9,
        sampler="Euler",
        steps=4,
        width=64,
        height=64,
        batch_size=2,
    )
    out = WebuiHost().restyle_generator().generate(job)
    assert [g.image.size for g in out] == [(64, 64), (64, 64)]  # the 128×64 grid at index 0 is not ours
    assert ["Seed: 9" in out[0].infotext, "Seed: 10" in out[1].infotext] == [True, True]


def test_black_control_image_is_refused(webui, tmp_path):
    from PIL import Image

    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    black = tmp_path / "black.png"
    Image.new("RGB", (64, 64)).save(black)
    job = RestyleJob("ink__black", "ink", "ink", str(black), "black", "", "ink art", "", 1, width=64, height=64)
    with pytest.raises(StyleMixError, match=r"black\.png: the image is black"):
        WebuiHost().restyle_generator().generate(job)
    assert webui.processing.calls == []


def test_a_nans_exception_fails_one_epoch_cell_not_the_grid(webui, tmp_path):
    """Issue 12 item 20: the webui's NansException in one cell; the finished cells are kept and shown."""
    from modules import devices

    from lib_stylemix.epochs import find_run, make_plan, run_grid, save_result
    from tests.epochs.conftest import write_lora

    webui.load_scripts()
    webui.make_runner()
    webui.load_model("sd1")
    folder = tmp_path / "loras"
    folder.mkdir()
    write_lora(folder / "ink-000001.safetensors", {"ss_epoch": "1"})
    write_lora(folder / "ink.safetensors", {"ss_epoch": "2"})

    seen = []

    def nans_in_second(p, batch):
        seen.append(p)
        if len(seen) == 2:
            raise devices.NansException("A tensor with all NaNs was produced in Unet.")

    webui.processing.before_batch_hooks.append(nans_in_second)
    settings = StyleMixSettings(width=64, height=64, steps=4, sampler="Euler")
    plan = make_plan(find_run(folder, "ink"), settings, strengths=(0.5, 1.0), prompts=("a cat",), seeds=(1,))
    result = run_grid(plan, WebuiHost().txt2img_generator())
    assert not result.cancelled and sorted(result.outputs) == [0, 2, 3]
    assert list(result.failed) == [1] and "NansException: A tensor with all NaNs" in result.failed[1]
    assert result.failure_lines()[0].startswith("epoch 1, strength 1, seed 1: txt2img seed 1: the webui failed")
    sheet = result.cell_sheets(64)[0][1]
    assert sheet.getpixel((2, 2)) == (150, 30, 30)  # the failed cell is drawn as such, the others are images
    saved = save_result(result, tmp_path / "grids")
    import json

    record = json.loads(saved.with_suffix(".json").read_text())
    assert record["failed"] == 1 and record["images"][1]["error"].endswith("produced in Unet.)")
    assert record["images"][0]["error"] is None and record["images"][0]["infotexts"]
