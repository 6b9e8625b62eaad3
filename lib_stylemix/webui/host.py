"""`WebuiHost`: the StyleMix panels' view of A1111/Forge (the `Host` protocol of `lib_stylemix.ui.host`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.webui.calls import gpu_call
from lib_stylemix.webui.controlnet import controlnet_bridge, pick_canny_model
from lib_stylemix.webui.env import loaded_model, model_arch, webui_info
from lib_stylemix.webui.generator import WebuiRestyleGenerator, WebuiTxt2ImgGenerator, fresh_txt2img
from lib_stylemix.webui.gpu import WebuiGpuHandoff
from lib_stylemix.webui.options import read_settings
from lib_stylemix.webui.registry import WebuiLoraRegistry
from lib_stylemix.webui.state import StateCancel, StateProgress


class WebuiHost:
    """Host for the StyleMix tab inside the webui. Cheap to build; every call reads the webui's current state."""

    def __init__(self, extension_dir: str | Path | None = None) -> None:
        self.info = webui_info()
        self.label = self.info.label
        self.extension_dir = Path(extension_dir) if extension_dir else None

    def settings(self) -> StyleMixSettings:
        return read_settings()

    def lora_registry(self) -> WebuiLoraRegistry:
        return WebuiLoraRegistry()

    def can_generate(self) -> str | None:
        from modules import sd_models

        if not getattr(sd_models, "checkpoints_list", None):
            return "No Stable Diffusion checkpoint is installed: put one into models/Stable-diffusion and restart."
        return None

    def restyle_generator(self) -> WebuiRestyleGenerator:
        reason = self.can_generate()
        if reason:
            raise StyleMixError(reason)
        bridge = controlnet_bridge()
        model = pick_canny_model(bridge.models(), self.checkpoint_arch(), self.settings().controlnet_model)
        return WebuiRestyleGenerator(fresh_txt2img(), bridge, model)

    def txt2img_generator(self) -> WebuiTxt2ImgGenerator:
        reason = self.can_generate()
        if reason:
            raise StyleMixError(reason)
        return WebuiTxt2ImgGenerator(fresh_txt2img())

    def progress(self) -> StateProgress:
        return StateProgress()

    def cancel_token(self) -> StateCancel:
        return StateCancel()

    def gpu_handoff(self) -> WebuiGpuHandoff:
        return WebuiGpuHandoff()

    def wrap_gpu(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return gpu_call(fn)

    def current_checkpoint(self) -> Path | None:
        model = loaded_model()
        info = getattr(model, "sd_checkpoint_info", None)
        filename = getattr(info, "filename", None)
        return Path(filename) if filename else None

    def checkpoint_arch(self) -> str | None:
        return model_arch(loaded_model())

    def feature_extractor(self) -> Any:
        """IntroStyle features from the loaded checkpoint (Style science); use inside a `wrap_gpu` handler.

        No progress sink: the caller's job (a report, an epoch ranking) owns the progress bar; Interrupt works.
        """
        from lib_stylemix.webui.unet_features import WebuiFeatureExtractor

        return WebuiFeatureExtractor(cancel=self.cancel_token())
