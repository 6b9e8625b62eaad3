"""Which webui we run in (A1111 or Forge) and its version: the one place that decides.

Everything else in the adapter asks `is_forge()` or `webui_info()` instead of probing on its own, so a
new fork needs a change here only. All webui imports are inside functions: importing this package must
work before (and without) the webui.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util


@dataclasses.dataclass(frozen=True)
class WebuiInfo:
    kind: str  # "A1111" | "Forge"
    version: str  # "1.10.1", "2.0.1v1.10.1", or "unknown"
    gradio_major: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.version}"


def is_forge() -> bool:
    """Forge ships the `modules_forge` package next to `modules`; A1111 does not."""
    try:
        return importlib.util.find_spec("modules_forge") is not None
    except (ImportError, ValueError):
        return False


def _forge_version() -> str | None:
    try:
        return str(importlib.import_module("modules_forge.forge_version").version)
    except (ImportError, AttributeError):
        return None


def _a1111_version() -> str | None:
    try:
        from modules import launch_utils

        tag = str(launch_utils.git_tag()).strip()
    except Exception:
        return None
    return tag[1:] if tag.startswith("v") else tag or None


def gradio_major() -> int:
    try:
        import gradio

        return int(str(gradio.__version__).split(".")[0])
    except (ImportError, ValueError, AttributeError):
        return 0


def webui_info() -> WebuiInfo:
    """Detect the host. Forge reports its own version (e.g. "2.0.1v1.10.1"); A1111 its git tag without "v"."""
    if is_forge():
        return WebuiInfo("Forge", _forge_version() or _a1111_version() or "unknown", gradio_major())
    return WebuiInfo("A1111", _a1111_version() or "unknown", gradio_major())


def loaded_model():
    """The loaded checkpoint model, or None; never triggers a load (unlike `shared.sd_model` on A1111)."""
    from modules import sd_models

    return getattr(sd_models.model_data, "sd_model", None)


def model_arch(model) -> str | None:
    if model is None:
        return None
    for flag, arch in (("is_sdxl", "sdxl"), ("is_sd2", "sd2"), ("is_sd1", "sd1")):
        if getattr(model, flag, False):
            return arch
    return None
