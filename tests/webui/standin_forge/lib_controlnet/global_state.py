controlnet_filename_dict = {"None": None}
rescans = 0
INSTALLED = {
    "diffusers_xl_canny_mid [112a778d]": "models/ControlNet/diffusers_xl_canny_mid.safetensors",
    "control_v11p_sd15_canny [d14c016b]": "models/ControlNet/control_v11p_sd15_canny.pth",
}


def update_controlnet_filenames():
    global rescans
    rescans += 1
    controlnet_filename_dict.clear()
    controlnet_filename_dict["None"] = None
    controlnet_filename_dict.update(INSTALLED)


def get_all_controlnet_names():
    return list(controlnet_filename_dict.keys())
