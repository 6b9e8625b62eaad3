"""Adapter formats StyleMix recognises and refuses, each with the reason it cannot be handled exactly.

The engine's algebra is exact for changes that are added to a weight and do not depend on it: ΔW is fixed by the
file alone, so sums, distances and merges of files are sums, distances and merges of ΔW. The formats below break
that; handling them would need the base model's weights (or would silently drop part of the file's effect).
"""

from __future__ import annotations

from lib_stylemix.lora.formats.spec import Refusal

REFUSALS: tuple[Refusal, ...] = (
    Refusal("a full Stable Diffusion checkpoint", r"^(model\.diffusion_model|first_stage_model|cond_stage_model)\.",
            "it is a whole model, not an adapter"),
    Refusal("DoRA (dora_scale)", r"\.dora_scale$",
            "DoRA rescales the columns of W₀ + ΔW, so its effect depends on the base weights and is not linear in ΔW"),
    Refusal("OFT/BOFT (oft_blocks)", r"\.oft_blocks$",
            "OFT rotates the base weight (W₀·R), so its effect depends on the base weights and is not additive"),
    Refusal("LyCORIS OFT (oft_diag)", r"\.oft_diag$",
            "OFT rotates the base weight (W₀·R), so its effect depends on the base weights and is not additive"),
    Refusal("kohya OFT (oft_unet_…)", r"^oft_",
            "OFT rotates the base weight (W₀·R), so its effect depends on the base weights and is not additive"),
    Refusal("(IA)³ (on_input)", r"\.on_input$",
            "(IA)³ multiplies the base weight's channels (W₀ ⊙ w), so its effect depends on the base weights"),
    Refusal("LyCORIS GLoRA (a1/a2/b1/b2)", r"\.(a1|a2|b1|b2|bm)\.weight$",
            "GLoRA's update W₀·A + B depends on the base weights"),
    Refusal("LyCORIS norm-layer deltas (w_norm/b_norm)", r"\.(w_norm|b_norm)$",
            "it changes normalisation layers, which a LoRA merge cannot carry; dropping them would misrepresent "
            "the file"),
    Refusal("a full weight difference (diff/diff_b)", r"\.diff(_b)?$",
            "it stores full-size weight (and bias) differences, which a LoRA merge cannot carry; dropping them "
            "would misrepresent the file"),
)
