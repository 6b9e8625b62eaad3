"""The standalone app builds and serves under whichever gradio is installed.

The default suite runs these on the webui's gradio 3.41.2; .ci/run runs them again in the Forge (4.40) and
current-release venvs, where `Blocks`/`launch()` take different keywords (theme/css moved to `launch()` in
gradio 6, `show_api` is gone from `launch()`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import gradio as gr

from lib_stylemix.ui.app import accepts, build_standalone_app, launch_app

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_accepts_reads_the_real_signature():
    def launch(a, *, server_port=None, **kwargs):
        return a

    assert accepts(launch, "server_port") and accepts(launch, "a")
    assert not accepts(launch, "show_api")  # **kwargs does not count: gradio would only warn and drop it
    assert not accepts(len, "anything")
    assert accepts(gr.Blocks.launch, "server_name")


def test_standalone_app_builds_without_warnings_from_our_code(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = build_standalone_app(tmp_path / "Lora")
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught if "lib_stylemix" in w.filename]
    assert ours == []
    ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    assert {"stylemix_panel_pool", "stylemix_panel_dataset", "stylemix_pool_load"} <= ids
    # theme and CSS go where this gradio takes them: the constructor, or launch() (gradio 6)
    extras = app.stylemix_launch_kwargs
    assert set(extras) == ({"theme", "css"} - {k for k in ("theme", "css") if accepts(gr.Blocks.__init__, k)})


def test_launch_app_drops_keywords_this_gradio_does_not_take(tmp_path):
    app = build_standalone_app(tmp_path / "Lora")
    port = free_port()
    launch_app(app, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               show_api=False, no_such_option=1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as response:
            config = json.loads(response.read())
    finally:
        app.close()
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert "stylemix_panel_pool" in ids and "stylemix_pool_load" in ids


def test_ui_command_serves_the_pool_panel(tmp_path):
    """`python -m lib_stylemix ui` as a user starts it: the page and the Pool panel's config are served."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "lib_stylemix", "ui", "--port", str(port),
                             "--lora-dir", str(tmp_path / "Lora")], cwd=REPO, env=env, stdout=log, stderr=log)
    try:
        deadline, page = time.monotonic() + 120, None
        while page is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode("utf-8", "replace")
            except OSError:
                time.sleep(0.5)
        assert page is not None, (tmp_path / "ui.log").read_text()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as response:
            config = json.loads(response.read())
        assert config["title"] == "StyleMix"
        assert "stylemix_panel_pool" in {c.get("props", {}).get("elem_id") for c in config["components"]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
