"""Architecture detection and block-weight groups on the real SD1.5 / SDXL module tables."""

from __future__ import annotations

from collections import Counter

import pytest
from safetensors.torch import load_file

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import block_names, block_of, check_same_arch, make_lora_file, module_table, open_lora
from lib_stylemix.lora.arch import detect_arch
from tests.lora.conftest import write_tensors


def test_block_name_sets_match_lora_block_weight():
    assert len(block_names("sd1")) == 17 and len(block_names("sd2")) == 17
    assert len(block_names("sdxl")) == 12
    assert len(block_names("sd1", full=True)) == 26 and len(block_names("sdxl", full=True)) == 20
    assert block_names("sd1")[:3] == ("BASE", "IN01", "IN02") and block_names("sdxl")[-1] == "OUT05"


@pytest.mark.parametrize(("arch", "lora_blocks", "full_blocks"), [("sd1", 17, 26), ("sdxl", 12, 20)])
def test_every_real_module_maps_into_the_block_sets(arch, lora_blocks, full_blocks):
    table = module_table(arch)
    plain = Counter(block_of(m.name, arch) for m in table if not m.locon_only)
    locon = Counter(block_of(m.name, arch) for m in table)
    assert set(plain) == set(block_names(arch)) and len(plain) == lora_blocks
    assert set(locon) <= set(block_names(arch, full=True))
    te = 72 if arch == "sd1" else 264
    assert plain["BASE"] == te
    assert len(set(locon)) >= lora_blocks and len(set(locon)) <= full_blocks


@pytest.mark.parametrize(("name", "arch", "block"), [
    ("lora_unet_down_blocks_0_attentions_0_proj_in", "sd1", "IN01"),
    ("lora_unet_down_blocks_2_attentions_1_transformer_blocks_0_ff_net_2", "sd1", "IN08"),
    ("lora_unet_down_blocks_0_downsamplers_0_conv", "sd1", "IN03"),
    ("lora_unet_down_blocks_3_resnets_1_conv2", "sd1", "IN11"),
    ("lora_unet_mid_block_attentions_0_proj_out", "sd1", "M00"),
    ("lora_unet_up_blocks_0_resnets_2_conv1", "sd1", "OUT02"),
    ("lora_unet_up_blocks_1_attentions_0_proj_in", "sd1", "OUT03"),
    ("lora_unet_up_blocks_3_attentions_2_proj_out", "sd1", "OUT11"),
    ("lora_unet_up_blocks_2_upsamplers_0_conv", "sd1", "OUT08"),
    ("lora_te_text_model_encoder_layers_11_mlp_fc2", "sd1", "BASE"),
    ("lora_te2_text_model_encoder_layers_31_self_attn_out_proj", "sdxl", "BASE"),
    ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", "sdxl", "IN04"),
    ("lora_unet_middle_block_1_transformer_blocks_9_ff_net_2", "sdxl", "M00"),
    ("lora_unet_output_blocks_5_1_proj_out", "sdxl", "OUT05"),
    ("lora_unet_down_blocks_2_attentions_1_proj_in", "sdxl", "IN08"),  # diffusers-style SDXL keys
])
def test_block_of_examples(name, arch, block):
    assert block_of(name, arch) == block


def test_block_of_refuses_unknown_names():
    with pytest.raises(StyleMixError, match="lora_unet_conv_in"):
        block_of("lora_unet_conv_in", "sd1")
    with pytest.raises(StyleMixError, match="unknown architecture"):
        block_of("lora_te_x", "sd3")


@pytest.mark.parametrize("arch", ["sd1", "sd2", "sdxl"])
def test_detected_from_shapes_of_full_files(tmp_path, arch):
    lora = open_lora(make_lora_file(tmp_path / f"{arch}.safetensors", arch=arch, rank=1))
    assert lora.arch == arch and lora.arch_note == ""


def test_unet_only_sdxl_is_detected_from_keys(tmp_path):
    names = [m.name for m in module_table("sdxl") if m.name.startswith("lora_unet_") and not m.locon_only][:5]
    lora = open_lora(make_lora_file(tmp_path / "u.safetensors", arch="sdxl", rank=1, modules=names))
    assert lora.arch == "sdxl" and lora.arch_source == "keys"


def test_shapes_win_over_lying_metadata(tmp_path):
    path = make_lora_file(tmp_path / "lie.safetensors", arch="sd1", rank=1,
                          modules=["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"],
                          extra={"ss_base_model_version": "sdxl_base_v1-0"})
    lora = open_lora(path)
    assert lora.arch == "sd1"
    assert "metadata says sdxl" in lora.arch_note


def test_metadata_decides_when_shapes_are_silent(tmp_path):
    silent = ["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"]
    sd2 = open_lora(make_lora_file(tmp_path / "a.safetensors", rank=1, modules=silent, extra={"ss_v2": "True",
                                   "ss_base_model_version": "sd_v2"}))
    assert sd2.arch == "sd2" and sd2.arch_source == "metadata"
    raw = load_file(str(tmp_path / "a.safetensors"))
    bare = open_lora(write_tensors(tmp_path / "b.safetensors", raw))
    assert bare.arch == "sd1" and bare.arch_source == "default" and "assuming sd1" in bare.arch_note


def test_modelspec_and_ss_v2_metadata():
    assert detect_arch({}, {"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}).arch == "sdxl"
    assert detect_arch({}, {"modelspec.architecture": "stable-diffusion-v2-768-v/lora"}).arch == "sd2"
    assert detect_arch({}, {"ss_v2": "True"}).arch == "sd2"
    assert detect_arch({"lora_te_text_model_encoder_layers_15_mlp_fc1": 1024}, {}).arch == "sd2"


def test_check_same_arch_names_the_mix(tmp_path):
    a = open_lora(make_lora_file(tmp_path / "one.safetensors", arch="sd1", rank=1,
                                 modules=["lora_te_text_model_encoder_layers_0_mlp_fc1"]))
    b = open_lora(make_lora_file(tmp_path / "two.safetensors", arch="sdxl", rank=1,
                                 modules=["lora_te1_text_model_encoder_layers_0_mlp_fc1"]))
    assert check_same_arch([a, a]) == "sd1"
    with pytest.raises(StyleMixError, match=r"one \(sd1\), two \(sdxl\)"):
        check_same_arch([a, b])
    with pytest.raises(StyleMixError, match="no LoRA"):
        check_same_arch([])
