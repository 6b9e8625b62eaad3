"""modules/scripts.py essentials: Script, AlwaysVisible, scripts_data, ScriptRunner, load_scripts, basedir()."""

import importlib.util
import os
import re
import sys
from collections import namedtuple

AlwaysVisible = object()
ScriptClassData = namedtuple("ScriptClassData", ["script_class", "path", "basedir", "module"])

scripts_data = []
current_basedir = os.getcwd()
current_basedir_path = None
scripts_txt2img = None


def basedir():
    """Only correct while a script file is being executed by load_scripts()."""
    return current_basedir


class Script:
    filename = None
    args_from = None
    args_to = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    tabname = None
    group = None
    controls = None
    infotext_fields = None
    paste_field_names = None
    setup_for_ui_only = False

    def title(self):
        raise NotImplementedError()

    def ui(self, is_img2img):
        pass

    def show(self, is_img2img):
        return True

    def run(self, p, *args):
        pass

    def setup(self, p, *args):
        pass

    def before_process(self, p, *args):
        pass

    def process(self, p, *args):
        pass

    def elem_id(self, item_id):
        # the tab name is part of the id only for scripts shown the same way in txt2img and img2img
        same_in_both = self.show(True) == self.show(False)
        tab = ("img2img_" if self.is_img2img else "txt2img_") if same_in_both else ""
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))
        return f"script_{tab}{title}_{item_id}"


class ScriptBuiltinUI(Script):
    setup_for_ui_only = True


class SeedScript(ScriptBuiltinUI):
    """Like processing_scripts/seed.py: setup() writes p.seed from its UI slot (skipped when p.is_api)."""

    def title(self):
        return "Seed"

    def show(self, is_img2img):
        return AlwaysVisible

    def setup(self, p, seed=-1):
        p.seed = seed


class FakeControl:
    def __init__(self, value):
        self.value = value


def load_scripts(files):
    """Execute each (path, basedir) like the webui: bare-name module, not in sys.modules, basedir on sys.path."""
    global current_basedir, current_basedir_path
    from modules import script_callbacks

    scripts_data.clear()
    script_callbacks.clear_callbacks()
    for path, base in files:
        saved_path = list(sys.path)
        sys.path.insert(0, base)
        current_basedir = base
        current_basedir_path = path
        try:
            spec = importlib.util.spec_from_file_location(os.path.basename(path), path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path[:] = saved_path  # A1111 restores sys.path
            current_basedir = os.getcwd()
        register_module(module, path, base)


def register_module(module, path, base):
    for value in list(vars(module).values()):
        defined_here = isinstance(value, type) and value.__module__ == module.__name__
        if defined_here and issubclass(value, Script):
            scripts_data.append(ScriptClassData(value, path, base, module))


class ScriptRunner:
    def __init__(self):
        self.scripts = []
        self.selectable_scripts = []
        self.alwayson_scripts = []
        self.titles = []

    def initialize_scripts(self, is_img2img, build_ui):
        """Instantiate every script, call ui() through `build_ui(script)` and give each its args slice."""
        builtin = SeedScript()
        builtin.is_img2img = is_img2img
        builtin.is_txt2img = not is_img2img
        builtin.controls = [FakeControl(-1)]
        candidates = [builtin]
        for data in scripts_data:
            script = data.script_class()
            script.filename = data.path
            script.is_img2img = is_img2img
            script.is_txt2img = not is_img2img
            visibility = script.show(is_img2img)
            if visibility == AlwaysVisible:
                script.alwayson = True
            elif not visibility:
                continue
            candidates.append(script)
        index = 1  # script_args[0] is the selected script index
        for script in candidates:
            if script is not builtin:
                script.controls = build_ui(script) or []
                for control in script.controls:  # ui-config keys of Script controls: customscript/<file>/...
                    control.custom_script_source = os.path.basename(script.filename or "")
            script.args_from = index
            script.args_to = index + len(script.controls)
            index = script.args_to
            self.scripts.append(script)
            (self.alwayson_scripts if script.alwayson else self.selectable_scripts).append(script)
        self.titles = [s.title() for s in self.selectable_scripts]

    def default_args(self, selected_title=None):
        args = [None] * max([1] + [s.args_to for s in self.scripts])
        args[0] = 0 if selected_title is None else self.titles.index(selected_title) + 1
        for script in self.scripts:
            args[script.args_from : script.args_to] = [getattr(c, "value", None) for c in script.controls]
        return tuple(args)  # the UI hands a tuple

    def setup_scrips(self, p, *, is_ui=True):
        for script in self.alwayson_scripts:
            if not is_ui and script.setup_for_ui_only:
                continue
            script.setup(p, *p.script_args[script.args_from : script.args_to])

    def before_process(self, p):
        for script in self.alwayson_scripts:
            script.before_process(p, *p.script_args[script.args_from : script.args_to])

    def process(self, p):
        for script in self.alwayson_scripts:
            script.process(p, *p.script_args[script.args_from : script.args_to])

    def run(self, p, *args):
        index = args[0]
        if index == 0:
            return None
        script = self.selectable_scripts[index - 1]
        return script.run(p, *args[script.args_from : script.args_to])
