"""The Epochs panel: epoch × strength grid of a training run, pick the best cell (gradio wiring only).

No `from __future__ import annotations` here: gradio finds the `gr.SelectData` parameter of a handler by
evaluating its annotation, which must therefore be a real class, not a string.
"""

from pathlib import Path
from typing import Any

from lib_stylemix.epochs import format_weight
from lib_stylemix.seams import NeverCancel
from lib_stylemix.ui import epochs_logic as logic
from lib_stylemix.ui import pool_logic
from lib_stylemix.ui.common import AnyCancel, GradioProgress, attempt, from_settings, message_html
from lib_stylemix.ui.host import Host
from lib_stylemix.ui.science_panel import build_epoch_suggestion


def build_epochs_panel(host: Host, pool_state: Any = None) -> None:
    """Add the Epochs panel; a recorded choice is also loaded into the Pool panel's session (`pool_state`)."""
    import gradio as gr

    settings = host.settings()
    state = gr.State(None)
    pool_state = pool_state if pool_state is not None else gr.State(None)
    gr.Markdown("Compare the epochs of a training run at several strengths with fixed prompts and seeds. "
                "Click the best cell, then save: the strength goes into the LoRA's webui metadata "
                "(`<name>.json`, other keys kept) and the file joins the pool.")
    status = gr.HTML(elem_id="stylemix_epochs_status")
    with gr.Row():
        folder = from_settings(gr.Textbox(label="LoRA folder with the training run",
                                          value=str(host.lora_registry().folder()), scale=3,
                                          elem_id="stylemix_epochs_folder"))
        run = gr.Dropdown(label="Training run", choices=[], scale=2, elem_id="stylemix_epochs_run")
        find_btn = gr.Button("Find runs", scale=1, elem_id="stylemix_epochs_find")
    with gr.Row():
        strengths = from_settings(gr.Textbox(label="Strengths",
                                             value=", ".join(format_weight(s) for s in settings.epoch_strengths),
                                             elem_id="stylemix_epochs_strengths"))
        seeds = from_settings(gr.Textbox(label="Epoch grid seeds",
                                         value=", ".join(str(s) for s in settings.preview_seeds),
                                         elem_id="stylemix_epochs_seeds"))
    prompts = from_settings(gr.Textbox(label="Epoch grid prompts (one per line)", lines=3,
                                       value="\n".join(settings.preview_prompts), elem_id="stylemix_epochs_prompts"))
    with gr.Row():
        render_btn = gr.Button("Render grid", variant="primary", elem_id="stylemix_epochs_render")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stylemix_epochs_stop")
    cells = gr.Gallery(label="Cells (row = epoch, column = strength) — click the best", columns=4, height=560,
                       object_fit="contain", elem_id="stylemix_epochs_cells")
    with gr.Row():
        picked = gr.Textbox(label="Picked epoch", interactive=False, elem_id="stylemix_epochs_picked")
        strength = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Preferred strength",
                             elem_id="stylemix_epochs_strength")
        activation = gr.Textbox(label="Activation text (optional)", elem_id="stylemix_epochs_activation")
        save_btn = gr.Button("Save choice", variant="primary", elem_id="stylemix_epochs_save")
    # a big run makes a tall grid PNG: bounded here (the saved file keeps every pixel)
    grid = gr.Image(label="Epoch grid", type="pil", interactive=False, height=640, elem_id="stylemix_epochs_grid")
    build_epoch_suggestion(host, state)  # style-distance ranking next to the grid (Style science)

    def session_of(value) -> logic.EpochsSession:
        return value if isinstance(value, logic.EpochsSession) else logic.EpochsSession()

    def on_find(path):
        names, err = attempt(lambda: logic.runs(path), "find runs")
        if err:
            return err, gr.update(choices=[], value=None)
        msg = f"{len(names)} run(s) found." if names else "No LoRA files in this folder."
        return message_html(msg, "ok"), gr.update(choices=names, value=names[0] if names else None)

    def on_render(value, path, run_name, strengths_text, prompts_text, seeds_text, progress=gr.Progress()):  # noqa: B008
        sess = session_of(value)

        def work(cancel):
            return logic.render(sess, path, run_name, strengths_text, prompts_text, seeds_text, host.settings(),
                                host.txt2img_generator(), progress=GradioProgress(progress, host.progress()),
                                cancel=cancel)

        with sess.job.running() as flag:
            out, err = attempt(lambda: work(AnyCancel([flag, host.cancel_token()])), "epoch grid")
        if err:
            return sess, err, gr.update(), gr.update()
        text, items, image, _ = out
        return sess, message_html(text, "ok"), items, image

    def on_stop(value):
        if isinstance(value, logic.EpochsSession):
            value.job.stop()
        return message_html("Stopping after the current image…", "warn")

    def on_pick(value, evt: gr.SelectData):
        sess = session_of(value)
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        out, err = attempt(lambda: logic.pick(sess, int(index)), "pick cell")
        if err:
            return sess, err, gr.update(), gr.update()
        file, chosen = out
        return sess, message_html(f"Picked {file.name}, {file.label}, strength {format_weight(chosen)}.", "ok"), \
            f"{file.name} ({file.label})", chosen

    def on_save(value, pool_value, strength_value, activation_text, progress=gr.Progress()):  # noqa: B008
        sess = session_of(value)
        pool_sess = pool_value if isinstance(pool_value, pool_logic.PoolSession) else pool_logic.PoolSession()

        def work():
            path, sidecar = logic.record_choice(sess, strength_value, activation_text or "", host.checkpoint_arch())
            pool_logic.load_sources(pool_sess, [path], cache_dir=Path(host.settings().pool_output_dir) / "kernel_cache",
                                    progress=GradioProgress(progress), cancel=NeverCancel())
            host.lora_registry().refresh()
            return path, sidecar

        out, err = attempt(work, "save epoch choice")
        if err:
            return sess, pool_sess, err
        path, sidecar = out
        return sess, pool_sess, message_html(f"Wrote {sidecar}; {path.name} is in the pool (Pool tab → Refresh).",
                                             "ok")

    find_btn.click(on_find, [folder], [status, run])
    render_btn.click(host.wrap_gpu(on_render), [state, folder, run, strengths, prompts, seeds],
                     [state, status, cells, grid])
    stop_btn.click(on_stop, [state], [status], queue=False)
    cells.select(on_pick, [state], [state, status, picked, strength])
    save_btn.click(on_save, [state, pool_state, strength, activation], [state, pool_state, status])
