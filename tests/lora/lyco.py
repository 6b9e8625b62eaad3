"""Test files in LyCORIS (LoCon, LoHa, LoKr, Tucker) and diffusers/PEFT layouts, with an independent oracle.

`oracle` computes every module's dense ΔW in float64 the way the webui's extensions-builtin/Lora applies it
(rebuild, Hadamard product, torch.kron, einsum for Tucker cores, alpha/dim scale) — written from those formulas,
not from the engine's code — flattened to out × (in·kh·kw).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

# (name, out, in channels, kernel or None) — real module names from the SD1.5 / SDXL tables
SD1_MODULES = (
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768, None),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 320, 768, None),
    ("lora_unet_down_blocks_0_attentions_0_proj_in", 320, 320, 1),
    ("lora_unet_down_blocks_0_resnets_0_conv1", 320, 320, 3),
)
SDXL_MODULES = (
    ("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768, None),
    ("lora_te2_text_model_encoder_layers_0_mlp_fc1", 5120, 1280, None),
    ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 640, 2048, None),
    ("lora_unet_input_blocks_1_0_in_layers_2", 320, 320, 3),
)
SDXL_META = {"ss_base_model_version": "sdxl_base_v1-0"}
SD1_META = {"ss_base_model_version": "sd_v1"}


def _r(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * 0.1


def write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def locon_tensors(modules, rank: int, seed: int, *, tucker: bool = False) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, m, n, k in modules:
        if k is None:
            out[f"{name}.lora_down.weight"] = _r(gen, rank, n)
            out[f"{name}.lora_up.weight"] = _r(gen, m, rank)
        elif tucker and k == 3:
            out[f"{name}.lora_down.weight"] = _r(gen, rank, n, 1, 1)
            out[f"{name}.lora_mid.weight"] = _r(gen, rank, rank, 3, 3)
            out[f"{name}.lora_up.weight"] = _r(gen, m, rank, 1, 1)
        else:
            out[f"{name}.lora_down.weight"] = _r(gen, rank, n, k, k)
            out[f"{name}.lora_up.weight"] = _r(gen, m, rank, 1, 1)
        out[f"{name}.alpha"] = torch.tensor(rank / 2.0)
    return out


def loha_tensors(modules, rank: int, seed: int, *, tucker: bool = False, alpha: float = 3.0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, m, n, k in modules:
        for half in ("1", "2"):
            if tucker and k == 3:
                out[f"{name}.hada_w{half}_a"] = _r(gen, rank, m)
                out[f"{name}.hada_w{half}_b"] = _r(gen, rank, n)
                out[f"{name}.hada_t{half}"] = _r(gen, rank, rank, 3, 3)
            else:
                out[f"{name}.hada_w{half}_a"] = _r(gen, m, rank)
                out[f"{name}.hada_w{half}_b"] = _r(gen, rank, n * (k or 1) ** 2)
        out[f"{name}.alpha"] = torch.tensor(alpha)
    return out


def _split(size: int) -> tuple[int, int]:
    for f in (8, 4, 16, 2):
        if size % f == 0:
            return f, size // f
    return 1, size


def lokr_tensors(modules, rank: int, seed: int, *, variant: str = "w2_lowrank", alpha: float = 2.0) -> dict:
    """variants: w2_lowrank (w1 full, w2 = a·b), both_full (scale 1, alpha ignored), w1_lowrank, tucker (convs)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, m, n, k in modules:
        a, c = _split(m)
        b, d = _split(n)
        kk = (k or 1) ** 2
        if variant == "w1_lowrank":
            out[f"{name}.lokr_w1_a"] = _r(gen, a, 2)
            out[f"{name}.lokr_w1_b"] = _r(gen, 2, b)
        else:
            out[f"{name}.lokr_w1"] = _r(gen, a, b)
        if variant == "both_full":
            out[f"{name}.lokr_w2"] = _r(gen, c, d, k, k) if k else _r(gen, c, d)
        elif variant == "tucker" and k == 3:
            out[f"{name}.lokr_w2_a"] = _r(gen, rank, c)
            out[f"{name}.lokr_w2_b"] = _r(gen, rank, d)
            out[f"{name}.lokr_t2"] = _r(gen, rank, rank, 3, 3)
        elif variant == "w1_lowrank":
            out[f"{name}.lokr_w2"] = _r(gen, c, d * kk)
        else:
            out[f"{name}.lokr_w2_a"] = _r(gen, c, rank)
            out[f"{name}.lokr_w2_b"] = _r(gen, rank, d * kk)
        out[f"{name}.alpha"] = torch.tensor(alpha)
    return out


def _cp(t: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
    """The webui's make_weight_cp: out[p, q, k, l] = Σ_ij t[i,j,k,l]·wb[j,q]·wa[i,p] (out × in)."""
    temp = torch.einsum("i j k l, j r -> i r k l", t, wb)
    return torch.einsum("i j k l, i r -> r j k l", temp, wa)


def oracle(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Dense float64 ΔW per kohya module name, flattened to 2-D (rounded through float32 like the file)."""
    sd = {k: v.float().double() for k, v in tensors.items()}
    names = {k.split(".", 1)[0] for k in sd}
    return {name: _dense(name, {k.split(".", 1)[1]: v for k, v in sd.items() if k.split(".", 1)[0] == name})
            for name in names}


def _dense(name: str, w: dict[str, torch.Tensor]) -> torch.Tensor:
    alpha = float(w["alpha"]) if "alpha" in w else None
    if "lora_down.weight" in w:
        down, up = w["lora_down.weight"], w["lora_up.weight"]
        dim = down.shape[0]
        if "lora_mid.weight" in w:
            full = torch.einsum("n m k l, i n, m j -> i j k l", w["lora_mid.weight"], up.flatten(1),
                                down.flatten(1))
        else:
            full = up.flatten(1) @ down.flatten(1)
    elif "hada_w1_a" in w:
        dim = w["hada_w1_b"].shape[0]
        halves = []
        for h in ("1", "2"):
            if f"hada_t{h}" in w:
                halves.append(_cp(w[f"hada_t{h}"], w[f"hada_w{h}_a"], w[f"hada_w{h}_b"]))
            else:
                halves.append(w[f"hada_w{h}_a"] @ w[f"hada_w{h}_b"].flatten(1))
        full = halves[0] * halves[1]
    else:
        dim = None
        w1 = w.get("lokr_w1")
        if w1 is None:
            w1 = w["lokr_w1_a"] @ w["lokr_w1_b"]
            dim = w["lokr_w1_b"].shape[0]
        w2 = w.get("lokr_w2")
        if w2 is None:
            dim = w["lokr_w2_b"].shape[0]
            w2 = (_cp(w["lokr_t2"], w["lokr_w2_a"], w["lokr_w2_b"]) if "lokr_t2" in w
                  else w["lokr_w2_a"] @ w["lokr_w2_b"])
        if w2.dim() == 4:
            w1 = w1[:, :, None, None]
        full = torch.kron(w1, w2)
    scale = alpha / dim if alpha and dim else 1.0
    return (full * scale).reshape(full.shape[0], -1)


def to_peft(tensors: dict[str, torch.Tensor], mapping: dict[str, str], *, style: str = "peft") -> dict:
    """Rename a kohya LoRA's tensors to diffusers/PEFT keys with `mapping` {kohya module: diffusers path}."""
    out = {}
    for key, value in tensors.items():
        module, param = key.split(".", 1)
        path = mapping[module]
        if param == "alpha":
            out[f"{path}.alpha"] = value
            continue
        direction = "down" if param.startswith("lora_down") else "up"
        if style == "peft":
            out[f"{path}.lora_{'A' if direction == 'down' else 'B'}.weight"] = value
        elif style == "lora":
            out[f"{path}.lora.{direction}.weight"] = value
        else:
            out[f"{path}.lora_linear_layer.{direction}.weight"] = value
    return out
