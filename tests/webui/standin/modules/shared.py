import types

from modules.options import OptionInfo, Options
from modules.shared_state import State

cmd_opts = types.SimpleNamespace(lora_dir=None, controlnet_dir=None, ckpt_dir=None)
state = State()
opts = Options(
    {
        "return_grid": OptionInfo(True),
        "outdir_samples": OptionInfo(""),
        "outdir_txt2img_samples": OptionInfo("outputs/txt2img-images"),
        "outdir_grids": OptionInfo(""),
        "outdir_txt2img_grids": OptionInfo("outputs/txt2img-grids"),
        "control_net_unit_count": OptionInfo(3),
    }
)
sd_model = None


class TotalTQDM:
    def __init__(self):
        self.cleared = 0

    def clear(self):
        self.cleared += 1


total_tqdm = TotalTQDM()
