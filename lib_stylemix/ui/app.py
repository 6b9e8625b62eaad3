"""The StyleMix tab (inside the webui) and the standalone app, assembled from the panels.

`build_tab(host)` is what the webui's `on_ui_tabs` callback shows; `build_standalone_app(lora_dir)` is what
`python -m lib_stylemix ui` serves. Both build the same panels; a panel that needs something the host
cannot do (generate images) shows the host's reason instead of buttons that would fail.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib_stylemix.ui.host import Host, StandaloneHost

if TYPE_CHECKING:
    import gradio as gr

TAB_TITLE = "StyleMix"

# Status lines (`common.message_html`). Inside the webui these classes need matching rules in the extension's
# style.css (scoped to #tab_stylemix); without them the lines are plain text starting with "Error:" etc.
STANDALONE_CSS = """
.stylemix-msg { padding: 6px 10px; border-radius: 6px; margin: 2px 0; }
.stylemix-msg-ok { background: rgba(34, 160, 80, 0.12); border-left: 4px solid #22a050; }
.stylemix-msg-info { background: rgba(80, 120, 200, 0.12); border-left: 4px solid #5078c8; }
.stylemix-msg-warn { background: rgba(230, 160, 20, 0.15); border-left: 4px solid #e6a014; }
.stylemix-msg-error { background: rgba(220, 50, 50, 0.12); border-left: 4px solid #dc3232; }
#stylemix_pool_heatmap img, #stylemix_pool_lineage_plot img, #stylemix_pool_map img { object-fit: contain !important; }
#stylemix_pool_pairs { align-self: flex-start; }
"""


def _unavailable(reason: str) -> Callable[[], None]:
    def build() -> None:
        import gradio as gr

        gr.Markdown(f"**Not available here.** {reason}")

    return build


def _panels(host: Host, standalone: bool, pool_state: Any) -> list[tuple[str, str, Callable[[], None]]]:
    """(title, elem_id, builder) for each panel, in workflow order."""
    from lib_stylemix.ui.dataset_panel import build_dataset_panel
    from lib_stylemix.ui.pool_panel import build_pool_panel
    from lib_stylemix.ui.science_panel import build_science_panel

    reason = host.can_generate()
    restyle = epochs = train = _unavailable(reason or "This panel needs the webui.")
    if not standalone:
        from lib_stylemix.ui.epochs_panel import build_epochs_panel
        from lib_stylemix.ui.restyle_panel import build_restyle_panel
        from lib_stylemix.ui.train_panel import build_train_panel

        if reason is None:
            restyle = functools.partial(build_restyle_panel, host)
            epochs = functools.partial(build_epochs_panel, host, pool_state)
        train = functools.partial(build_train_panel, host)
    return [
        ("Dataset", "stylemix_panel_dataset", functools.partial(build_dataset_panel, host)),
        ("Restyle", "stylemix_panel_restyle", restyle),
        ("Train", "stylemix_panel_train", train),
        ("Epochs", "stylemix_panel_epochs", epochs),
        ("Pool", "stylemix_panel_pool", functools.partial(build_pool_panel, host, pool_state)),
        ("Style science", "stylemix_panel_science", functools.partial(build_science_panel, host, pool_state)),
    ]


def accepts(function: Callable[..., Any], name: str) -> bool:
    """Whether `function` takes the keyword `name`: gradio moved and removed keywords between majors (3.41 for
    A1111, 4.40 for Forge, today's release), so we ask the installed gradio instead of parsing version strings."""
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _split_appearance(appearance: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(for `Blocks()`, for `launch()`): gradio ≤5 takes theme/css in the constructor, gradio 6 in `launch()`."""
    import gradio as gr

    in_blocks = {k: v for k, v in appearance.items() if accepts(gr.Blocks.__init__, k)}
    at_launch = {k: v for k, v in appearance.items() if k not in in_blocks and accepts(gr.Blocks.launch, k)}
    return in_blocks, at_launch


def _build(host: Host, *, standalone: bool, appearance: dict[str, Any] | None = None) -> gr.Blocks:
    import gradio as gr

    in_blocks, at_launch = _split_appearance(appearance or {})
    with gr.Blocks(analytics_enabled=False, title=TAB_TITLE, **in_blocks) as blocks:
        pool_state = gr.State(None)
        with gr.Tabs(elem_id="stylemix_tabs"):
            for title, elem_id, build in _panels(host, standalone, pool_state):
                with gr.Tab(title, elem_id=elem_id):
                    build()
        gr.Markdown(f"StyleMix · host: {host.label}", elem_id="stylemix_footer")
    # What this gradio wants at launch instead (see `launch_app`).
    blocks.stylemix_launch_kwargs = at_launch  # type: ignore[attr-defined]
    return blocks


def build_tab(host: Host) -> gr.Blocks:
    """The StyleMix tab for a host (the webui adapter passes its `WebuiHost`)."""
    return _build(host, standalone=False)


def build_standalone_app(lora_dir: str | Path = "models/Lora", host: Host | None = None) -> gr.Blocks:
    """The Pool and Dataset panels as a plain gradio app; the other panels say they need the webui.

    The theme uses system fonts only, so the page loads nothing from the internet.
    """
    import gradio as gr

    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return _build(host or StandaloneHost(lora_dir), standalone=True,
                  appearance={"theme": theme, "css": STANDALONE_CSS})


def launch_app(blocks: gr.Blocks, **options: Any) -> Any:
    """`blocks.queue().launch(**options)` on any supported gradio.

    Options this gradio's `launch()` does not take are dropped (`show_api` is gone in newer gradio; where
    `footer_links` exists the footer is shown without the API link instead); the theme and CSS the constructor
    could not take (gradio 6) are passed here.
    """
    launch = blocks.queue().launch
    kwargs = {k: v for k, v in options.items() if accepts(launch, k)}
    if options.get("show_api") is False and "show_api" not in kwargs and accepts(launch, "footer_links"):
        kwargs["footer_links"] = ["gradio", "settings"]  # gradio 6: the footer without the API link
    kwargs.update(getattr(blocks, "stylemix_launch_kwargs", {}))
    return launch(**kwargs)
