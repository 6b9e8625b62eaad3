"""The CLIP tokenizers sd-scripts downloads from Hugging Face at the first run, and its local cache for them.

sd-scripts loads `openai/clip-vit-large-patch14` (SD1; SD2 uses `stabilityai/stable-diffusion-2`, SDXL also
`laion/CLIP-ViT-bigG-14-laion2B-39B-b160k`). With `--tokenizer_cache_dir D` it first looks for
`D/<id with / replaced by _>` and saves a copy there after downloading, so a machine that was online once can
train offline. StyleMix always passes a cache folder and says before a run whether a download is still needed.
"""

from __future__ import annotations

import os
from pathlib import Path

SD1_TOKENIZER = "openai/clip-vit-large-patch14"
SD2_TOKENIZER = "stabilityai/stable-diffusion-2"
SDXL_TOKENIZER2 = "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_NETWORK_ERRORS = (
    "couldn't connect to 'https://huggingface.co'",
    "we couldn't connect to",
    "can't load tokenizer for",
    "offline mode is enabled",
    "maxretryerror",
    "name or service not known",
    "temporary failure in name resolution",
    "connectionerror",
)


def tokenizer_ids(arch: str, v2: bool = False) -> list[str]:
    if arch == "sdxl":
        return [SD1_TOKENIZER, SDXL_TOKENIZER2]
    return [SD2_TOKENIZER if v2 or arch == "sd2" else SD1_TOKENIZER]


def cache_folder(cache_dir: Path, model_id: str) -> Path:
    """Where sd-scripts keeps one tokenizer inside `--tokenizer_cache_dir`."""
    return cache_dir / model_id.replace("/", "_")


def _in_hub_cache(model_id: str) -> bool:
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub"
    )
    return (Path(hub) / f"models--{model_id.replace('/', '--')}").is_dir()


def missing_tokenizers(cache_dir: Path, arch: str, v2: bool = False) -> list[str]:
    """Tokenizer ids neither in our cache folder nor in the Hugging Face cache (so they need a download)."""
    return [m for m in tokenizer_ids(arch, v2) if not cache_folder(cache_dir, m).is_dir() and not _in_hub_cache(m)]


def offline() -> bool:
    return any(os.environ.get(name, "").strip() not in ("", "0", "false", "False") for name in _OFFLINE_VARS)


def tokenizer_note(cache_dir: Path, arch: str, v2: bool = False) -> str | None:
    """The pre-run note about a tokenizer download (None when everything is cached)."""
    missing = missing_tokenizers(cache_dir, arch, v2)
    if not missing:
        return None
    return f"the first run downloads the tokenizer {', '.join(missing)} from huggingface.co into {cache_dir}"


def offline_problem(cache_dir: Path, arch: str, v2: bool = False) -> str | None:
    """A refusal when the machine is marked offline and a tokenizer is not cached."""
    missing = missing_tokenizers(cache_dir, arch, v2)
    if not missing or not offline():
        return None
    return offline_message(cache_dir, missing)


def offline_message(cache_dir: Path, missing: list[str]) -> str:
    folders = ", ".join(cache_folder(cache_dir, m).name for m in missing)
    return (
        f"tokenizer {', '.join(missing)} is not cached in {cache_dir} and huggingface.co cannot be used (offline): "
        f"run one training while online, or copy the folder(s) {folders} from another machine's tokenizer cache "
        "(setting: sd-scripts tokenizer cache folder; CLI: --tokenizer-cache-dir)"
    )


def looks_like_download_failure(lines: list[str]) -> bool:
    text = "\n".join(lines[-80:]).lower()
    return any(marker in text for marker in _NETWORK_ERRORS) and (
        "tokenizer" in text or "clip" in text or "huggingface" in text
    )
