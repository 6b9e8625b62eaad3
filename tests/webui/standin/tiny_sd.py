"""A tiny real torch stand-in for a loaded checkpoint (tests only): LDM-layout U-Net + VAE + conditioning.

`TinyA1111Model` looks like A1111's LatentDiffusion (`model.diffusion_model`, `encode_first_stage`,
`get_first_stage_encoding`, `alphas_cumprod`); `TinyForgeModel` like Forge's engine (`forge_objects[_original]
.unet` patchers, `encode_first_stage` returning the scaled latent, the schedule on the predictor). The U-Net
has `output_blocks` grouped per level (lowest resolution first, `per_level` blocks each) with a different
channel count per level, so a test can tell which block was hooked. Random weights, seeded.
"""

import types

import torch
from torch import nn

CONTEXT_DIM = 16
ADM_DIM = 12


class TinyUNet(nn.Module):
    def __init__(self, levels=3, per_level=2, ch=4, adm=None):
        super().__init__()
        self.channel_mult = tuple(range(1, levels + 1))
        widths = [ch * (levels - level) for level in range(levels)]  # level 0 (lowest res) is widest
        self.widths = widths
        self.conv_in = nn.Conv2d(4, widths[0], 3, padding=1)
        self.time = nn.Linear(1, widths[0])
        self.ctx = nn.Linear(CONTEXT_DIM, widths[0])
        self.adm = nn.Linear(adm, widths[0]) if adm else None
        blocks, previous = [], widths[0]
        for level in range(levels):
            for _ in range(per_level):
                blocks.append(nn.Conv2d(previous, widths[level], 3, padding=1))
                previous = widths[level]
        self.output_blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(previous, 4, 3, padding=1)
        self.calls = []

    def forward(self, x, timesteps=None, context=None, y=None, **kwargs):
        assert (y is not None) == (self.adm is not None), "SDXL needs y, SD1 must not get it"
        self.calls.append({"t": timesteps.tolist(), "kwargs": sorted(kwargs), "dtype": x.dtype})
        h = self.conv_in(x)
        bias = self.time(timesteps.to(x.dtype)[:, None] / 1000.0) + self.ctx(context.mean(dim=1))
        if y is not None:
            bias = bias + self.adm(y)
        h = h + bias[:, :, None, None]
        for block in self.output_blocks:
            h = torch.tanh(block(h))
        return self.out(h)


class TinyVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(nn.functional.avg_pool2d(x, 8))


def _schedule():
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0)


class _Model:
    def __init__(self, arch="sd1", seed=0):
        torch.manual_seed(seed)
        self.is_sd1, self.is_sd2, self.is_sdxl = arch == "sd1", arch == "sd2", arch == "sdxl"
        self.sd_checkpoint_info = types.SimpleNamespace(filename=f"models/Stable-diffusion/tiny-{arch}.safetensors")
        self.unet = TinyUNet(adm=ADM_DIM if self.is_sdxl else None)
        self.first_stage_model = TinyVAE()
        self.text = nn.Parameter(torch.randn(77, CONTEXT_DIM), requires_grad=False)
        self.device = "cpu"
        self.encoded = 0

    def get_learned_conditioning(self, prompts):
        assert all(p == "" for p in prompts)
        crossattn = self.text[None].expand(len(prompts), -1, -1)
        if self.is_sdxl:
            return {"crossattn": crossattn, "vector": torch.ones(len(prompts), ADM_DIM)}
        return crossattn


class TinyA1111Model(_Model):
    def __init__(self, arch="sd1", seed=0):
        super().__init__(arch, seed)
        self.model = types.SimpleNamespace(diffusion_model=self.unet)
        self.alphas_cumprod = _schedule()

    def encode_first_stage(self, x):
        self.encoded += 1
        self.vae_dtype = x.dtype
        assert x.min() >= -1 and x.max() <= 1
        return self.first_stage_model(x)

    def get_first_stage_encoding(self, z):
        return z * 0.18215


class TinyForgeModel(_Model):
    def __init__(self, arch="sd1", seed=0):
        super().__init__(arch, seed)
        predictor = types.SimpleNamespace(alphas_cumprod=_schedule())
        original = types.SimpleNamespace(model=types.SimpleNamespace(diffusion_model=self.unet, predictor=predictor),
                                         name="original")
        patched = types.SimpleNamespace(model=types.SimpleNamespace(diffusion_model=TinyUNet(), predictor=predictor),
                                        name="patched with LoRAs")
        self.forge_objects_original = types.SimpleNamespace(unet=original)
        self.forge_objects = types.SimpleNamespace(unet=patched)

    def encode_first_stage(self, x):
        self.encoded += 1
        return self.first_stage_model(x) * 0.18215
