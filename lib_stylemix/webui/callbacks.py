"""Registration with the webui: the StyleMix tab, the settings section and the X/Y/Z axes.

`scripts/stylemix.py` calls `register()` at import. The webui clears all callbacks before it re-executes
the script modules (startup and Reload UI), so registering on every import is right; the check against
our callbacks already present only guards against a second import within one load.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lib_stylemix import threads
from lib_stylemix.webui.options import apply_compute_threads, register_settings
from lib_stylemix.webui.state import host_generating
from lib_stylemix.webui.xyz import register_xyz_axes

log = logging.getLogger(__name__)
TAB_TITLE = "StyleMix"
TAB_ID = "stylemix"


def make_ui_tabs(extension_dir: Path | None):
    """The `on_ui_tabs` callback: builds the tab's Blocks (from `lib_stylemix.ui`) around a `WebuiHost`."""

    def stylemix_ui_tabs():
        from lib_stylemix.ui.app import build_tab
        from lib_stylemix.webui.host import WebuiHost

        return [(build_tab(WebuiHost(extension_dir)), TAB_TITLE, TAB_ID)]

    return stylemix_ui_tabs


def stylemix_ui_settings() -> None:
    register_settings()


def stylemix_before_ui() -> None:
    if register_xyz_axes():
        log.info("StyleMix: X/Y/Z plot axes added")


def _registered(script_callbacks, kind: str, name: str) -> bool:
    entries = getattr(script_callbacks, "callback_map", {}).get(f"callbacks_{kind}", [])
    for entry in entries:
        callback = getattr(entry, "callback", None)
        if getattr(callback, "__module__", None) == __name__ and getattr(callback, "__name__", None) == name:
            return True
    return False


def register(extension_dir: str | Path | None = None) -> None:
    """Register our callbacks once per load of the script modules, and wire the thread rule to the webui."""
    from modules import script_callbacks

    apply_compute_threads()  # the stored setting; later changes arrive through the option's onchange
    threads.set_host_busy_probe(host_generating)

    folder = Path(extension_dir) if extension_dir else None
    if not _registered(script_callbacks, "ui_tabs", "stylemix_ui_tabs"):
        script_callbacks.on_ui_tabs(make_ui_tabs(folder))
    if not _registered(script_callbacks, "ui_settings", "stylemix_ui_settings"):
        script_callbacks.on_ui_settings(stylemix_ui_settings)
    if not _registered(script_callbacks, "before_ui", "stylemix_before_ui"):
        script_callbacks.on_before_ui(stylemix_before_ui)
