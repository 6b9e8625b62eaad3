"""Run by the webui at every start (a subprocess, cwd = webui root): install what StyleMix needs and is missing.

Only packages the webui does not pin are ever installed, and only when missing, never upgraded: torch,
gradio, numpy, Pillow, safetensors, transformers, fastapi, pydantic and accelerate are the webui's. OpenCV is
checked by its import name, because any OpenCV build the webui already has (opencv-python from its face
restorers) works for us, and a second flavour next to it breaks both.
"""

import launch

# (import name, pip requirement) — checked by import name, installed by distribution name
REQUIREMENTS = (
    ("cv2", "opencv-python-headless"),
    ("matplotlib", "matplotlib"),
)


def missing_requirements():
    return [requirement for module, requirement in REQUIREMENTS if not launch.is_installed(module)]


def main():
    for requirement in missing_requirements():
        launch.run_pip(f"install {requirement}", f"StyleMix requirement: {requirement}")


main()
