from __future__ import annotations

import sys

from lib_stylemix.webui.script import TITLE


def _ours(webui, kind):
    return [
        e for e in webui.callbacks.callback_map[f"callbacks_{kind}"] if e.callback.__module__.startswith("lib_stylemix")
    ]


def test_script_file_registers_callbacks_once_per_load(webui):
    webui.load_scripts()
    for kind in ("ui_tabs", "ui_settings", "before_ui"):
        assert len(_ours(webui, kind)) == 1
    webui.load_scripts()  # Reload UI
    for kind in ("ui_tabs", "ui_settings", "before_ui"):
        assert len(_ours(webui, kind)) == 1
    assert "stylemix.py" not in sys.modules and "lib_stylemix.webui.script" in sys.modules


def test_script_is_selectable_in_txt2img_only(webui):
    webui.load_scripts()
    runner = webui.make_runner()
    assert TITLE in runner.titles
    ours = next(d for d in webui.scripts.scripts_data if d.path.endswith("stylemix.py"))
    script = ours.script_class()
    assert script.show(False) is True and script.show(True) is False
    assert ours.basedir == webui.stylemix_file[1]


def test_basedir_is_captured_while_loading(webui):
    webui.load_scripts()
    module = next(d.module for d in webui.scripts.scripts_data if d.path.endswith("stylemix.py"))
    assert webui.stylemix_file[1] == module.EXTENSION_DIR
    assert webui.scripts.basedir() != module.EXTENSION_DIR  # only right during import, hence captured
