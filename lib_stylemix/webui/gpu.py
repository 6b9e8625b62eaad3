"""Hand the GPU to sd-scripts and take it back: unload the webui's checkpoint before training, restore after.

A1111 1.10 `sd_models.unload_model_weights()` moves the model to the CPU (`lowvram` aware) and
`send_model_to_device` brings it back. Forge manages memory itself: `backend.memory_management` unloads
everything, and the next generation loads what it needs, so there is nothing to restore by hand.
"""

from __future__ import annotations

import logging

from lib_stylemix.webui.env import is_forge

log = logging.getLogger(__name__)


class WebuiGpuHandoff:
    """`GpuHandoff` for the webui; call from the training runner around the sd-scripts subprocess."""

    def release(self) -> None:
        if is_forge():
            from backend import memory_management

            memory_management.unload_all_models()
            memory_management.soft_empty_cache()
            return
        from modules import devices, sd_models

        sd_models.unload_model_weights()
        devices.torch_gc()

    def restore(self) -> None:
        if is_forge():
            return
        from modules import sd_models

        model = sd_models.model_data.sd_model
        if model is None:
            sd_models.reload_model_weights()
        else:
            sd_models.send_model_to_device(model)
        log.info("StyleMix: checkpoint restored after training")
