"""modules/ui_loadsave.py essentials (A1111 1.10.1 = Forge): how `ui-config.json` freezes tab values.

Facts imitated (written from the behaviour, not the code):
- `add_block(block, path)` walks the block's children; every component with a label is tracked under
  `<path>/<label>/<field>` (the tab's path is its elem_id, e.g. "stylemix"; a Script's components get the
  prefix `customscript/<script file>/`). Components without a label are not tracked; buttons by their text.
- Tracked fields: `value` of Slider, Radio, Checkbox, Textbox, Number, Dropdown (plus `visible`, and a Slider's
  minimum/maximum/step); `selected` of a Tabs with an elem_id.
- A component with `do_not_save_to_config = True` is skipped entirely: neither stored nor restored.
- Key absent (or stored as null): the component's current value is stored. Key present: the stored value is
  set on the component (a Radio/Dropdown value must be one of its choices; a Textbox gets `str()`, a Number
  `float()`), whatever the code gave it. Two components with one label share one key: the first stores, the
  second receives the first one's value.
- `dump_defaults()` writes every stored key to the file at startup, so the first start freezes the values.
"""

import json
import os

import gradio as gr

VALUE_TYPES = (gr.Slider, gr.Radio, gr.Checkbox, gr.Textbox, gr.Number, gr.Dropdown)


def _choices(component):
    return [c[0] if isinstance(c, tuple) else c for c in getattr(component, "choices", None) or []]


class UiLoadsave:
    def __init__(self, filename):
        self.filename = filename
        self.ui_settings = {}
        self.component_mapping = {}
        self.shared_keys = []  # keys a second component landed on (it silently got the first one's value)
        if os.path.exists(filename):
            with open(filename, encoding="utf8") as file:
                self.ui_settings = json.load(file)

    def _apply(self, component, path, field):
        key = f"{path}/{field}"
        source = getattr(component, "custom_script_source", None)
        if source is not None:
            key = f"customscript/{source}/{key}"
        if getattr(component, "do_not_save_to_config", False):
            return
        saved = self.ui_settings.get(key)
        if saved is None:
            self.ui_settings[key] = getattr(component, field)
        else:
            if field == "value" and type(component) in (gr.Radio, gr.Dropdown):
                wanted = saved if isinstance(saved, list) else [saved]
                if not all(v in _choices(component) for v in wanted):
                    return
            if field == "value" and type(component) is gr.Textbox:
                saved = str(saved)
            if field == "value" and type(component) is gr.Number:
                saved = float(saved)
            setattr(component, field, saved)
        if field == "value" and key not in self.component_mapping:
            self.component_mapping[key] = component
        elif field == "value" and self.component_mapping[key] is not component:
            self.shared_keys.append(key)

    def add_component(self, path, component):
        kind = type(component)
        if kind in (*VALUE_TYPES, gr.Button) and component.visible:
            self._apply(component, path, "visible")
        if kind in VALUE_TYPES:
            self._apply(component, path, "value")
        if kind is gr.Slider:
            for field in ("minimum", "maximum", "step"):
                self._apply(component, path, field)
        if kind is gr.Tabs:
            self._apply(component, path, "selected")

    def add_block(self, block, path=""):
        if hasattr(block, "children"):
            if isinstance(block, gr.Tabs) and block.elem_id is not None:
                self.add_component(f"{path}/Tabs@{block.elem_id}", block)
            for child in block.children:
                self.add_block(child, path)
        elif getattr(block, "label", None) is not None:
            self.add_component(f"{path}/{block.label}", block)
        elif isinstance(block, gr.Button) and block.value is not None:
            self.add_component(f"{path}/{block.value}", block)

    def dump_defaults(self):
        with open(self.filename, "w", encoding="utf8") as file:
            json.dump(self.ui_settings, file, indent=4, ensure_ascii=False)
