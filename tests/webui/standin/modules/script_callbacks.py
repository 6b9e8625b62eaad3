from collections import namedtuple

ScriptCallback = namedtuple("ScriptCallback", ["script", "callback", "name"])

callback_map = {
    "callbacks_ui_tabs": [],
    "callbacks_ui_settings": [],
    "callbacks_before_ui": [],
    "callbacks_app_started": [],
}


def _add(kind, callback):
    from modules import scripts

    callback_map[kind].append(ScriptCallback(scripts.current_basedir_path, callback, None))


def clear_callbacks():
    for entries in callback_map.values():
        entries.clear()


def on_ui_tabs(callback, *, name=None):
    _add("callbacks_ui_tabs", callback)


def on_ui_settings(callback, *, name=None):
    _add("callbacks_ui_settings", callback)


def on_before_ui(callback, *, name=None):
    _add("callbacks_before_ui", callback)


def ui_tabs_callback():
    tabs = []
    for entry in callback_map["callbacks_ui_tabs"]:
        tabs += entry.callback() or []
    return tabs


def ui_settings_callback():
    for entry in callback_map["callbacks_ui_settings"]:
        entry.callback()


def before_ui_callback():
    for entry in callback_map["callbacks_before_ui"]:
        entry.callback()
