"""The StyleMix tab (inside the webui) and the standalone app, assembled from the panels.

`build_tab(host)` is what the webui's `on_ui_tabs` callback shows; `build_standalone_app(lora_dir)` is what
`python -m lib_stylemix ui` serves. Both build the same panels; a panel that needs something the host
cannot do (generate images) shows the host's reason instead of buttons that would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lib_stylemix.ui.host import Host, StandaloneHost

if TYPE_CHECKING:
    import gradio as gr

TAB_TITLE = "StyleMix"
TAB_ELEM_ID = "stylemix"


def _unavailable(reason: str) -> Callable[[Host], None]:
    def build(host: Host) -> None:
        import gradio as gr

        gr.Markdown(f"**Not available here.** {reason}")

    return build


def _panels(host: Host, standalone: bool) -> list[tuple[str, str, Callable[[Host], None]]]:
    """(title, elem_id, builder) for each panel, in workflow order."""
    from lib_stylemix.ui.dataset_panel import build_dataset_panel
    from lib_stylemix.ui.pool_panel import build_pool_panel

    reason = host.can_generate()
    if standalone:
        restyle = train = epochs = _unavailable(reason or "This panel needs the webui.")
    else:
        from lib_stylemix.ui.epochs_panel import build_epochs_panel
        from lib_stylemix.ui.restyle_panel import build_restyle_panel
        from lib_stylemix.ui.train_panel import build_train_panel

        restyle = _unavailable(reason) if reason else build_restyle_panel
        epochs = _unavailable(reason) if reason else build_epochs_panel
        train = build_train_panel
    return [
        ("Dataset", "stylemix_panel_dataset", build_dataset_panel),
        ("Restyle", "stylemix_panel_restyle", restyle),
        ("Train", "stylemix_panel_train", train),
        ("Epochs", "stylemix_panel_epochs", epochs),
        ("Pool", "stylemix_panel_pool", build_pool_panel),
    ]


def _build(host: Host, *, standalone: bool, theme: object = None) -> gr.Blocks:
    import gradio as gr

    kwargs = {"theme": theme} if theme is not None else {}
    with gr.Blocks(analytics_enabled=False, title=TAB_TITLE, **kwargs) as blocks:
        with gr.Tabs(elem_id="stylemix_tabs"):
            for title, elem_id, build in _panels(host, standalone):
                with gr.Tab(title, elem_id=elem_id):
                    build(host)
        gr.Markdown(f"StyleMix · host: {host.label}", elem_id="stylemix_footer")
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
    return _build(host or StandaloneHost(lora_dir), standalone=True, theme=theme)
