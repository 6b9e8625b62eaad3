"""The Train panel: sd-scripts check, per-style jobs, queue with live progress, log tail and cancel."""

from __future__ import annotations

import time
from pathlib import Path

from lib_stylemix.ui import train_logic as logic
from lib_stylemix.ui.common import attempt, from_settings, message_html, table
from lib_stylemix.ui.host import Host

POLL_S = 1.0


def build_train_panel(host: Host) -> None:
    """Add the Train panel. The queue is the host's (one per app, like the GPU), not per browser session."""
    import gradio as gr

    settings = host.settings()
    service = logic.TrainingService.for_file(Path(settings.training_output_dir) / logic.QUEUE_FILE,
                                             host.gpu_handoff())
    gr.Markdown("Train one LoRA per style with kohya-ss/sd-scripts (run as a separate process; the webui "
                "frees the GPU while it trains). Jobs wait in a queue that survives restarts.")
    status = gr.HTML(elem_id="stylemix_train_status")
    with gr.Row():
        sd_folder = from_settings(gr.Textbox(label="sd-scripts folder", value=settings.sd_scripts_dir, scale=3,
                                             elem_id="stylemix_train_sd_scripts"))
        sd_python = from_settings(gr.Textbox(label="sd-scripts Python (empty: its venv)",
                                             value=settings.sd_scripts_python, scale=2,
                                             elem_id="stylemix_train_python"))
        check_btn = gr.Button("Check", scale=1, elem_id="stylemix_train_check")
    report = gr.Textbox(label="sd-scripts check", lines=4, interactive=False, elem_id="stylemix_train_report")
    with gr.Row():
        dataset = gr.Textbox(label="Style dataset folder (train_data_dir from Restyle)", scale=3,
                             elem_id="stylemix_train_dataset")
        style = gr.Textbox(label="Style name (empty: from the folder)", scale=2, elem_id="stylemix_train_style")
    # Read when used, not when the UI is built: the webui loads its checkpoint after building the tabs.
    with gr.Row():
        base_model = from_settings(gr.Textbox(label="Base model checkpoint",
                                              placeholder="empty: the webui's current checkpoint", scale=5,
                                              elem_id="stylemix_train_base_model"))
        base_refresh = gr.Button("Use current checkpoint", scale=1, elem_id="stylemix_train_base_model_refresh")
    with gr.Row():
        epochs = gr.Slider(1, 100, value=20, step=1, label="Training epochs", elem_id="stylemix_train_epochs")
        dim = gr.Slider(1, 256, value=32, step=1, label="Rank (network_dim)", elem_id="stylemix_train_dim")
        alpha = gr.Slider(1, 256, value=16, step=1, label="Alpha", elem_id="stylemix_train_alpha")
        lr = gr.Number(label="Learning rate", value=1e-4, elem_id="stylemix_train_lr")
    with gr.Row():
        add_btn = gr.Button("Add to queue", elem_id="stylemix_train_add")
        start_btn = gr.Button("Start / resume queue", variant="primary", elem_id="stylemix_train_start")
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="stylemix_train_cancel")
        refresh_btn = gr.Button("Refresh queue", elem_id="stylemix_train_refresh")
    with gr.Row():
        remove_id = gr.Textbox(label="Queue entry id", scale=3, elem_id="stylemix_train_remove_id")
        remove_btn = gr.Button("Remove entry", scale=1, elem_id="stylemix_train_remove")
    queue_table = gr.Dataframe(headers=logic.QUEUE_HEADERS, interactive=False, wrap=True, label="Queue",
                         elem_id="stylemix_train_queue")
    progress_line = gr.Textbox(label="Training progress", interactive=False, elem_id="stylemix_train_progress")
    log = gr.Textbox(label="Training log tail", lines=12, max_lines=12, interactive=False, elem_id="stylemix_train_log")

    def rows():
        out, err = attempt(service.rows, "read training queue")
        return table(out if err is None else [], logic.QUEUE_HEADERS)

    def on_check(folder, python):
        out, err = attempt(lambda: logic.check(folder, python, host.settings()), "sd-scripts check")
        if err:
            return err, ""
        ok, text = out
        return message_html("sd-scripts is ready." if ok else "sd-scripts has problems (see below).",
                            "ok" if ok else "error"), text

    def current_checkpoint() -> str:
        checkpoint = host.current_checkpoint()
        return str(checkpoint) if checkpoint else ""

    def on_base_refresh():
        found = current_checkpoint()
        if not found:
            return gr.update(), message_html("The webui has no checkpoint loaded; type the file to train on.", "warn")
        return found, ""

    def on_add(folder, python, dataset_dir, style_name, base_value, epochs_value, dim_value, alpha_value, lr_value):
        def work():
            output_root = host.lora_registry().folder() / "stylemix"
            base = (base_value or "").strip() or current_checkpoint()
            return service.add(folder, python, dataset_dir, base, style_name, host.settings(), output_root,
                               max_train_epochs=int(epochs_value), network_dim=int(dim_value),
                               network_alpha=float(alpha_value), learning_rate=float(lr_value))

        msg, err = attempt(work, "queue training")
        return err or message_html(msg, "ok"), rows()

    def on_remove(entry_id):
        msg, err = attempt(lambda: service.remove(entry_id or ""), "remove queue entry")
        return err or message_html(msg, "ok"), rows()

    def on_start(progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        msg, err = attempt(service.start, "start training")
        if err:
            yield err, rows(), gr.update(), gr.update()
            return
        yield message_html(msg, "ok"), rows(), "", ""
        noted = ""
        while service.running():
            time.sleep(POLL_S)
            fraction, line = service.progress_text()
            if fraction is not None:
                progress(fraction, desc=line)
            note = service.handoff_note()
            status_update = gr.update()
            if note and note != noted:  # e.g. a CPU-only webui: handing over frees nothing, RAM need stated
                noted = note
                status_update = message_html(f"{msg} GPU hand-off: {note}.", "warn" if "frees no" in note else "ok")
            yield status_update, rows(), line, service.log_tail()
        _, line = service.progress_text()
        kind = "error" if service.error else "ok"
        yield message_html(f"Queue finished: {line}", kind), rows(), line, service.log_tail()

    def on_refresh():
        out, err = attempt(lambda: (service.progress_text()[1], service.log_tail()), "read training queue")
        if err:
            return err, rows(), gr.update(), gr.update()
        line, tail = out
        return "", rows(), line, tail

    def on_cancel():
        return message_html(service.cancel(), "warn")

    check_btn.click(on_check, [sd_folder, sd_python], [status, report])
    base_refresh.click(on_base_refresh, [], [base_model, status])
    add_btn.click(on_add, [sd_folder, sd_python, dataset, style, base_model, epochs, dim, alpha, lr],
                  [status, queue_table])
    remove_btn.click(on_remove, [remove_id], [status, queue_table])
    start_btn.click(on_start, [], [status, queue_table, progress_line, log])
    cancel_btn.click(on_cancel, [], [status], queue=False)
    refresh_btn.click(on_refresh, [], [status, queue_table, progress_line, log])
