class OptionInfo:
    def __init__(
        self,
        default=None,
        label="",
        component=None,
        component_args=None,
        onchange=None,
        section=None,
        refresh=None,
        comment_before="",
        comment_after="",
        infotext=None,
        restrict_api=False,
        category_id=None,
    ):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.refresh = refresh
        self.category_id = category_id
        self.comment_after = comment_after
        self.reload_ui = False

    def needs_reload_ui(self):
        """A1111/Forge: adds "(requires Reload UI)" after the label; returns the option for chaining."""
        self.reload_ui = True
        self.comment_after += " (requires Reload UI)"
        return self


class Options:
    """`opts`: values in `data`, registered options in `data_labels`; attribute reads fall back to defaults."""

    def __init__(self, data_labels=None):
        super().__setattr__("data_labels", dict(data_labels or {}))
        super().__setattr__("data", {k: v.default for k, v in self.data_labels.items()})

    def add_option(self, key, info):
        self.data_labels[key] = info
        if key not in self.data:
            self.data[key] = info.default

    def set(self, key, value):
        """As the Settings page saves a value: store it, then run the option's onchange; if that raises, the
        webui shows the error and puts the old value back (modules/options.py::Options.set)."""
        old = self.data.get(key)
        if old == value:
            return False
        self.data[key] = value
        info = self.data_labels.get(key)
        if info is not None and info.onchange is not None:
            try:
                info.onchange()
            except Exception:
                self.data[key] = old
                return False
        return True

    def __getattr__(self, item):
        if item in self.data:
            return self.data[item]
        if item in self.data_labels:
            return self.data_labels[item].default
        raise AttributeError(item)

    def __setattr__(self, key, value):
        self.data[key] = value
