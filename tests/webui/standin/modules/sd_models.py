import types


class FakeModel:
    """What StyleMix reads from a loaded checkpoint: is_sd1/is_sd2/is_sdxl and sd_checkpoint_info.filename."""

    def __init__(self, filename="models/Stable-diffusion/v1-5.safetensors", arch="sd1"):
        self.is_sd1 = arch == "sd1"
        self.is_sd2 = arch == "sd2"
        self.is_sdxl = arch == "sdxl"
        self.sd_checkpoint_info = types.SimpleNamespace(filename=filename)
        self.device = "cuda"


class SdModelData:
    def __init__(self):
        self.sd_model = None

    def get_sd_model(self):
        # A1111: `shared.sd_model` calls this, and it loads the selected checkpoint when none is loaded
        if self.sd_model is None:
            events.append("load")
            self.sd_model = FakeModel()
        return self.sd_model


model_data = SdModelData()
checkpoints_list = {}
events = []


def unload_model_weights(sd_model=None, info=None):
    # A1111 1.10: send the model to the CPU (lowvram aware); the object stays loaded
    model = sd_model or model_data.get_sd_model()  # A1111 1.10 reads shared.sd_model: a lazy load
    if model is not None:
        model.device = "cpu"
    events.append("unload")
    return sd_model


def send_model_to_device(m):
    m.device = "cuda"
    events.append("to_device")


def reload_model_weights(sd_model=None, info=None, forced_reload=False):
    events.append("reload")
    if model_data.sd_model is None:
        model_data.sd_model = FakeModel()
    return model_data.sd_model
