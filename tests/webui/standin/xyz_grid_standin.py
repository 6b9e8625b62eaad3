"""scripts/xyz_grid.py essentials: AxisOption, axis_options, the X→Y→Z apply order per cell."""

import copy

from modules import scripts


def format_value_add_label(p, opt, x):
    return f"{opt.label}: {x}"


def format_value(p, opt, x):
    return x


class AxisOption:
    def __init__(
        self,
        label,
        type,
        apply,
        format_value=format_value_add_label,
        confirm=None,
        cost=0.0,
        choices=None,
        prepare=None,
    ):
        self.label = label
        self.type = type
        self.apply = apply
        self.format_value = format_value
        self.confirm = confirm
        self.cost = cost
        self.prepare = prepare
        self.choices = choices


class AxisOptionTxt2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = False


def apply_prompt(p, x, xs):
    p.prompt = p.prompt.replace(xs[0], x)


axis_options = [
    AxisOption("Nothing", str, lambda p, x, xs: None, format_value=format_value),
    AxisOption("Prompt S/R", str, apply_prompt, format_value=format_value),
]


def cell_prompts(p, axes):
    """The prompt of every cell for axes [(AxisOption, values)] applied in order, as xyz_grid does per cell."""
    results = []

    def walk(level, pc):
        if level == len(axes):
            results.append(pc.prompt)
            return
        option, values = axes[level]
        if option.confirm:
            option.confirm(pc, [option.type(v) for v in values])
        for value in values:
            cell = copy.copy(pc)
            option.apply(cell, option.type(value), values)
            walk(level + 1, cell)

    walk(0, p)
    return results


class Script(scripts.Script):
    def title(self):
        return "X/Y/Z plot"
