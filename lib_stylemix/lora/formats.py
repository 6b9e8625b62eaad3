"""Tell plain kohya LoRA/LoCon apart from every other adapter format, and refuse the others by name.

All LyCORIS algorithms reuse kohya's module prefixes, so the key suffix identifies the algorithm. Only
`<module>.lora_down.weight`, `<module>.lora_up.weight` and `<module>.alpha` under `lora_unet_`/`lora_te*_`
are additive low-rank deltas that the ΔW algebra here is exact for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lib_stylemix.lora.container import LoraFormatError

KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
DOWN, UP, ALPHA = "lora_down.weight", "lora_up.weight", "alpha"

# (pattern searched in each key, what it is) — checked in order, first hit wins.
_FOREIGN: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), what) for p, what in (
    (r"^(model\.diffusion_model|first_stage_model|cond_stage_model)\.", "a full Stable Diffusion checkpoint"),
    (r"\.hada_", "LyCORIS LoHa (hada_w1_a …)"),
    (r"\.lokr_", "LyCORIS LoKr (lokr_w1 …)"),
    (r"\.lora_mid\.", "LyCORIS LoCon with Tucker/CP decomposition (lora_mid)"),
    (r"\.dora_scale$", "DoRA (dora_scale; not additive)"),
    (r"\.oft_blocks$", "OFT/BOFT (oft_blocks; a rotation, not additive)"),
    (r"\.oft_diag$", "LyCORIS OFT (oft_diag; a rotation, not additive)"),
    (r"^oft_", "kohya OFT (oft_unet_…; a rotation, not additive)"),
    (r"\.on_input$", "(IA)³ (on_input; multiplies channels, not additive)"),
    (r"\.(a1|a2|b1|b2|bm)\.weight$", "LyCORIS GLoRA (a1/a2/b1/b2; depends on the base weight)"),
    (r"\.(w_norm|b_norm)$", "LyCORIS norm-layer deltas (w_norm/b_norm)"),
    (r"\.diff(_b)?$", "a full weight difference (diff/diff_b)"),
    (r"\.lora_[AB]\.", "a diffusers/PEFT LoRA (lora_A/lora_B)"),
    (r"\.lora\.(down|up)\.weight$", "a diffusers-format LoRA (….lora.down.weight)"),
    (r"lora_linear_layer", "a diffusers attention-processor LoRA (lora_linear_layer)"),
))
_ADVICE = "not a plain LoRA; convert it or use a LoRA trained with networks.lora (kohya LoRA/LoCon)"


def group_kohya_keys(path: Path, keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """Map module name -> {"lora_down.weight"|"lora_up.weight"|"alpha": key}; refuse anything else by name."""
    keys = list(keys)
    if not keys:
        raise LoraFormatError(f"{path}: contains no tensors")
    for needle, what in _FOREIGN:
        hit = next((k for k in keys if needle.search(k)), None)
        if hit is not None:
            raise LoraFormatError(f"{path}: {what} — {_ADVICE} (e.g. key {hit!r})")
    modules: dict[str, dict[str, str]] = {}
    for key in keys:
        module, _, param = key.partition(".")
        if not module.startswith(KOHYA_PREFIXES) or param not in (DOWN, UP, ALPHA):
            if key.startswith(("unet.", "text_encoder", "base_model.model.", "transformer.")):
                raise LoraFormatError(f"{path}: a diffusers/PEFT-style state dict (key {key!r}) — {_ADVICE}")
            raise LoraFormatError(f"{path}: unexpected key {key!r} — {_ADVICE}")
        modules.setdefault(module, {})[param] = key
    for module, params in modules.items():
        missing = [p for p in (DOWN, UP) if p not in params]
        if missing:
            raise LoraFormatError(f"{path}: module {module} has no {' / '.join(missing)} tensor")
    return modules
