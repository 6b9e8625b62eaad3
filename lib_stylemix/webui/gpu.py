"""Hand the GPU to sd-scripts and take it back: unload the webui's checkpoint before training, restore after.

A1111 1.10 `sd_models.unload_model_weights()` moves the model to the CPU (`lowvram` aware) and
`send_model_to_device` brings it back. Called without an argument it reads `shared.sd_model`, which *loads* a
checkpoint when none is loaded, so the loaded model is looked up first (`model_data.sd_model`, never a load)
and passed explicitly; with nothing loaded there is nothing to free and nothing to restore. On a CPU-only webui
moving the model "to the CPU" frees nothing: the trainer then needs its RAM next to the webui's, which is said.
Forge manages memory itself: `backend.memory_management` unloads everything, and the next generation loads
what it needs, so there is nothing to restore by hand.
"""

from __future__ import annotations

import logging

from lib_stylemix.webui.env import is_forge

log = logging.getLogger(__name__)
CPU_NOTE = (
    "the webui runs on the CPU: handing over frees no memory, so sd-scripts needs its RAM in addition to the "
    "webui's (about 6.5 GB more for SD1.5, far more for SDXL)"
)


def _on_cpu(model) -> bool:
    from modules import devices

    device = getattr(model, "device", None) or getattr(devices, "device", None)
    return str(device).split(":")[0] == "cpu"


class WebuiGpuHandoff:
    """`GpuHandoff` for the webui; call from the training runner around the sd-scripts subprocess.

    `note` says what the last `release()` did (shown by the panel and written to the log)."""

    def __init__(self) -> None:
        self._moved = None
        self.note = ""

    def release(self) -> None:
        self._moved = None
        if is_forge():
            from backend import memory_management

            memory_management.unload_all_models()
            memory_management.soft_empty_cache()
            self.note = "Forge unloaded its models for the training"
            log.info("StyleMix: %s", self.note)
            return
        from modules import devices, sd_models

        model = getattr(sd_models.model_data, "sd_model", None)  # never `shared.sd_model`: that loads one
        if model is None:
            self.note = "no checkpoint loaded in the webui: nothing to free"
        elif _on_cpu(model):
            self.note = CPU_NOTE
        else:
            sd_models.unload_model_weights(model)
            devices.torch_gc()
            self._moved = model
            self.note = "checkpoint moved off the GPU for the training"
        log.info("StyleMix: %s", self.note)

    def restore(self) -> None:
        if is_forge() or self._moved is None:
            return
        from modules import sd_models

        model, self._moved = self._moved, None
        if sd_models.model_data.sd_model is model:
            sd_models.send_model_to_device(model)
            log.info("StyleMix: checkpoint restored after training")
