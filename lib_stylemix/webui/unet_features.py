"""IntroStyle features from the checkpoint the webui has loaded: VAE encode → noise to a fixed timestep →
one U-Net pass with a forward hook on one up-block → channel statistics (`lib_stylemix.science.features`).

A1111 and Forge hold the model differently:
- A1111 (LDM): `sd_model.model.diffusion_model` is the `UNetModel`; `encode_first_stage` +
  `get_first_stage_encoding` give the scaled latent; `sd_model.alphas_cumprod` is the schedule. LoRAs stay
  patched into the weights after a generation until the next one with other LoRAs, so we first tell the
  Lora extension that no network is wanted (`networks.load_networks([])`); its patched forwards then
  restore the original weights.
- Forge: `sd_model.forge_objects.unet` is a patcher whose `.model.diffusion_model` is Forge's own
  `IntegratedUNet2DConditionModel`, with the same LDM `output_blocks` layout and a `forward(x, timesteps,
  context, y, …, transformer_options)`; the LoRA-free patcher is `forge_objects_original.unet`, which we
  load with `backend.memory_management.load_model_gpu`. `encode_first_stage` already returns the scaled
  latent; the schedule is on `patcher.model.predictor.alphas_cumprod`.
SD1.x and SDXL differ only in the conditioning: SDXL's `get_learned_conditioning` returns a dict whose
"vector" goes in as `y`. The prompt is empty: the features describe the image, not a text.

Up-block k is the k-th group of LDM `output_blocks` (each resolution level has `num_res_blocks + 1` of them,
lowest resolution first), like diffusers' `up_blocks[k]`; the hook sits on the group's last block, so the
features are the block's output. The pass stops right after the hook (nothing later is computed).

Call `WebuiFeatureExtractor.describe` from a handler that already runs under the webui's queue lock (a
panel handler wrapped by `Host.wrap_gpu`), or use `describe_locked`, which takes the lock itself.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.science.features import StyleDescriptor, describe
from lib_stylemix.seams import CancelToken, NullProgress, Progress
from lib_stylemix.webui.env import is_forge


@dataclass(frozen=True)
class FeatureSettings:
    """The fixed observer: timestep (of 1000), which up-block, image side (None: 512 SD1/2, 1024 SDXL), noise seed."""

    timestep: int = 25
    up_block: int = 1
    size: int | None = None
    seed: int = 0


class _StopForward(Exception):
    """Raised by the hook once it has the features, so the rest of the U-Net is not computed."""


def up_block_module(unet: Any, up_block: int) -> tuple[int, Any]:
    """(index into `output_blocks`, module) of the last block of up-block `up_block`."""
    blocks = getattr(unet, "output_blocks", None)
    if blocks is None:
        raise StyleMixError("the loaded U-Net has no output_blocks (not an SD1/SD2/SDXL U-Net)")
    levels = len(getattr(unet, "channel_mult", ()) or ()) or (4 if len(blocks) == 12 else 3)
    per_level = len(blocks) // levels
    if per_level < 1 or not 0 <= up_block < levels:
        raise StyleMixError(f"up-block {up_block} does not exist (this U-Net has {levels})")
    index = (up_block + 1) * per_level - 1
    return index, blocks[index]


def default_schedule() -> np.ndarray:
    """Stable Diffusion's ᾱ_t ("scaled linear" β from 0.00085 to 0.012 over 1000 steps)."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


class _Backend:
    """What differs between A1111 and Forge: the U-Net object, latents, conditioning and the schedule."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def prepare(self) -> Any:
        """Make the LoRA-free U-Net ready on its device and return it."""
        networks = sys.modules.get("networks")
        if networks is not None and hasattr(networks, "load_networks"):
            networks.load_networks([])
        return self.model.model.diffusion_model

    def latents(self, pixels: Any) -> Any:
        """The scaled latent; the VAE may run in another dtype than the U-Net (A1111's `dtype_vae`)."""
        vae = getattr(self.model, "first_stage_model", None)
        param = next(vae.parameters()) if vae is not None else pixels
        try:
            from modules import devices
        except ImportError:
            devices = None
        device = getattr(devices, "device", param.device)
        dtype = getattr(devices, "dtype_vae", param.dtype)
        return self.model.get_first_stage_encoding(self.model.encode_first_stage(pixels.to(device=device, dtype=dtype)))

    def alphas(self) -> np.ndarray:
        values = getattr(self.model, "alphas_cumprod", None)
        return default_schedule() if values is None else np.asarray(values.detach().cpu().double().numpy())

    def placement(self, unet: Any) -> tuple[Any, Any]:
        """(device, dtype) the U-Net's inputs need: the webui's own choice (right under --lowvram/--medvram,
        where parameters sit on the CPU until a hook moves them), else the parameters'."""
        param = next(unet.parameters())
        try:
            from modules import devices
        except ImportError:
            return param.device, param.dtype
        return getattr(devices, "device", param.device), getattr(devices, "dtype_unet", param.dtype)

    def conditioning(self, count: int) -> tuple[Any, Any]:
        cond = self.model.get_learned_conditioning([""] * count)
        if isinstance(cond, dict):
            return cond["crossattn"], cond.get("vector")
        return cond, None


class _ForgeBackend(_Backend):
    def __init__(self, model: Any) -> None:
        super().__init__(model)
        objects = getattr(model, "forge_objects_original", None) or model.forge_objects
        self.patcher = objects.unet

    def prepare(self) -> Any:
        from backend import memory_management

        memory_management.load_model_gpu(self.patcher)
        return self.patcher.model.diffusion_model

    def latents(self, pixels: Any) -> Any:
        return self.model.encode_first_stage(pixels)

    def placement(self, unet: Any) -> tuple[Any, Any]:
        """Forge loaded the patcher onto its device; weights may be stored in fp8, inputs use the compute dtype."""
        param = next(unet.parameters())
        return param.device, getattr(self.patcher.model, "computation_dtype", None) or param.dtype

    def alphas(self) -> np.ndarray:
        predictor = getattr(self.patcher.model, "predictor", None)
        values = getattr(predictor, "alphas_cumprod", None)
        return default_schedule() if values is None else np.asarray(values.detach().cpu().double().numpy())


def _backend() -> _Backend:
    from lib_stylemix.webui.env import loaded_model

    model = loaded_model()
    if model is None:
        raise StyleMixError("no Stable Diffusion checkpoint is loaded: load one in the webui first")
    if getattr(model, "is_sd3", False) or not (hasattr(model, "forge_objects") or hasattr(model, "model")):
        raise StyleMixError("style features need an SD1/SD2/SDXL checkpoint (this model has no such U-Net)")
    return _ForgeBackend(model) if is_forge() and hasattr(model, "forge_objects") else _Backend(model)


def _pixels(image: Any, size: int) -> Any:
    """A PIL image as a 1×3×size×size tensor in [-1, 1] (centre crop to square, then resize)."""
    import torch
    from PIL import Image

    rgb = image.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    array = np.asarray(rgb, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


@contextlib.contextmanager
def _hook(module: Any, box: dict[str, Any]) -> Iterator[None]:
    def grab(_module: Any, _inputs: Any, output: Any) -> None:
        box["features"] = output.detach().float().cpu().numpy()
        raise _StopForward

    handle = module.register_forward_hook(grab)
    try:
        yield
    finally:
        handle.remove()


def _autocast() -> Any:
    try:
        from modules import devices

        return devices.autocast()
    except (ImportError, AttributeError):
        return contextlib.nullcontext()


class WebuiFeatureExtractor:
    """`FeatureExtractor` over the webui's loaded checkpoint (see the module docstring)."""

    def __init__(self, settings: FeatureSettings | None = None, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> None:
        self.settings = settings or FeatureSettings()
        self.progress = progress or NullProgress()
        self.cancel = cancel

    def describe(self, images: Sequence[Any]) -> list[StyleDescriptor]:
        """One descriptor per image; checks Interrupt between images and reports progress."""
        import torch

        backend = _backend()
        unet = backend.prepare()
        index, block = up_block_module(unet, self.settings.up_block)
        place = backend.placement(unet)
        size = self.settings.size or (1024 if getattr(backend.model, "is_sdxl", False) else 512)
        alphas = backend.alphas()
        t = int(self.settings.timestep)
        if not 0 <= t < len(alphas):
            raise StyleMixError(f"timestep {t} is outside the schedule (0..{len(alphas) - 1})")
        out: list[StyleDescriptor] = []
        self.progress.begin(len(images), f"style features (output block {index})")
        for done, image in enumerate(images, 1):
            if self.cancel is not None and self.cancel.cancelled():
                raise CancelledError(f"style features stopped after {done - 1} of {len(images)} image(s)")
            with torch.no_grad(), _autocast():
                features = self._one(backend, unet, block, image, size, float(alphas[t]), place)
            out.extend(describe(features))
            self.progress.step(done, f"style features {done}/{len(images)}")
        self.progress.end("style features done")
        return out

    def _one(self, backend: _Backend, unet: Any, block: Any, image: Any, size: int, alpha_bar: float,
             place: tuple[Any, Any]) -> np.ndarray:
        import torch

        device, dtype = place
        pixels = _pixels(image, size).to(device)
        latent = backend.latents(pixels).to(device=device, dtype=dtype)
        generator = torch.Generator().manual_seed(int(self.settings.seed))
        noise = torch.randn(latent.shape, generator=generator, dtype=torch.float32).to(latent)
        noisy = latent * alpha_bar**0.5 + noise * (1.0 - alpha_bar) ** 0.5
        context, vector = backend.conditioning(len(latent))
        timesteps = torch.full((len(latent),), int(self.settings.timestep), device=device, dtype=torch.long)
        kwargs: dict[str, Any] = {"context": context.to(device=device, dtype=dtype)}
        if vector is not None:
            kwargs["y"] = vector.to(device=device, dtype=dtype)
        if isinstance(backend, _ForgeBackend):
            kwargs["transformer_options"] = {}
        box: dict[str, Any] = {}
        with _hook(block, box), contextlib.suppress(_StopForward):
            unet(noisy, timesteps, **kwargs)
        if "features" not in box:
            raise StyleMixError("the U-Net pass never reached the hooked up-block")
        return box["features"]


def describe_locked(images: Sequence[Any], settings: FeatureSettings | None = None) -> list[StyleDescriptor]:
    """`describe` under the webui's queue lock with its progress bar and Interrupt (for callers not yet inside
    a `gpu_call` handler)."""
    from lib_stylemix.webui.calls import gpu_call
    from lib_stylemix.webui.state import StateCancel, StateProgress

    def run() -> list[StyleDescriptor]:
        return WebuiFeatureExtractor(settings, StateProgress(), StateCancel()).describe(images)

    return gpu_call(run)()
