gc_calls = 0


def torch_gc():
    global gc_calls
    gc_calls += 1


class NansException(Exception):
    """What A1111/Forge raise when the UNet or VAE produces NaNs (e.g. fp16 overflow); not a webui-specific base."""
