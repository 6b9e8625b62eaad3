"""The Restyle panel: images × styles through ControlNet canny, started from the tab (gradio wiring only)."""

from __future__ import annotations

from pathlib import Path

from lib_stylemix.ui import dataset_logic, restyle_logic
from lib_stylemix.ui.common import (
    AnyCancel,
    GradioProgress,
    SessionJob,
    attempt,
    from_settings,
    message_html,
    thumbnails,
)
from lib_stylemix.ui.host import Host


def build_restyle_panel(host: Host) -> None:
    """Add the Restyle panel to the enclosing Blocks; generation runs through `host.wrap_gpu`."""
    import gradio as gr

    settings = host.settings()
    job = gr.State(None)
    gr.Markdown("Render every image of a prepared set in every style, guided by its canny edges (the same plan "
                "as the txt2img script *StyleMix: batch restyle*). Each plan gets its own run folder inside the "
                "output folder; the same plan again resumes its run where it left off.")
    status = gr.HTML(elem_id="stylemix_restyle_status")
    with gr.Row():
        with gr.Column(scale=3):
            folder = gr.Textbox(label="Image folder to restyle (a prepared set)", elem_id="stylemix_restyle_folder")
            styles = gr.Textbox(label="Styles to render (one per line)", lines=4, elem_id="stylemix_restyle_styles")
            template = from_settings(gr.Textbox(label="Prompt template ({style}, {description}, {trigger}, {image})",
                                                value=settings.default_template, elem_id="stylemix_restyle_template"))
            negative = from_settings(gr.Textbox(label="Negative prompt", value=settings.negative_prompt,
                                                elem_id="stylemix_restyle_negative"))
            with gr.Row():
                seed_policy = gr.Radio(restyle_logic.SEED_POLICIES, value="per-image", label="Seed policy",
                                       elem_id="stylemix_restyle_seed_policy")
                seed = gr.Number(label="Restyle seed", value=1234, precision=0, elem_id="stylemix_restyle_seed")
            with gr.Row():
                low = from_settings(gr.Slider(1, 254, value=settings.canny_low, step=1, label="Canny low",
                                              elem_id="stylemix_restyle_canny_low"))
                high = from_settings(gr.Slider(2, 255, value=settings.canny_high, step=1, label="Canny high",
                                               elem_id="stylemix_restyle_canny_high"))
            output = gr.Textbox(label="Restyle output folder (holds one run folder per plan)",
                                elem_id="stylemix_restyle_output",
                                placeholder=f"empty: {settings.restyle_output_dir}/<image folder name>")
            with gr.Row():
                plan_btn = gr.Button("Check plan", elem_id="stylemix_restyle_plan")
                run_btn = gr.Button("Restyle", variant="primary", elem_id="stylemix_restyle_run")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stylemix_restyle_stop")
        with gr.Column(scale=2):
            preview_name = gr.Dropdown(label="Canny preview of one image", choices=[],
                                       elem_id="stylemix_restyle_preview_image")
            preview = gr.Image(label="Edge map", type="pil", interactive=False, height=320,
                               elem_id="stylemix_restyle_preview")
    gallery = gr.Gallery(label="Restyled images", columns=6, height="auto", elem_id="stylemix_restyle_gallery")
    # a grid page is a whole picture: opened in the gallery's preview ("contain" in a 720 px high box, the other
    # pages as thumbnails below), never cropped to a grid tile, which gradio caps below the page's height; the
    # pages carry their own title, so no label badge over it (style.css keeps "contain" for the same id)
    grids = gr.Gallery(label="Images × styles grid pages", show_label=False, columns=4, height=720, preview=True,
                       object_fit="contain", elem_id="stylemix_restyle_grids")

    def on_folder(path):
        """List the folder's images for the live canny preview."""
        names, err = attempt(lambda: dataset_logic.image_names(path), "list images")
        if err:
            return gr.update(choices=[], value=None)
        return gr.update(choices=names, value=names[0] if names else None)

    def on_preview(path, name, lo, hi):
        if not name:
            return gr.update(), gr.update()
        out, err = attempt(lambda: dataset_logic.canny_preview(path, name, lo, hi, False), "canny preview")
        if err:
            return err, gr.update()
        image, text = out
        return message_html(text, "warn" if "too " in text else "ok"), image

    def plan_from(path, styles_text, template_text, negative_text, policy, seed_value, lo, hi):
        return restyle_logic.build_plan(path, styles_text, template_text, negative_text, policy, seed_value, lo, hi,
                                        host.settings())

    def on_plan(*values):
        plan, err = attempt(lambda: plan_from(*values), "restyle plan")
        return err or message_html(restyle_logic.plan_summary(plan), "ok")

    def on_run(state, *values, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        *plan_values, out_dir = values
        out_dir = (out_dir or "").strip() or restyle_logic.default_output(plan_values[0], settings.restyle_output_dir)
        state = state if isinstance(state, SessionJob) else SessionJob()

        def work(cancel):
            plan = plan_from(*plan_values)
            generator = host.restyle_generator()
            return restyle_logic.run_plan(plan, generator, out_dir, backend=host.label,
                                          progress=GradioProgress(progress, host.progress()), cancel=cancel)

        with state.running() as flag:
            out, err = attempt(lambda: work(AnyCancel([flag, host.cancel_token()])), "restyle")
        if err:
            return state, err, gr.update(), gr.update()
        _, summary, images, grid_paths = out
        pages = thumbnails([(p, Path(p).stem) for p in grid_paths], size=2048)
        return state, message_html(summary, "ok"), thumbnails(images), pages

    def on_stop(state):
        if isinstance(state, SessionJob):
            state.stop()
        return message_html("Stopping after the current image…", "warn")

    plan_inputs = [folder, styles, template, negative, seed_policy, seed, low, high]
    folder.submit(on_folder, [folder], [preview_name])
    folder.blur(on_folder, [folder], [preview_name])
    preview_name.change(on_preview, [folder, preview_name, low, high], [status, preview])
    for slider in (low, high):
        slider.release(on_preview, [folder, preview_name, low, high], [status, preview])
    plan_btn.click(on_plan, plan_inputs, [status])
    run_btn.click(host.wrap_gpu(on_run), [job, *plan_inputs, output], [job, status, gallery, grids])
    stop_btn.click(on_stop, [job], [status], queue=False)
