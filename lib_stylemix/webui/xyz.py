"""X/Y/Z plot axes "StyleMix: LoRA file" and "StyleMix: LoRA strength".

Registered from `on_before_ui` (every script module is loaded by then and no `ui()` has run), once per
load of the xyz_grid module: Reload UI re-executes that module with a fresh `axis_options`, and our check
by label keeps a second registration from adding duplicates.

Order independence: X, Y and Z are applied in turn to each cell's copy of `p`. Each apply records its
value on the copy, undoes what StyleMix did to the prompt before (our appended tag, or our edit of the
person's last tag) and renders once from that, so "file then strength" and "strength then file" give the
same prompt, and edits by other axes (Prompt S/R) in between are kept.
"""

from __future__ import annotations

from lib_stylemix.epochs.tags import format_weight, lora_tag, reweight_last_lora, with_lora
from lib_stylemix.errors import StyleMixError
from lib_stylemix.webui.registry import available_lora_names

FILE_LABEL = "StyleMix: LoRA file"
STRENGTH_LABEL = "StyleMix: LoRA strength"
XYZ_MODULE_NAMES = ("xyz_grid.py", "xy_grid.py", "scripts.xyz_grid")


def find_xyz_module():
    """The loaded X/Y/Z plot script module (root `scripts/xyz_grid.py` on A1111 and Forge), or None."""
    from modules import scripts

    for data in scripts.scripts_data:
        if data.script_class.__module__ in XYZ_MODULE_NAMES and hasattr(data.module, "axis_options"):
            return data.module
    return None


def _undo(p) -> str:
    prompt = p.prompt
    added = getattr(p, "_stylemix_added", None)
    if added:
        index = prompt.rfind(added)
        if index >= 0:
            prompt = (prompt[:index] + prompt[index + len(added) :]).rstrip()
    edited = getattr(p, "_stylemix_edited", None)
    if edited:
        new_text, old_text = edited
        index = prompt.rfind(new_text)
        if index >= 0:
            prompt = prompt[:index] + old_text + prompt[index + len(new_text) :]
    p._stylemix_added = None
    p._stylemix_edited = None
    return prompt


def _render(p) -> None:
    prompt = _undo(p)
    name = getattr(p, "_stylemix_lora", None)
    weight = getattr(p, "_stylemix_weight", None)
    if name:
        rendered = with_lora(prompt, name, 1.0 if weight is None else weight)
        p._stylemix_added = lora_tag(name, 1.0 if weight is None else weight)
    elif weight is not None:
        result = reweight_last_lora(prompt, weight)
        rendered = prompt
        if result is not None:
            rendered, old_tag, new_tag = result
            p._stylemix_edited = (new_tag, old_tag)  # so a later file axis can put the person's tag back
    else:
        rendered = prompt
    p.prompt = rendered


def apply_lora_file(p, x, xs) -> None:
    p._stylemix_lora = str(x).strip()
    _render(p)


def apply_lora_strength(p, x, xs) -> None:
    p._stylemix_weight = float(x)
    _render(p)


def format_lora_file(p, opt, x) -> str:
    return str(x)


def format_lora_strength(p, opt, x) -> str:
    return f"strength {format_weight(float(x))}"


def confirm_lora_files(p, xs) -> None:
    known = set(available_lora_names())
    if not known:
        return  # the Lora extension is off or not scanned yet: the webui reports unknown names itself
    missing = [str(x) for x in xs if str(x).strip() not in known]
    if missing:
        raise StyleMixError(f"{FILE_LABEL}: unknown LoRA name(s): {', '.join(missing)} (refresh the Lora tab?)")


def register_xyz_axes() -> bool:
    """Add our two axes to the loaded X/Y/Z plot, once. Returns True if they were added now."""
    module = find_xyz_module()
    if module is None:
        return False
    labels = {getattr(option, "label", None) for option in module.axis_options}
    if FILE_LABEL in labels:
        return False
    module.axis_options.extend(
        [
            module.AxisOption(
                FILE_LABEL,
                str,
                apply_lora_file,
                format_value=format_lora_file,
                confirm=confirm_lora_files,
                cost=0.5,
                choices=available_lora_names,
            ),
            module.AxisOption(STRENGTH_LABEL, float, apply_lora_strength, format_value=format_lora_strength),
        ]
    )
    return True
