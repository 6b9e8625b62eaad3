"""Manual check (not collected by pytest): our webui pieces under gradio 4.x, the gradio Forge ships.

The test venv pins gradio 3.41.2 (A1111), so this runs in a separate environment, e.g.

    python3.11 -m venv /tmp/g4venv
    /tmp/g4venv/bin/pip install gradio==4.40.0 "huggingface_hub<0.26" pillow==9.5.0 numpy==1.26.4 \
        safetensors==0.4.2 opencv-python-headless
    /tmp/g4venv/bin/python tests/webui/gradio4_check.py

It loads the Forge stand-in with our real `scripts/stylemix.py`, builds the Script's controls, registers the
settings and the X/Y/Z axes, builds the whole StyleMix tab through `on_ui_tabs`, and runs the Script once with
a gradio-4 style File value (a list of paths). It exits non-zero on any failure.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "webui" / "standin"), str(REPO / "tests" / "webui" / "standin_forge"), str(REPO)]

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> None:
    root = Path(tempfile.mkdtemp())
    os.chdir(root)
    from modules import paths, processing, script_callbacks, scripts, sd_models, shared

    paths.models_path = str(root / "models")
    controlnet_base = root / "extensions-builtin" / "sd_forge_controlnet"
    (controlnet_base / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "tests/webui/standin_forge/controlnet_forge.py", controlnet_base / "scripts/controlnet.py")
    (root / "scripts").mkdir()
    shutil.copy(REPO / "tests/webui/standin/xyz_grid_standin.py", root / "scripts/xyz_grid.py")
    scripts.load_scripts(
        [
            (str(root / "scripts/xyz_grid.py"), str(root)),
            (str(controlnet_base / "scripts/controlnet.py"), str(controlnet_base)),
            (str(REPO / "scripts/stylemix.py"), str(REPO)),
        ]
    )

    def build(script):
        with gr.Blocks():
            return script.ui(False)

    runner = scripts.ScriptRunner()
    runner.initialize_scripts(False, build)
    scripts.scripts_txt2img = runner
    ours = next(s for s in runner.scripts if s.title() == "StyleMix: batch restyle")
    print("gradio", gr.__version__)
    print("script controls:", [type(c).__name__ for c in ours.controls])
    script_callbacks.ui_settings_callback()
    print("settings:", sum(k.startswith("stylemix_") for k in shared.opts.data_labels))
    with gr.Blocks():  # every StyleMix setting's widget as the settings page builds it (dropdowns: any value)
        for key, info in shared.opts.data_labels.items():
            if key.startswith("stylemix_") and info.component is not None:
                args = info.component_args() if callable(info.component_args) else info.component_args or {}
                info.component(value=info.default, label=info.label, **args)
    assert shared.opts.set("stylemix_compute_threads", "1") and not shared.opts.set("stylemix_compute_threads", "x")
    print("compute threads setting: ok")
    script_callbacks.before_ui_callback()
    tabs = script_callbacks.ui_tabs_callback()
    assert isinstance(tabs[0][0], gr.Blocks)
    print("tab:", tabs[0][1:])

    source = root / "set"
    source.mkdir()
    image = Image.new("RGB", (64, 64), "white")
    for x in range(0, 64, 8):
        for y in range(64):
            image.putpixel((x, y), (0, 0, 0))
    image.save(source / "a.png")
    sd_models.model_data.sd_model = sd_models.FakeModel()
    sd_models.checkpoints_list["x"] = object()
    args = list(runner.default_args(selected_title=ours.title()))
    args[ours.args_from + 1] = [str(source / "a.png")]
    args[ours.args_from + 2] = "ink"
    args[ours.args_to - 1] = str(root / "out")
    processed = processing.txt2img(tuple(args), width=64, height=64, steps=3, sampler_name="Euler")
    assert len(processed.images) == len(processed.infotexts) == 2 and len(processing.calls) == 1
    print("script run:", len(processed.images), "images (grid + 1),", len(processing.calls), "generation")


if __name__ == "__main__":
    main()
