"""The U-Net feature hook against the stand-in webui with a tiny real torch model (A1111 and Forge, SD1/SDXL)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.science.distance import w2
from lib_stylemix.seams import CancelFlag
from lib_stylemix.webui.unet_features import (
    FeatureSettings,
    WebuiFeatureExtractor,
    describe_locked,
    up_block_module,
)

pytestmark = pytest.mark.torch  # a tiny real torch U-Net/VAE stands in for the checkpoint

SMALL = FeatureSettings(size=64)


def load_tiny(webui, arch="sd1"):
    import tiny_sd

    cls = tiny_sd.TinyForgeModel if webui.kind == "forge" else tiny_sd.TinyA1111Model
    model = cls(arch=arch)
    webui.sd_models.model_data.sd_model = model
    return model


def striped(colour, step):
    image = Image.new("RGB", (80, 64), colour)
    for x in range(0, 80, step):
        for y in range(64):
            image.putpixel((x, y), (0, 0, 0))
    return image


@pytest.mark.parametrize("arch", ["sd1", "sdxl"])
def test_features_come_from_the_chosen_up_block(webui, arch):
    model = load_tiny(webui, arch)
    unet = model.unet
    for up_block in range(3):
        out = WebuiFeatureExtractor(FeatureSettings(size=64, up_block=up_block)).describe([striped((200, 40, 40), 4)])
        assert len(out) == 1
        assert out[0].mean.shape == (unet.widths[up_block],)  # that level's channel count
    index, block = up_block_module(unet, 1)
    assert index == 3 and block is unet.output_blocks[3]
    assert not block._forward_hooks  # hook removed
    assert unet.calls[-1]["t"] == [25]
    assert ("transformer_options" in unet.calls[-1]["kwargs"]) == (webui.kind == "forge")


def test_same_image_same_descriptor_different_style_different(webui):
    load_tiny(webui)
    extractor = WebuiFeatureExtractor(SMALL)
    a1, a2, b = extractor.describe([striped((200, 40, 40), 4), striped((200, 40, 40), 4), striped((30, 90, 220), 16)])
    assert w2(a1, a2) == 0.0
    assert w2(a1, b) > 1e-4
    assert np.all(a1.var >= 0)


def test_lora_free_unet_is_used(webui):
    model = load_tiny(webui)
    if webui.kind == "a1111":
        webui.networks.loaded_networks[:] = ["some_lora"]
    WebuiFeatureExtractor(SMALL).describe([striped((10, 200, 10), 8)])
    if webui.kind == "a1111":
        assert webui.networks.loaded_networks == []  # weights restored before the pass
    else:
        from backend import memory_management

        assert memory_management.events[-1] == ("load_model_gpu", "original")
        assert model.forge_objects.unet.model.diffusion_model.calls == []  # the LoRA-patched U-Net is untouched
    assert model.unet.calls


def test_interrupt_and_progress(a1111):
    load_tiny(a1111)
    state = a1111.shared.state
    from lib_stylemix.webui.state import StateCancel, StateProgress

    images = [striped((200, 40, 40), 4)] * 3
    WebuiFeatureExtractor(SMALL, StateProgress(), StateCancel()).describe(images)
    assert state.job_count == 3 and state.job_no == 3
    flag = CancelFlag()
    flag.cancel()
    with pytest.raises(CancelledError, match="after 0 of 3"):
        WebuiFeatureExtractor(SMALL, cancel=flag).describe(images)


def test_describe_locked_holds_the_queue_lock(webui):
    model = load_tiny(webui)
    from modules import call_queue

    seen = []
    model.unet.output_blocks[0].register_forward_pre_hook(lambda *_: seen.append(call_queue.queue_lock.locked()))
    out = describe_locked([striped((1, 2, 3), 4)], SMALL)
    assert len(out) == 1 and seen == [True]
    assert not call_queue.queue_lock.locked()
    assert webui.shared.state.begun == 1 and webui.shared.state.ended == 1


def test_no_model_is_one_clear_error(webui):
    with pytest.raises(StyleMixError, match="no Stable Diffusion checkpoint is loaded"):
        WebuiFeatureExtractor(SMALL).describe([striped((1, 2, 3), 4)])
    load_tiny(webui)
    with pytest.raises(StyleMixError, match="up-block 7 does not exist"):
        WebuiFeatureExtractor(FeatureSettings(size=64, up_block=7)).describe([striped((1, 2, 3), 4)])


def test_webui_host_offers_the_extractor(webui):
    from lib_stylemix.webui.host import WebuiHost

    load_tiny(webui)
    extractor = WebuiHost().feature_extractor()
    assert isinstance(extractor, WebuiFeatureExtractor)
    assert len(extractor.describe([striped((9, 9, 9), 4)])) == 1


def test_a1111_inputs_follow_the_webui_device_and_dtypes(a1111, monkeypatch):
    import torch
    from modules import devices

    model = load_tiny(a1111)
    model.unet.double()
    monkeypatch.setattr(devices, "device", torch.device("cpu"), raising=False)
    monkeypatch.setattr(devices, "dtype_unet", torch.float64, raising=False)
    monkeypatch.setattr(devices, "dtype_vae", torch.float32, raising=False)
    WebuiFeatureExtractor(SMALL).describe([striped((9, 99, 9), 4)])
    assert model.unet.calls[-1]["dtype"] == torch.float64 and model.vae_dtype == torch.float32
