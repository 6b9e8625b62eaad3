"""The webui's LoRA folder and the refresh that makes the Lora tab (and `<lora:…>` tags) see new files.

The folder is the built-in Lora extension's `--lora-dir` when it is set, else `<models>/Lora` (the
extension's own default, which also applies when the extension is disabled and the flag does not exist).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def lora_dir() -> Path:
    from modules import paths, shared

    configured = getattr(shared.cmd_opts, "lora_dir", None)
    if configured:
        return Path(configured)
    return Path(os.path.join(paths.models_path, "Lora"))


def networks_module():
    """The Lora extension's `networks` module: in `sys.modules` on A1111 once its script loaded; importable on Forge."""
    module = sys.modules.get("networks")
    if module is not None:
        return module
    try:
        return importlib.import_module("networks")
    except ImportError:
        return None


def available_lora_names() -> list[str]:
    """Names the webui currently knows (as `<lora:name:…>` accepts them); empty if the Lora extension is off."""
    module = networks_module()
    names = getattr(module, "available_networks", None) if module is not None else None
    return sorted(names) if names else []


class WebuiLoraRegistry:
    """`LoraRegistry` for the webui: files go to its LoRA folder; `refresh` rescans the Lora extension's list."""

    def folder(self) -> Path:
        return lora_dir()

    def refresh(self) -> None:
        module = networks_module()
        if module is None or not hasattr(module, "list_available_networks"):
            log.warning("StyleMix: the built-in Lora extension is not loaded; new LoRA files appear after a restart")
            return
        module.list_available_networks()
