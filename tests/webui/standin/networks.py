"""extensions-builtin/Lora/networks.py essentials: the name → file table and its rescan."""

import os

from modules import paths, shared

available_networks = {}
refresh_count = 0


def lora_dir():
    return shared.cmd_opts.lora_dir or os.path.join(paths.models_path, "Lora")


def list_available_networks():
    global refresh_count
    refresh_count += 1
    available_networks.clear()
    os.makedirs(lora_dir(), exist_ok=True)
    for root, dirs, files in os.walk(lora_dir(), followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in (".pt", ".ckpt", ".safetensors"):
                available_networks[stem] = os.path.join(root, name)


loaded_networks = []


def load_networks(names, te_multipliers=None, unet_multipliers=None, dyn_dims=None):
    """Which LoRAs the next forward pass should have; [] makes the patched forwards restore the weights."""
    loaded_networks[:] = list(names)
