"""Which base model a LoRA belongs to, and which webui block-weight group each module falls in.

Detection uses key names and tensor shapes first (they decide what the file can be applied to) and metadata
only when the shapes are silent; a disagreement is reported, never silently trusted. Block names follow
sd-webui-lora-block-weight: BASE (all text encoders), INxx, M00, OUTxx.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from lib_stylemix.errors import StyleMixError

ARCHES = ("sd1", "sd2", "sdxl")

# Context width of the U-Net cross-attention (attn2 to_k / to_v input) and width of the (first) text encoder.
_CONTEXT_WIDTH = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
_TE_WIDTH = {768: "sd1", 1024: "sd2"}

_BLOCKS_SD_LORA = ("BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00",
                   "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08", "OUT09", "OUT10", "OUT11")
_BLOCKS_SD_FULL = ("BASE", *(f"IN{i:02d}" for i in range(12)), "M00", *(f"OUT{i:02d}" for i in range(12)))
_BLOCKS_XL_LORA = ("BASE", "IN04", "IN05", "IN07", "IN08", "M00",
                   "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05")
_BLOCKS_XL_FULL = ("BASE", *(f"IN{i:02d}" for i in range(9)), "M00", *(f"OUT{i:02d}" for i in range(9)))

_SDXL_FAMILIES = ("pony", "illustrious", "noobai", "sdxl")  # fine-tunes of SDXL, named in metadata
_TE_PREFIXES = ("lora_te_", "lora_te1_", "lora_te2_")
_DIFFUSERS_DOWN = re.compile(r"^lora_unet_down_blocks_(\d+)_(attentions|resnets|downsamplers)_(\d+)_")
_DIFFUSERS_UP = re.compile(r"^lora_unet_up_blocks_(\d+)_(attentions|resnets|upsamplers)_(\d+)_")
_SGM_IN = re.compile(r"^lora_unet_input_blocks_(\d+)_")
_SGM_OUT = re.compile(r"^lora_unet_output_blocks_(\d+)_")
_TE_LAYER = re.compile(r"_encoder_layers_(\d+)_")


def block_names(arch: str, *, full: bool = False) -> tuple[str, ...]:
    """Ordered block-weight groups: 17 (SD1/SD2) or 12 (SDXL) for plain LoRA, 26 / 20 with `full` (LoCon)."""
    _check_arch(arch)
    if arch == "sdxl":
        return _BLOCKS_XL_FULL if full else _BLOCKS_XL_LORA
    return _BLOCKS_SD_FULL if full else _BLOCKS_SD_LORA


def block_of(module_name: str, arch: str) -> str:
    """Block-weight group of a kohya module name ("BASE", "IN01".., "M00", "OUT00"..).

    Raises StyleMixError for names outside the text encoders and U-Net blocks (kohya's networks.lora never
    produces those; LyCORIS may target conv_in/time_embedding, which block-weight tools cannot address).
    """
    _check_arch(arch)
    if module_name.startswith(_TE_PREFIXES):
        return "BASE"
    if module_name.startswith(("lora_unet_mid_block_", "lora_unet_middle_block_")):
        return "M00"
    match = _DIFFUSERS_DOWN.match(module_name)
    if match:
        level, kind, index = int(match[1]), match[2], int(match[3])
        return f"IN{3 * level + 3:02d}" if kind == "downsamplers" else f"IN{3 * level + index + 1:02d}"
    match = _DIFFUSERS_UP.match(module_name)
    if match:
        level, kind, index = int(match[1]), match[2], int(match[3])
        return f"OUT{3 * level + 2:02d}" if kind == "upsamplers" else f"OUT{3 * level + index:02d}"
    match = _SGM_IN.match(module_name)
    if match:
        return f"IN{int(match[1]):02d}"
    match = _SGM_OUT.match(module_name)
    if match:
        return f"OUT{int(match[1]):02d}"
    raise StyleMixError(f"{module_name}: not a text-encoder or U-Net block module (no block-weight group)")


class _HasArch(Protocol):
    name: str
    arch: str


def check_same_arch(files: Sequence[_HasArch]) -> str:
    """Return the common architecture of `files`, or raise naming which file is which."""
    if not files:
        raise StyleMixError("no LoRA files given")
    arches = {f.arch for f in files}
    if len(arches) == 1:
        return files[0].arch
    listing = ", ".join(f"{f.name} ({f.arch})" for f in files)
    raise StyleMixError(f"cannot mix base-model architectures in one operation: {listing}")


@dataclass(frozen=True)
class ArchGuess:
    """Result of detection: the architecture, what decided it, and a note when metadata disagreed."""

    arch: str
    source: str  # "keys", "shapes", "metadata" or "default"
    conflict: str = ""


def arch_from_metadata(metadata: Mapping[str, str]) -> str | None:
    """What the metadata claims (sd-scripts keys first, then ModelSpec), or None."""
    version = metadata.get("ss_base_model_version", "")
    if version.startswith("sdxl"):
        return "sdxl"
    if version.startswith("sd_v2"):
        return "sd2"
    if version.startswith("sd_v1"):
        return "sd1"
    spec = metadata.get("modelspec.architecture", "")
    if spec.startswith("stable-diffusion-xl"):
        return "sdxl"
    if spec.startswith("stable-diffusion-v2"):
        return "sd2"
    if spec.startswith("stable-diffusion-v1"):
        return "sd1"
    if metadata.get("ss_v2") == "True":
        return "sd2"
    if metadata.get("ss_v2") == "False":
        return "sd1"
    base = (metadata.get("ss_sd_model_name", "") + " " + metadata.get("modelspec.title", "")).lower()
    if any(family in base for family in _SDXL_FAMILIES):
        return "sdxl"
    return None


def arch_from_layout(in_features: Mapping[str, int]) -> tuple[str, str] | None:
    """Decide from module names and input widths (`module -> flattened input size`); None when silent.

    Order: SDXL-only names; cross-attention context width; text-encoder width; text-encoder depth (SD2
    LoRAs train layers 0-22 of a 1024-wide encoder, SD1 has 12 layers).
    """
    names = list(in_features)
    if any(n.startswith(("lora_te1_", "lora_te2_")) for n in names):
        return "sdxl", "keys"
    if any(n.startswith(("lora_unet_input_blocks_", "lora_unet_middle_block_", "lora_unet_output_blocks_"))
           for n in names):
        return "sdxl", "keys"
    for name, width in in_features.items():
        if name.startswith("lora_unet_") and name.endswith(("attn2_to_k", "attn2_to_v")) and width in _CONTEXT_WIDTH:
            return _CONTEXT_WIDTH[width], "shapes"
    for name, width in in_features.items():
        if name.startswith("lora_te_") and name.endswith(("q_proj", "k_proj", "v_proj")) and width in _TE_WIDTH:
            return _TE_WIDTH[width], "shapes"
    for name in names:
        layer = _TE_LAYER.search(name)
        if name.startswith("lora_te_") and layer and int(layer[1]) >= 12:
            return "sd2", "keys"
    return None


# Base models StyleMix recognises but cannot handle: (pattern in any key, what the file is).
_FOREIGN_KEYS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), what) for p, what in (
    (r"double_blocks|single_blocks|single_transformer_blocks", "a Flux LoRA"),
    (r"joint_blocks|joint_transformer_blocks|^lora_te3_", "an SD3 LoRA"),
    (r"^(transformer|diffusion_model|lora_transformer)[._]", "a diffusion-transformer LoRA (SD3, Flux, PixArt, …)"),
    (r"^lora_unet_blocks_\d+_", "a diffusion-transformer LoRA (Hunyuan, Wan, …)"),
))
# metadata prefixes (ss_base_model_version / modelspec.architecture, lower case) -> family
_FOREIGN_META = (("flux", "a Flux LoRA"), ("sd3", "an SD3 LoRA"), ("stable-diffusion-v3", "an SD3 LoRA"),
                 ("stable-diffusion-3", "an SD3 LoRA"), ("stable-cascade", "a Stable Cascade LoRA"),
                 ("pixart", "a PixArt LoRA"), ("hunyuan", "a Hunyuan LoRA"), ("auraflow", "an AuraFlow LoRA"),
                 ("kolors", "a Kolors LoRA"), ("lumina", "a Lumina LoRA"), ("wan", "a Wan LoRA"),
                 ("ltx", "an LTX-Video LoRA"), ("chroma", "a Chroma (Flux-family) LoRA"))


def foreign_family(keys: Sequence[str], metadata: Mapping[str, str]) -> str | None:
    """The base-model family of a LoRA StyleMix cannot handle (Flux, SD3, …), from keys, then metadata; else None.

    Pony, Illustrious and NoobAI are SDXL fine-tunes with SDXL keys: they are not foreign.
    """
    for pattern, what in _FOREIGN_KEYS:
        if any(pattern.search(k) for k in keys):
            return what
    if arch_from_metadata(metadata) is not None:
        return None
    claims = (metadata.get("ss_base_model_version", ""), metadata.get("modelspec.architecture", ""))
    for claim in (c.lower() for c in claims if c):
        for prefix, what in _FOREIGN_META:
            if claim.startswith(prefix):
                return what
    return None


def detect_arch(in_features: Mapping[str, int], metadata: Mapping[str, str]) -> ArchGuess:
    """Keys/shapes win over metadata (metadata is often copied or wrong; shapes decide what loads)."""
    layout = arch_from_layout(in_features)
    claimed = arch_from_metadata(metadata)
    if layout is not None:
        arch, source = layout
        conflict = ""
        if claimed is not None and claimed != arch:
            conflict = f"metadata says {claimed} but the {source} say {arch}; using {arch}"
        return ArchGuess(arch, source, conflict)
    if claimed is not None:
        return ArchGuess(claimed, "metadata")
    return ArchGuess("sd1", "default", "neither shapes nor metadata identify the base model; assuming sd1")


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        raise StyleMixError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHES)})")
