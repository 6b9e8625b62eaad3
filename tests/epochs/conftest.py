from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from lib_stylemix.epochs.tags import with_loras
from lib_stylemix.restyle.generator import GeneratedImage


def write_lora(path: Path, metadata: dict[str, str] | None = None) -> Path:
    """A tiny safetensors file with kohya-like keys; enough for the epoch code, which reads only the header."""
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": np.ones((2, 4), np.float32),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": np.ones((4, 2), np.float32),
    }
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A training run `ink` with epochs 1, 2 (numbered files) and the final file (epoch 3), plus another run."""
    folder = tmp_path / "loras"
    folder.mkdir()
    write_lora(folder / "ink-000002.safetensors", {"ss_epoch": "2"})
    write_lora(folder / "ink-000001.safetensors", {"ss_epoch": "1"})
    write_lora(folder / "ink.safetensors", {"ss_epoch": "3"})
    write_lora(folder / "other.safetensors", {"ss_epoch": "5"})
    return folder


class ColourGenerator:
    """Fake txt2img: a solid image whose colour encodes the call number; records every call."""

    def __init__(self, cancel_after: int | None = None, flag=None) -> None:
        self.calls: list[dict] = []
        self.cancel_after = cancel_after
        self.flag = flag

    def generate(self, request):
        prompt, negative, seed, steps, sampler, cfg = (with_loras(request.prompt, request.loras), request.negative,
                                                       request.seed, request.steps, request.sampler, request.cfg)
        width, height = request.width, request.height
        self.calls.append(dict(prompt=prompt, negative=negative, seed=seed, steps=steps, sampler=sampler, cfg=cfg))
        if self.cancel_after is not None and len(self.calls) >= self.cancel_after:
            self.flag.cancel()
        shade = (len(self.calls) * 37) % 256
        return [GeneratedImage(Image.new("RGB", (width, height), (shade, 0, 255 - shade)), f"{prompt}\nSeed: {seed}")]
