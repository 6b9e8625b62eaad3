from __future__ import annotations

import runpy

from tests.webui.conftest import REPO

PINNED = ("torch", "gradio", "numpy", "pillow", "safetensors", "transformers", "fastapi", "pydantic", "accelerate")


def test_installs_only_what_is_missing(a1111):
    import launch

    launch.missing.update({"matplotlib", "cv2"})
    runpy.run_path(str(REPO / "install.py"), run_name="__main__")
    assert [command for command, _ in launch.pip_calls] == ["install opencv-python-headless", "install matplotlib"]
    assert all(not any(pinned in command.lower() for pinned in PINNED) for command, _ in launch.pip_calls)


def test_nothing_to_do_when_everything_is_there(a1111):
    import launch

    runpy.run_path(str(REPO / "install.py"), run_name="__main__")
    assert launch.pip_calls == []


def test_any_opencv_build_counts(a1111):
    import launch

    launch.missing.add("opencv-python-headless")  # the distribution is not there, but cv2 imports
    runpy.run_path(str(REPO / "install.py"), run_name="__main__")
    assert launch.pip_calls == []
