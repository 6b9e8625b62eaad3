"""Helpers for the LoRA engine tests: small real-layout files and an independent dense ΔW oracle."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

# A few real SD1.5 modules of every kind (Linear TE, cross-attention k with the 768 context, 1×1 conv proj_in,
# 3×3 LoCon conv), small enough to form dense ΔW in tests.
SD1_SMALL = (
    "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
    "lora_unet_down_blocks_0_attentions_0_proj_in",
    "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn1_to_out_0",
)
SD1_CONV3 = "lora_unet_down_blocks_0_resnets_0_conv1"


def write_tensors(path: Path, tensors: dict, metadata: dict | None = None) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def dense_oracle(path: Path) -> dict[str, torch.Tensor]:
    """ΔW per module straight from the file's tensors (float64), written without the engine's code."""
    sd = load_file(str(path))
    out = {}
    for key in sd:
        if key.endswith(".lora_down.weight"):
            name = key[: -len(".lora_down.weight")]
            down = sd[key].double()
            up = sd[f"{name}.lora_up.weight"].double()
            rank = down.shape[0]
            alpha = float(sd[f"{name}.alpha"]) if f"{name}.alpha" in sd else rank
            alpha = alpha or rank
            out[name] = (alpha / rank) * up.reshape(up.shape[0], rank) @ down.reshape(rank, -1)
    return out


def refactorised(src: Path, dst: Path, seed: int) -> Path:
    """Same ΔW, different factors: up·G, G⁻¹·down with a random well-conditioned G per module."""
    sd = load_file(str(src))
    gen = torch.Generator().manual_seed(seed)
    out = dict(sd)
    for key in sd:
        if key.endswith(".lora_down.weight"):
            name = key[: -len(".lora_down.weight")]
            down = sd[key].double()
            up = sd[f"{name}.lora_up.weight"].double()
            rank = down.shape[0]
            q1, _ = torch.linalg.qr(torch.randn(rank, rank, generator=gen, dtype=torch.float64))
            q2, _ = torch.linalg.qr(torch.randn(rank, rank, generator=gen, dtype=torch.float64))
            spread = torch.exp(torch.empty(rank, dtype=torch.float64).uniform_(-1.5, 1.5, generator=gen))
            g = q1 @ torch.diag(spread) @ q2  # random, invertible, condition number ≤ e³
            new_up = up.reshape(up.shape[0], rank) @ g
            new_down = torch.linalg.solve(g, down.reshape(rank, -1))
            out[f"{name}.lora_up.weight"] = new_up.reshape(up.shape)  # float64: no storage rounding
            out[f"{name}.lora_down.weight"] = new_down.reshape(down.shape)
            out[f"{name}.alpha"] = sd[f"{name}.alpha"].double()
    return write_tensors(dst, out, {"ss_base_model_version": "sd_v1"})


def frob_inner(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return math.fsum(float((a[k] * b[k]).sum()) for k in set(a) & set(b))


@pytest.fixture
def small_sd1(tmp_path: Path):
    """Factory: small fp32 SD1 LoRA with a chosen rank/seed/module subset."""
    from lib_stylemix.lora import make_lora_file

    def make(name: str, *, rank: int = 4, seed: int = 0, modules=SD1_SMALL, dtype: str = "fp32", **kw) -> Path:
        return make_lora_file(tmp_path / f"{name}.safetensors", rank=rank, seed=seed, modules=list(modules),
                              dtype=dtype, **kw)

    return make
