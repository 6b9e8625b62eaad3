"""diffusers/PEFT key names map onto exactly the kohya module names of the SD1.5 and SDXL tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lib_stylemix.lora import kernel, open_lora
from lib_stylemix.lora.container import TensorInfo
from lib_stylemix.lora.formats.peft import PEFT
from tests.lora import lyco

FIXTURES = Path("/work/shared/fixtures")
_TABLES = Path(__file__).resolve().parents[2] / "lib_stylemix" / "lora" / "data"


def _table(name: str) -> dict[str, dict]:
    folder = FIXTURES if (FIXTURES / name).exists() else _TABLES
    return {m["name"]: m for m in json.loads((folder / name).read_text())["modules"]}


def _attention(prefix: str, depth: int) -> list[str]:
    out = [f"{prefix}.proj_in", f"{prefix}.proj_out"]
    for d in range(depth):
        block = f"{prefix}.transformer_blocks.{d}"
        out += [f"{block}.{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0")]
        out += [f"{block}.ff.net.0.proj", f"{block}.ff.net.2"]
    return out


def _te(layers: int) -> list[str]:
    return [f"text_model.encoder.layers.{i}.{p}" for i in range(layers)
            for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                      "mlp.fc1", "mlp.fc2")]


def _sd1_unet() -> list[str]:
    out = [p for b in range(3) for j in range(2) for p in _attention(f"down_blocks.{b}.attentions.{j}", 1)]
    out += _attention("mid_block.attentions.0", 1)
    out += [p for b in (1, 2, 3) for j in range(3) for p in _attention(f"up_blocks.{b}.attentions.{j}", 1)]
    return out


def _sdxl_unet() -> list[str]:
    out = [p for b, depth in ((1, 2), (2, 10)) for j in range(2)
           for p in _attention(f"down_blocks.{b}.attentions.{j}", depth)]
    out += _attention("mid_block.attentions.0", 10)
    out += [p for b, depth in ((0, 10), (1, 2)) for j in range(3)
            for p in _attention(f"up_blocks.{b}.attentions.{j}", depth)]
    return out


def _sdxl_resnets() -> list[str]:
    out = []
    for b in range(3):
        for j in range(2):
            out += [f"down_blocks.{b}.resnets.{j}.{c}" for c in ("conv1", "conv2", "time_emb_proj")]
        if b:
            out.append(f"down_blocks.{b}.resnets.0.conv_shortcut")
        if b < 2:
            out.append(f"down_blocks.{b}.downsamplers.0.conv")
    for j in range(2):
        out += [f"mid_block.resnets.{j}.{c}" for c in ("conv1", "conv2", "time_emb_proj")]
    for b in range(3):
        for j in range(3):
            out += [f"up_blocks.{b}.resnets.{j}.{c}" for c in ("conv1", "conv2", "time_emb_proj", "conv_shortcut")]
        if b < 2:
            out.append(f"up_blocks.{b}.upsamplers.0.conv")
    return out


def _rename(keys: list[str]) -> set[str]:
    infos = {k: TensorInfo("fp32", (4, 8)) for k in keys}
    renamed = PEFT.rename(keys, infos, {})
    assert len(renamed) == len(keys)
    return {k.split(".", 1)[0] for k in renamed}


def test_sd1_names_map_onto_the_sd15_table():
    table = _table("sd15_lora_modules.json")
    keys = [f"unet.{p}.lora_A.weight" for p in _sd1_unet()] + [f"text_encoder.{p}.lora_A.weight" for p in _te(12)]
    assert _rename(keys) == {n for n, m in table.items() if not m["locon_only"]}


def test_sdxl_names_map_onto_the_sdxl_table():
    table = _table("sdxl_lora_modules.json")
    keys = ([f"unet.{p}.lora_A.weight" for p in _sdxl_unet()] + [f"text_encoder.{p}.lora_A.weight" for p in _te(12)]
            + [f"text_encoder_2.{p}.lora_A.weight" for p in _te(32)])
    assert _rename(keys) == {n for n, m in table.items() if not m["locon_only"]}
    resnets = _rename([f"unet.{p}.lora_A.weight" for p in _sdxl_resnets()] + ["text_encoder_2.x.lora_A.weight"])
    assert resnets - {"lora_te2_x"} == {n for n, m in table.items() if m["locon_only"]}


@pytest.mark.parametrize("style", ["peft", "lora", "linear_layer"])
def test_peft_file_reads_like_the_kohya_file(tmp_path, style):
    modules = lyco.SD1_MODULES[:3]
    tensors = lyco.locon_tensors(modules, 4, 5)
    mapping = {
        modules[0][0]: "text_encoder.text_model.encoder.layers.0.self_attn.q_proj",
        modules[1][0]: "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
        modules[2][0]: "unet.down_blocks.0.attentions.0.proj_in",
    }
    kohya = lyco.write(tmp_path / "kohya.safetensors", tensors, {})
    peft = lyco.write(tmp_path / "peft.safetensors", lyco.to_peft(tensors, mapping, style=style), {})
    a, b = open_lora(kohya), open_lora(peft)
    assert a.module_names == b.module_names and b.arch == "sd1"
    assert any("peft" in note for note in b.notes)
    for name in a.module_names:
        assert a.modules[name].kind == b.modules[name].kind
        torch.testing.assert_close(a.factors(name).dense(), b.factors(name).dense())
    k = kernel([a, b], dtype=torch.float64).total
    assert k[0, 1] == pytest.approx(k[0, 0], rel=1e-12)


def test_sdxl_peft_file_gets_sgm_names(tmp_path):
    modules = (lyco.SDXL_MODULES[2],)  # input_blocks_4_1 …attn2_to_k, 2048-wide context
    tensors = lyco.locon_tensors(modules, 4, 1)
    mapping = {modules[0][0]: "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"}
    lora = open_lora(lyco.write(tmp_path / "xl.safetensors", lyco.to_peft(tensors, mapping), {}))
    assert lora.module_names == (modules[0][0],) and lora.arch == "sdxl"


def test_attention_processor_keys(tmp_path):
    gen = torch.Generator().manual_seed(0)
    base = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor"
    tensors = {f"{base}.to_q_lora.down.weight": torch.randn(4, 320, generator=gen),
               f"{base}.to_q_lora.up.weight": torch.randn(320, 4, generator=gen),
               f"{base}.to_out_lora.down.weight": torch.randn(4, 320, generator=gen),
               f"{base}.to_out_lora.up.weight": torch.randn(320, 4, generator=gen)}
    lora = open_lora(lyco.write(tmp_path / "proc.safetensors", tensors, {}))
    stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_"
    assert lora.module_names == (stem + "to_out_0", stem + "to_q")
    want = tensors[f"{base}.to_q_lora.up.weight"].double() @ tensors[f"{base}.to_q_lora.down.weight"].double()
    torch.testing.assert_close(lora.factors(stem + "to_q", dtype=torch.float64).dense(), want)
