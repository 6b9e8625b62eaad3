"""Which Stable Diffusion family a base model is, read from file names in the header (no tensors loaded).

It decides `train_network.py` vs `sdxl_train_network.py` and `--v2`; sd-scripts does not detect SD1 vs SD2.
`.ckpt` files are pickles: unpickling one in our process could run arbitrary code, so those need `--arch`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lib_stylemix.errors import StyleMixError

ARCHES = ("sd1", "sd2", "sdxl")
# Key prefixes of the text encoders in single-file (LDM/SGM layout) checkpoints.
_SDXL = "conditioner.embedders.1."
_SD2 = "cond_stage_model.model."
_SD1 = "cond_stage_model.transformer."


def read_safetensors_keys(path: Path) -> list[str]:
    """Tensor names from a .safetensors header (read by the LoRA engine's one header reader)."""
    from lib_stylemix.lora.container import read_header_json

    header, _, _ = read_header_json(Path(path))
    return [key for key in header if key != "__metadata__"]


def arch_from_keys(keys: list[str]) -> str | None:
    if any(key.startswith(_SDXL) for key in keys):
        return "sdxl"
    if any(key.startswith(_SD2) for key in keys):
        return "sd2"
    if any(key.startswith(_SD1) for key in keys):
        return "sd1"
    return None


def _diffusers_arch(folder: Path) -> str | None:
    index = folder / "model_index.json"
    if not index.is_file():
        return None
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        if "text_encoder_2" in data:
            return "sdxl"
        config = json.loads((folder / "text_encoder" / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return {768: "sd1", 1024: "sd2"}.get(config.get("hidden_size"))


def detect_arch(base_model: str | os.PathLike[str], explicit: str | None = None) -> str:
    """Return "sd1", "sd2" or "sdxl" for a base model file/folder; `explicit` wins when given."""
    path = Path(base_model)
    if explicit:
        if explicit not in ARCHES:
            raise StyleMixError(f"--arch {explicit!r}: must be one of {', '.join(ARCHES)}")
        return explicit
    if path.is_dir():
        arch = _diffusers_arch(path)
        if arch is None:
            raise StyleMixError(f"{path}: cannot tell the model family of this Diffusers folder; pass --arch")
        return arch
    if not path.is_file():
        raise StyleMixError(f"{path}: base model file does not exist")
    suffix = path.suffix.lower()
    if suffix != ".safetensors":
        raise StyleMixError(
            f"{path}: {suffix or 'this'} files are not inspected (unpickling is unsafe); pass --arch sd1|sd2|sdxl"
        )
    arch = arch_from_keys(read_safetensors_keys(path))
    if arch is None:
        raise StyleMixError(f"{path}: no SD1/SD2/SDXL text-encoder keys found (not a full checkpoint?); pass --arch")
    return arch
