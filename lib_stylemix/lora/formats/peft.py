"""diffusers / PEFT key names mapped onto kohya module names, so such files are read like any kohya file.

Accepted spellings of one module's factors (down = A, up = B):
  <prefix><path>.lora_A.weight / .lora_B.weight (also with a PEFT adapter name: .lora_A.default.weight)
  <prefix><path>.lora.down.weight / .lora.up.weight               (diffusers LoRACompatibleLinear)
  <prefix><path>.lora_linear_layer.down.weight / .up.weight       (diffusers text-encoder patches)
  <prefix><attn path>.processor.to_q_lora.down.weight …           (diffusers attention processors)
  <prefix><path>.alpha                                            (optional; absent means scale 1)
with <prefix> one of `unet.`, `text_encoder.`, `text_encoder_2.`, `base_model.model.` or none (U-Net paths).
The U-Net path becomes `lora_unet_<path with _>` (SD1/SD2 kohya names are the diffusers names); for SDXL, whose
kohya names follow the original (SGM) U-Net, diffusers blocks are renumbered: down_blocks.i.attentions.j →
input_blocks_(3i+j+1)_1, resnets → …_0 (conv1 → in_layers_2, conv2 → out_layers_3, time_emb_proj →
emb_layers_1, conv_shortcut → skip_connection), downsamplers.0.conv → input_blocks_(3i+3)_0_op, mid_block
attentions.0 → middle_block_1, resnets.j → middle_block_(2j), up_blocks.i.attentions.j → output_blocks_(3i+j)_1,
up_blocks.i.upsamplers.0.conv → output_blocks_(3i+2)_2_conv.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from lib_stylemix.lora.container import TensorInfo
from lib_stylemix.lora.formats.base import ALPHA, DOWN, UP
from lib_stylemix.lora.formats.spec import KEY_LAYOUTS, KeyLayout

_PARAM = re.compile(
    r"^(?P<path>.+?)\.(?:"
    r"(?P<peft>lora_[AB])(?:\.[A-Za-z0-9_]+)?\.weight"
    r"|lora\.(?P<lora>down|up)\.weight"
    r"|lora_linear_layer\.(?P<lin>down|up)\.weight"
    r"|processor\.(?P<proc>to_q|to_k|to_v|to_out)_lora\.(?P<procdir>down|up)\.weight"
    r"|(?P<alpha>alpha))$")
_PREFIXES = (("unet.", "unet"), ("text_encoder_2.", "te2"), ("text_encoder.", "te"),
             ("base_model.model.", "auto"), ("", "auto"))
_UNET_ROOTS = ("down_blocks.", "up_blocks.", "mid_block.", "conv_in", "conv_out", "time_embedding", "conv_norm")
_RESNET_CHILD = {"conv1": "in_layers_2", "conv2": "out_layers_3", "time_emb_proj": "emb_layers_1",
                 "conv_shortcut": "skip_connection"}


def _detect(keys: list[str]) -> bool:
    return any(_split(k) is not None for k in keys)


def _split(key: str) -> tuple[str, str, str] | None:
    """(part: unet/te/te2, module path, kohya param) of one key, or None when it is not a LoRA factor."""
    match = _PARAM.match(key)
    if match is None:
        return None
    path = match["path"]
    if match["peft"]:
        param = DOWN if match["peft"] == "lora_A" else UP
    elif match["lora"] or match["lin"]:
        param = DOWN if (match["lora"] or match["lin"]) == "down" else UP
    elif match["proc"]:
        path = path + "." + ("to_out.0" if match["proc"] == "to_out" else match["proc"])
        param = DOWN if match["procdir"] == "down" else UP
    else:
        param = ALPHA
    for prefix, part in _PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix):]
            if part == "auto":
                part = "te" if rest.startswith("text_model.") else ("unet" if rest.startswith(_UNET_ROOTS) else "")
            return (part, rest, param) if part else None
    return None


def _is_sdxl(keys: list[str], tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str]) -> bool:
    from lib_stylemix.lora.arch import arch_from_metadata

    if any(k.startswith("text_encoder_2.") for k in keys):
        return True
    for k in keys:
        split = _split(k)
        if split and split[0] == "unet" and split[2] == DOWN and split[1].endswith(("attn2.to_k", "attn2.to_v")):
            return tensors[k].shape[-1] == 2048
    return arch_from_metadata(metadata) == "sdxl"


def sgm_unet_name(path: str) -> str:
    """An SDXL diffusers U-Net module path in kohya's (SGM) spelling, without the `lora_unet_` prefix."""
    for pattern, make in _SGM_RULES:
        match = re.fullmatch(pattern, path)
        if match:
            return make(match).replace(".", "_")
    return path.replace(".", "_")


def _level(m: re.Match[str], base: int) -> int:
    """3·(block index) + (child index) + base: how SGM numbers the blocks diffusers nests."""
    return 3 * int(m[1]) + int(m[2]) + base


_SGM_RULES: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", lambda m: f"input_blocks_{_level(m, 1)}_1_{m[3]}"),
    (r"down_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", lambda m: f"input_blocks_{_level(m, 1)}_0_{_res(m[3])}"),
    (r"down_blocks\.(\d+)\.downsamplers\.0\.conv", lambda m: f"input_blocks_{3 * int(m[1]) + 3}_0_op"),
    (r"mid_block\.attentions\.0\.(.+)", lambda m: f"middle_block_1_{m[1]}"),
    (r"mid_block\.resnets\.(\d+)\.(\w+)", lambda m: f"middle_block_{2 * int(m[1])}_{_res(m[2])}"),
    (r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", lambda m: f"output_blocks_{_level(m, 0)}_1_{m[3]}"),
    (r"up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", lambda m: f"output_blocks_{_level(m, 0)}_0_{_res(m[3])}"),
    (r"up_blocks\.(\d+)\.upsamplers\.0\.conv", lambda m: f"output_blocks_{3 * int(m[1]) + 2}_2_conv"),
)


def _res(child: str) -> str:
    return _RESNET_CHILD.get(child, child)


def _rename(keys: list[str], tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str]) -> dict[str, str]:
    sdxl = _is_sdxl(keys, tensors, metadata)
    prefixes = {"unet": "lora_unet_", "te": "lora_te1_" if sdxl else "lora_te_", "te2": "lora_te2_"}
    out: dict[str, str] = {}
    for key in keys:
        split = _split(key)
        if split is None:
            continue
        part, path, param = split
        name = sgm_unet_name(path) if part == "unet" and sdxl else path.replace(".", "_")
        out[f"{prefixes[part]}{name}.{param}"] = key
    return out


PEFT = KEY_LAYOUTS.register(KeyLayout(
    name="peft",
    help="diffusers / PEFT key names (lora_A/lora_B, unet.…, text_encoder.…, .lora.down/up, lora_linear_layer, "
         "attention processors) mapped to kohya module names",
    detect=_detect,
    rename=_rename,
    order=0,
))
