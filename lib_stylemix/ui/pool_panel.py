"""The Pool panel: load, compare, merge, evolve, preview, keep, save and trace LoRAs (gradio wiring only).

No `from __future__ import annotations` here: gradio finds the `gr.SelectData` parameter of a handler by
evaluating its annotation, which must therefore be a real class, not a string.
"""

from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.ui import pool_logic as logic
from lib_stylemix.ui.common import (
    AnyCancel,
    GradioProgress,
    attempt,
    file_paths,
    from_settings,
    message_html,
    parse_float_list,
    parse_lines,
    table,
    table_rows,
)
from lib_stylemix.ui.host import Host


def build_pool_panel(host: Host, session: Any = None) -> None:
    """Add the Pool panel to the enclosing Blocks; `session` is a `gr.State` it may share with other panels."""
    import gradio as gr

    from lib_stylemix.pool import operators as evolve_operators
    from lib_stylemix.pool import scores as evolve_scores
    from lib_stylemix.pool import selection as evolve_selection

    session = session if session is not None else gr.State(None)
    gr.Markdown(
        "Load LoRA files, see how far apart they are, merge them exactly, or evolve new ones. "
        "Nothing is written until you merge, or keep and save a candidate."
    )
    status = gr.HTML(elem_id="stylemix_pool_status")
    with gr.Row():
        sources = from_settings(gr.Textbox(label="LoRA folder, files or glob patterns (one per line)", lines=2,
                                           scale=3, value=str(host.lora_registry().folder()),
                                           elem_id="stylemix_pool_sources"))
        uploads = gr.File(label="or upload .safetensors files", file_count="multiple", file_types=[".safetensors"],
                          scale=2, elem_id="stylemix_pool_uploads")
    with gr.Row():
        load_btn = gr.Button("Load into pool", variant="primary", elem_id="stylemix_pool_load")
        example_btn = gr.Button("Create example pool", elem_id="stylemix_pool_example")
    members = gr.Dataframe(headers=logic.MEMBER_HEADERS, datatype=["str"] * len(logic.MEMBER_HEADERS),
                           interactive=False, wrap=True, label="Pool members", elem_id="stylemix_pool_members")
    with gr.Row():
        selected = gr.Dropdown(label="Selected members (for remove and merge)", choices=[], multiselect=True,
                               scale=4, elem_id="stylemix_pool_selected")
        remove_btn = gr.Button("Remove from pool", scale=1, elem_id="stylemix_pool_remove")
        refresh_btn = gr.Button("Refresh", scale=1, elem_id="stylemix_pool_refresh")

    with gr.Tabs(elem_id="stylemix_pool_tabs"):
        with gr.Tab("Compare", elem_id="stylemix_pool_tab_compare"):
            with gr.Row():
                metric = gr.Radio(logic.metric_choices(), value="frobenius", label="Metric",
                                  elem_id="stylemix_pool_metric")
                compare_btn = gr.Button("Compare", variant="primary", elem_id="stylemix_pool_compare")
            with gr.Row(equal_height=False):  # an empty pairs table stays one row high next to the heatmap
                heatmap = gr.Image(label="Distance heatmap", show_label=False, type="pil", interactive=False,
                                   scale=1, elem_id="stylemix_pool_heatmap")
                pairs = gr.Dataframe(headers=logic.PAIR_HEADERS, interactive=False, label="Pairs, most different first",
                                     scale=1, elem_id="stylemix_pool_pairs")
            with gr.Row():
                block_a = gr.Dropdown(label="Per-block view: member A", choices=[], elem_id="stylemix_pool_block_a")
                block_b = gr.Dropdown(label="member B", choices=[], elem_id="stylemix_pool_block_b")
                blocks_btn = gr.Button("Show per-block differences", elem_id="stylemix_pool_blocks_btn")
            blocks = gr.Dataframe(headers=logic.BLOCK_HEADERS, interactive=False, label="Per-block view",
                                  elem_id="stylemix_pool_blocks")

        with gr.Tab("Merge", elem_id="stylemix_pool_tab_merge"):
            gr.Markdown("Merges the **selected members** above. " + logic.method_help())
            with gr.Row():
                weights = gr.Textbox(label="Weights (one per selected member, comma separated)", value="0.5, 0.5",
                                     elem_id="stylemix_pool_weights")
                method = gr.Radio(logic.method_choices(), value="concat", label="Method",
                                  elem_id="stylemix_pool_method")
            with gr.Row():
                rank = gr.Number(label="svd rank (0 = from energy, or the largest input rank)", value=0, precision=0,
                                 elem_id="stylemix_pool_rank")
                energy = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="svd energy to keep (0 = off)",
                                   elem_id="stylemix_pool_energy")
                out_name = gr.Textbox(label="Output name (saved in the LoRA folder)", value="stylemix_merge",
                                      elem_id="stylemix_pool_out_name")
            merge_btn = gr.Button("Merge and save", variant="primary", elem_id="stylemix_pool_merge")

        with gr.Tab("Evolve", elem_id="stylemix_pool_tab_evolve"):
            with gr.Row():
                iterations = gr.Slider(1, 20, value=1, step=1, label="Generations (Run evolve)",
                                       elem_id="stylemix_pool_iterations")
                ratios = gr.Slider(1, 9, value=3, step=1, label="Mix ratios per pair", elem_id="stylemix_pool_ratios")
                keep = gr.Slider(1, 10, value=2, step=1, label="Keep per generation", elem_id="stylemix_pool_keep")
                seed = gr.Number(label="Evolve seed", value=0, precision=0, elem_id="stylemix_pool_seed")
            with gr.Row():
                score = gr.Radio(list(evolve_scores.names()), value=evolve_scores.DEFAULT, label="Score",
                                 elem_id="stylemix_pool_score")
                # The operators themselves are switched in the group below; this is the extrapolate operator's span
                # (moving it above 0 also switches that operator on, as `--extrapolate T` does).
                extrapolate = gr.Slider(0.0, 1.0, value=0.0, step=0.05,
                                        label="Extrapolation span T beyond the parents (0: default span)",
                                        elem_id="stylemix_pool_extrapolate")
            with gr.Row():
                operators = gr.CheckboxGroup(list(evolve_operators.names()), value=list(evolve_operators.DEFAULT),
                                             label="Operators (see docs/evolve.md)", elem_id="stylemix_pool_operators")
                select_rule = gr.Radio(list(evolve_selection.names()), value=evolve_selection.DEFAULT,
                                       label="Selection", elem_id="stylemix_pool_select")
                archive = gr.Checkbox(label="Quality–diversity archive", value=False, elem_id="stylemix_pool_archive")
            with gr.Row():
                propose_btn = gr.Button("Propose candidates", variant="primary", elem_id="stylemix_pool_propose")
                evolve_btn = gr.Button("Run evolve", elem_id="stylemix_pool_evolve")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stylemix_pool_stop")
            candidates = gr.Dataframe(headers=logic.CANDIDATE_HEADERS, interactive=False, wrap=True,
                                      label="Candidates (click a row to pick it)", elem_id="stylemix_pool_candidates")
            with gr.Row():
                picked = gr.Textbox(label="Candidate # (comma separated to keep several)",
                                    elem_id="stylemix_pool_picked")
                preview_btn = gr.Button("Preview first picked", interactive=host.can_generate() is None,
                                        elem_id="stylemix_pool_preview")
                keep_btn = gr.Button("Keep picked", variant="primary", elem_id="stylemix_pool_keep_btn")
            reason = host.can_generate()
            gr.Markdown(f"Preview is unavailable here: {reason}" if reason else
                        "Preview renders the settings' preview prompts with `<lora:a:w1> <lora:b:w2>` tags — the "
                        "exact linear merge, without writing a file.")
            preview = gr.Gallery(label="Candidate preview", columns=4, height="auto",
                                 elem_id="stylemix_pool_preview_gallery")
            evolve_table = gr.Dataframe(headers=logic.EVOLVE_HEADERS, interactive=False, wrap=True,
                                        label="Evolve results (kept in memory)", elem_id="stylemix_pool_evolve_results")
            archive_plot = gr.Image(label="QD archive (Run evolve with the archive on)", type="pil",
                                    interactive=False, elem_id="stylemix_pool_archive_plot")

        with gr.Tab("Save kept", elem_id="stylemix_pool_tab_save"):
            with gr.Row():
                unsaved = gr.Dropdown(label="Kept members not saved yet", choices=[], multiselect=True, scale=3,
                                      elem_id="stylemix_pool_unsaved")
                max_rank = gr.Number(label="Max rank (0 = parents' rank)", value=0, precision=0, scale=1,
                                     elem_id="stylemix_pool_max_rank")
            save_btn = gr.Button("Save as LoRA files", variant="primary", elem_id="stylemix_pool_save")

        with gr.Tab("Lineage", elem_id="stylemix_pool_tab_lineage"):
            lineage = gr.Dataframe(headers=logic.LINEAGE_HEADERS, interactive=False, wrap=True,
                                   label="Every member this session has seen", elem_id="stylemix_pool_lineage")
            draw_btn = gr.Button("Draw lineage tree and pool map", elem_id="stylemix_pool_draw")
            # the figures carry their own titles: no gradio label badge over them; the tree is as wide as the
            # panel (it grows with the widest generation), the map below it
            lineage_plot = gr.Image(label="Lineage", show_label=False, type="pil", interactive=False,
                                    elem_id="stylemix_pool_lineage_plot")
            pool_map = gr.Image(label="Pool map (classical MDS of ΔW)", show_label=False, type="pil",
                                interactive=False, height=620, elem_id="stylemix_pool_map")

    def lists(sess: logic.PoolSession) -> tuple[Any, ...]:
        """Values of every component that shows the pool's membership."""
        names = sess.pool.names if sess.pool is not None else []
        return (
            table(logic.member_rows(sess.pool), logic.MEMBER_HEADERS),
            gr.update(choices=names, value=[]),
            gr.update(choices=names, value=names[0] if names else None),
            gr.update(choices=names, value=names[1] if len(names) > 1 else None),
            gr.update(choices=logic.unsaved_names(sess.pool), value=[]),
            table(logic.lineage_rows(sess.pool), logic.LINEAGE_HEADERS),
        )

    list_outputs = [members, selected, block_a, block_b, unsaved, lineage]

    def run(fn, sess, tracker=None, gpu=False):
        """Call `fn(sess, progress=, cancel=)` for this session; an error becomes the status message instead."""
        sess = sess if isinstance(sess, logic.PoolSession) else logic.PoolSession()
        if not sess.busy.acquire(blocking=False):  # the webui's queue runs events of one page concurrently
            return sess, None, message_html("Another pool action of this page is still running: wait for it, "
                                            "or press Stop.", "warn")
        progress = GradioProgress(tracker, host.progress() if gpu else None)
        try:
            with sess.job.running() as flag:
                cancel = AnyCancel([flag, host.cancel_token()] if gpu else [flag])
                result, err = attempt(lambda: fn(sess, progress=progress, cancel=cancel), "pool panel")
        finally:
            sess.busy.release()
        return sess, result, err

    def cache_dir() -> Path:
        return Path(host.settings().pool_output_dir) / "kernel_cache"

    def on_load(sess, text, files, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            sources = parse_lines(text) + [str(p) for p in file_paths(files)]
            return logic.load_sources(s, sources, cache_dir=cache_dir(), progress=progress, cancel=cancel)

        sess, msg, err = run(work, sess, tracker=progress)
        return (sess, err or message_html(msg, "ok"), *lists(sess))

    def on_example(sess, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def make(s, progress, cancel):
            folder = Path(host.settings().pool_output_dir) / "example_pool"
            paths = logic.example_pool(folder)
            return str(folder), logic.load_sources(s, paths, cache_dir=cache_dir(), progress=progress, cancel=cancel)

        sess, out, err = run(make, sess, tracker=progress)
        if err:
            return (sess, err, gr.update(), *lists(sess))
        folder, msg = out
        return (sess, message_html(f"Example pool in {folder}. {msg}", "ok"), folder, *lists(sess))

    def on_remove(sess, names):
        sess, msg, err = run(lambda s, progress, cancel: logic.remove_members(s, names or []), sess)
        return (sess, err or message_html(msg, "ok"), *lists(sess))

    def on_refresh(sess):
        sess = sess if isinstance(sess, logic.PoolSession) else logic.PoolSession()
        return (sess, message_html(f"The pool has {len(sess.pool or [])} member(s).", "ok"), *lists(sess))

    def on_compare(sess, metric_value, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            comparison = logic.compare(s, metric_value)
            return logic.heatmap_image(comparison), table(comparison.pair_rows(), logic.PAIR_HEADERS)

        sess, out, err = run(work, sess, tracker=progress)
        if err:
            return sess, err, gr.update(), gr.update()
        image, rows = out
        return sess, message_html(f"Compared {len(sess.pool)} members ({metric_value}).", "ok"), image, rows

    def on_blocks(sess, a, b):
        sess, rows, err = run(lambda s, progress, cancel: logic.block_rows(s, a, b), sess)
        if err:
            return sess, err, gr.update()
        return sess, message_html(f"Per-block differences of {a} and {b}.", "ok"), table(rows, logic.BLOCK_HEADERS)

    def on_merge(sess, names, weight_text, method_value, rank_value, energy_value, name_value,
                 progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            path = logic.merge_members(
                s, names or [], parse_float_list(weight_text, "weights"), method=method_value,
                rank=int(rank_value) if rank_value else None, energy=float(energy_value) if energy_value else None,
                out_name=name_value, folder=host.lora_registry().folder(), progress=progress, cancel=cancel)
            host.lora_registry().refresh()
            return path

        sess, path, err = run(work, sess, tracker=progress)
        msg = err or message_html(f"Saved {path} and added it to the pool.", "ok")
        return (sess, msg, *lists(sess))

    def settings_from(*values):
        keys = ("iterations", "ratios", "keep", "seed", "score", "extrapolate", "operators", "select", "archive")
        return logic.evolve_settings(**dict(zip(keys, values, strict=True)))

    evolve_inputs = [iterations, ratios, keep, seed, score, extrapolate, operators, select_rule, archive]

    def on_propose(sess, *values, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            return logic.propose_candidates(s, settings_from(*values), progress=progress, cancel=cancel)

        sess, msg, err = run(work, sess, tracker=progress)
        return sess, err or message_html(msg, "ok"), table(logic.candidate_rows(sess), logic.CANDIDATE_HEADERS), []

    def on_evolve(sess, *values, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            return logic.run_evolve(s, settings_from(*values), progress=progress, cancel=cancel)

        sess, out, err = run(work, sess, tracker=progress)
        if err:
            return (sess, err, gr.update(), gr.update(), *lists(sess))
        msg, rows = out
        return (sess, message_html(msg, "ok"), table(rows, logic.EVOLVE_HEADERS), logic.archive_image(sess),
                *lists(sess))

    def on_stop(sess):
        if isinstance(sess, logic.PoolSession):
            sess.job.stop()
        return message_html("Stopping after the current step…", "warn")

    def on_pick(evt: gr.SelectData, table):
        rows = table_rows(table)
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not rows or not 0 <= row < len(rows):
            return gr.update()
        return str(rows[row][0])

    def picked_indices(text: str) -> list[int]:
        try:
            return [int(float(part)) for part in text.replace(" ", ",").split(",") if part.strip()]
        except ValueError:
            raise StyleMixError(f"candidate #: {text!r} is not a list of numbers") from None

    def on_preview(sess, text, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            indices = picked_indices(text)
            if not indices:
                raise StyleMixError("pick a candidate first (click its row)")
            loras, temporary = logic.preview_loras(s, indices[0], host.lora_registry().folder(), progress=progress,
                                                   cancel=cancel)
            try:
                if temporary is not None:
                    host.lora_registry().refresh()
                generator = host.txt2img_generator()
                images = logic.render_previews(generator, loras, host.settings(), progress=progress, cancel=cancel)
            finally:
                if temporary is not None:  # our own preview file, written just above
                    temporary.unlink(missing_ok=True)
                    host.lora_registry().refresh()
            return images, loras, temporary

        sess, out, err = run(work, sess, tracker=progress, gpu=True)
        if err:
            return sess, err, gr.update()
        images, loras, temporary = out
        tags = " ".join(f"<lora:{n}:{w:.3g}>" for n, w in loras)
        done = "nothing was written" if temporary is None else "its temporary file was removed again"
        return sess, message_html(f"Preview of {tags}; {done}.", "ok"), images

    def on_keep(sess, text):
        sess, msg, err = run(lambda s, progress, cancel: logic.keep_candidates(s, picked_indices(text)), sess)
        candidates_value = table(logic.candidate_rows(sess), logic.CANDIDATE_HEADERS)
        return (sess, err or message_html(msg, "ok"), candidates_value, *lists(sess))

    def on_draw(sess):
        def work(s, progress, cancel):
            pool = s.require_pool(2)
            return logic.lineage_image(pool), logic.pool_map_image(pool)

        sess, out, err = run(work, sess)
        if err:
            return sess, err, gr.update(), gr.update()
        return (sess, message_html(f"Drew {len(sess.pool.history)} member(s).", "ok"), *out)

    def on_save(sess, names, rank_value, progress=gr.Progress()):  # noqa: B008 (gradio reads the tracker from the default)
        def work(s, progress, cancel):
            paths = logic.save_members(s, names or [], host.lora_registry().folder(),
                                       max_rank=int(rank_value) if rank_value else None,
                                       progress=progress, cancel=cancel)
            host.lora_registry().refresh()
            return paths

        sess, paths, err = run(work, sess, tracker=progress)
        msg = err or message_html("Saved " + ", ".join(str(p) for p in paths), "ok")
        return (sess, msg, *lists(sess))

    load_btn.click(on_load, [session, sources, uploads], [session, status, *list_outputs])
    example_btn.click(on_example, [session], [session, status, sources, *list_outputs])
    remove_btn.click(on_remove, [session, selected], [session, status, *list_outputs])
    refresh_btn.click(on_refresh, [session], [session, status, *list_outputs])
    compare_btn.click(on_compare, [session, metric], [session, status, heatmap, pairs])
    blocks_btn.click(on_blocks, [session, block_a, block_b], [session, status, blocks])
    merge_btn.click(on_merge, [session, selected, weights, method, rank, energy, out_name],
                    [session, status, *list_outputs])
    propose_btn.click(on_propose, [session, *evolve_inputs], [session, status, candidates, preview])
    evolve_btn.click(on_evolve, [session, *evolve_inputs], [session, status, evolve_table, archive_plot,
                                                            *list_outputs])
    stop_btn.click(on_stop, [session], [status], queue=False)
    candidates.select(on_pick, [candidates], [picked])
    preview_btn.click(host.wrap_gpu(on_preview), [session, picked], [session, status, preview])
    keep_btn.click(on_keep, [session, picked], [session, status, candidates, *list_outputs])
    draw_btn.click(on_draw, [session], [session, status, lineage_plot, pool_map])
    save_btn.click(on_save, [session, unsaved, max_rank], [session, status, *list_outputs])

