"""The Dataset panel: prepare a folder, edit descriptions, check canny maps (gradio wiring only)."""

from __future__ import annotations

from lib_stylemix.dataset.images import CROP_MODES
from lib_stylemix.seams import NeverCancel
from lib_stylemix.ui import dataset_logic as logic
from lib_stylemix.ui.common import GradioProgress, SessionJob, attempt, message_html, table, table_rows, thumbnails
from lib_stylemix.ui.host import Host


def build_dataset_panel(host: Host) -> None:
    """Add the Dataset panel's components and events to the enclosing gradio Blocks."""
    import gradio as gr

    settings = host.settings()
    job = gr.State(None)
    gr.Markdown("Prepare a folder of images as a consistent set (cropped copies plus an editable "
                "`images.json`), then check that the canny edge maps give ControlNet something to follow. "
                "Your source folder is only read.")
    status = gr.HTML(elem_id="stylemix_dataset_status")
    with gr.Tabs(elem_id="stylemix_dataset_tabs"):
        with gr.Tab("Prepare", elem_id="stylemix_dataset_tab_prepare"):
            with gr.Row():
                source = gr.Textbox(label="Source image folder", elem_id="stylemix_dataset_source")
                output = gr.Textbox(label="Output folder (new)", elem_id="stylemix_dataset_output",
                                    placeholder=f"empty: {settings.dataset_output_dir}/<source folder name>")
            with gr.Row():
                size = gr.Textbox(label="Size (N or WIDTHxHEIGHT)", value=f"{settings.width}x{settings.height}",
                                  elem_id="stylemix_dataset_size")
                crop = gr.Radio(list(CROP_MODES), value="center", label="Crop", elem_id="stylemix_dataset_crop")
                upscale = gr.Checkbox(label="Allow upscaling small images", value=False,
                                      elem_id="stylemix_dataset_upscale")
            with gr.Row():
                prepare_btn = gr.Button("Prepare", variant="primary", elem_id="stylemix_dataset_prepare")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stylemix_dataset_stop")
        with gr.Tab("Descriptions", elem_id="stylemix_dataset_tab_descriptions"):
            with gr.Row():
                folder = gr.Textbox(label="Prepared image folder", scale=4, elem_id="stylemix_dataset_folder")
                open_btn = gr.Button("Open", scale=1, elem_id="stylemix_dataset_open")
            descriptions = gr.Dataframe(headers=logic.DESCRIPTION_HEADERS, datatype=["str", "str", "str"],
                                        interactive=True, wrap=True, label="Descriptions (edit the middle column)",
                                        elem_id="stylemix_dataset_descriptions")
            save_btn = gr.Button("Save descriptions", variant="primary", elem_id="stylemix_dataset_save")
        with gr.Tab("Canny check", elem_id="stylemix_dataset_tab_canny"):
            with gr.Row():
                low = gr.Slider(1, 254, value=settings.canny_low, step=1, label="Low threshold",
                                elem_id="stylemix_dataset_canny_low")
                high = gr.Slider(2, 255, value=settings.canny_high, step=1, label="High threshold",
                                 elem_id="stylemix_dataset_canny_high")
                auto = gr.Checkbox(label="Automatic thresholds per image (median based)", value=False,
                                   elem_id="stylemix_dataset_canny_auto")
            with gr.Row():
                image_name = gr.Dropdown(label="Live preview of one image (open the folder first)", choices=[],
                                         elem_id="stylemix_dataset_canny_image")
                sheet_btn = gr.Button("Contact sheet of all images", variant="primary",
                                      elem_id="stylemix_dataset_canny_sheet_btn")
            with gr.Row():
                single = gr.Image(label="Edge map", type="pil", interactive=False,
                                  elem_id="stylemix_dataset_canny_single")
                sheet = gr.Image(label="Contact sheet", type="pil", interactive=False,
                                 elem_id="stylemix_dataset_canny_sheet")
    gallery = gr.Gallery(label="Images", columns=6, height="auto", elem_id="stylemix_dataset_gallery")

    def session_job(value):
        return value if isinstance(value, SessionJob) else SessionJob()

    def on_prepare(state, src, dst, size_text, crop_mode, allow, progress=gr.Progress()):  # noqa: B008
        state = session_job(state)
        with state.running() as cancel:
            out, err = attempt(lambda: logic.prepare(src, dst, size_text, crop_mode, allow,
                                                     output_root=host.settings().dataset_output_dir,
                                                     progress=GradioProgress(progress), cancel=cancel), "prepare")
        if err:
            return state, err, gr.update(), gr.update(), gr.update(), gr.update()
        summary, images, rows, used = out
        names = [row[0] for row in rows]
        return (state, message_html(summary, "ok"), thumbnails(images), table(rows, logic.DESCRIPTION_HEADERS),
                used, gr.update(choices=names, value=names[0] if names else None))

    def on_stop(state):
        if isinstance(state, SessionJob):
            state.stop()
        return message_html("Stopping after the current image…", "warn")

    def on_open(path):
        out, err = attempt(lambda: logic.load_descriptions(path), "open folder")
        if err:
            return err, gr.update(), gr.update(), gr.update()
        summary, images, rows = out
        names = [row[0] for row in rows]
        return (message_html(summary, "ok"), thumbnails(images), table(rows, logic.DESCRIPTION_HEADERS),
                gr.update(choices=names, value=names[0] if names else None))

    def on_save(path, table):
        msg, err = attempt(lambda: logic.save_descriptions(path, table_rows(table)), "save descriptions")
        return err or message_html(msg, "ok")

    def on_preview(path, name, lo, hi, use_auto):
        if not name:
            return gr.update(), gr.update()
        out, err = attempt(lambda: logic.canny_preview(path, name, lo, hi, use_auto), "canny preview")
        if err:
            return err, gr.update()
        image, text = out
        return message_html(text, "warn" if "too " in text else "ok"), image

    def on_sheet(path, lo, hi, use_auto, progress=gr.Progress()):  # noqa: B008
        out, err = attempt(lambda: logic.canny_sheet(path, lo, hi, use_auto, progress=GradioProgress(progress),
                                                     cancel=NeverCancel()), "contact sheet")
        if err:
            return err, gr.update()
        image, text = out
        return message_html(text, "ok"), image

    prepare_btn.click(on_prepare, [job, source, output, size, crop, upscale],
                      [job, status, gallery, descriptions, folder, image_name])
    stop_btn.click(on_stop, [job], [status], queue=False)
    open_btn.click(on_open, [folder], [status, gallery, descriptions, image_name])
    folder.submit(on_open, [folder], [status, gallery, descriptions, image_name])
    save_btn.click(on_save, [folder, descriptions], [status])
    preview_inputs = [folder, image_name, low, high, auto]
    for trigger in (image_name, low, high, auto):
        trigger.change(on_preview, preview_inputs, [status, single])
    sheet_btn.click(on_sheet, [folder, low, high, auto], [status, sheet])
