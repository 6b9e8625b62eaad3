"""The Style science panel (gradio wiring only): ΔW-vs-image correlation report, blind A/B trials, and the
epoch suggestion block that the Epochs panel shows next to its grid."""

from __future__ import annotations

from typing import Any

from lib_stylemix.science.abtest import ANSWERS, CLOSER, SAME
from lib_stylemix.ui import pool_logic
from lib_stylemix.ui import science_logic as logic
from lib_stylemix.ui.common import AnyCancel, GradioProgress, attempt, message_html
from lib_stylemix.ui.host import Host

QUESTIONS = {"Which is closer in style to the reference?": CLOSER, "Same style as the reference, or different?": SAME}


def _session(value: Any) -> logic.ScienceSession:
    return value if isinstance(value, logic.ScienceSession) else logic.ScienceSession()


def build_science_panel(host: Host, pool_state: Any = None) -> None:
    """Add the panel; the report renders the members of the Pool panel's session (`pool_state`)."""
    import gradio as gr

    state = gr.State(None)
    pool_state = pool_state if pool_state is not None else gr.State(None)
    gr.Markdown("Does ΔW distance predict the style difference people see? The report renders every pool member "
                "with the fixed preview prompts × seeds, measures image-space style distance with the loaded "
                "checkpoint's own U-Net (IntroStyle: channel statistics of one up-block, 2-Wasserstein), and "
                "correlates it with ΔW distance. The blind A/B trials then ask you.")
    status = gr.HTML(elem_id="stylemix_science_status")
    reason = host.can_generate()
    with gr.Row():
        report_btn = gr.Button("Run style report", variant="primary", interactive=reason is None,
                               elem_id="stylemix_science_report")
        with_candidates = gr.Checkbox(label="Also the evolve candidates", value=False,
                                      elem_id="stylemix_science_candidates")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stylemix_science_stop")
        saved = gr.Textbox(label="…or load a saved report (style_correlation.json)", scale=3,
                           elem_id="stylemix_science_saved")
        load_btn = gr.Button("Load", elem_id="stylemix_science_load")
    if reason:
        gr.Markdown(f"Rendering is not available here: {reason}")
    picture = gr.Image(label="Report", type="filepath", interactive=False, elem_id="stylemix_science_picture")
    worst = gr.Dataframe(headers=["a", "b", "ΔW rank", "image rank", "gap"], label="Pairs where they disagree most",
                         interactive=False, elem_id="stylemix_science_worst")
    _build_ab(host, state, status)
    _build_merge_check(host, reason)

    def on_report(value, pool_value, candidates, progress=gr.Progress()):  # noqa: B008
        sess = _session(value)
        pool_sess = pool_value if isinstance(pool_value, pool_logic.PoolSession) else pool_logic.PoolSession()
        with sess.job.running() as flag:
            out, err = attempt(lambda: logic.run_report(
                sess, pool_sess, host.settings(), host.txt2img_generator(), logic.extractor_of(host),
                progress=GradioProgress(progress, host.progress()),
                cancel=AnyCancel([flag, host.cancel_token()]), candidates=bool(candidates)), "style report")
        if err:
            return sess, err, gr.update(), gr.update()
        text, png, rows = out
        return sess, message_html(text, "ok"), str(png), rows

    def on_load(value, path):
        sess = _session(value)
        text, err = attempt(lambda: logic.load_report(sess, path), "load report")
        return sess, err or message_html(text, "ok")

    def on_stop(value):
        if isinstance(value, logic.ScienceSession):
            value.job.stop()
        return message_html("Stopping after the current image…", "warn")

    report_btn.click(host.wrap_gpu(on_report), [state, pool_state, with_candidates], [state, status, picture, worst])
    load_btn.click(on_load, [state, saved], [state, status])
    stop_btn.click(on_stop, [state], [status], queue=False)


def _build_ab(host: Host, state: Any, status: Any) -> None:
    import gradio as gr

    gr.Markdown("### Blind A/B\nWhich LoRA made which image is hidden and the order is random. Answers are "
                "appended to `science/ab_answers.jsonl` in the pool output folder.")
    with gr.Row():
        question = gr.Radio(list(QUESTIONS), value=next(iter(QUESTIONS)), label="Question",
                            elem_id="stylemix_science_question")
        next_btn = gr.Button("Next trial", elem_id="stylemix_science_next")
    with gr.Row():
        reference = gr.Image(label="Reference", type="filepath", interactive=False, elem_id="stylemix_science_ref")
        left = gr.Image(label="Left", type="filepath", interactive=False, elem_id="stylemix_science_left")
        right = gr.Image(label="Right", type="filepath", interactive=False, elem_id="stylemix_science_right")
    with gr.Row():
        buttons = {value: gr.Button(label, elem_id=f"stylemix_science_answer_{value}") for value, label in
                   (("left", "Left is closer"), ("right", "Right is closer"), ("same", "Same style"),
                    ("different", "Different style"))}
    stats = gr.Textbox(label="Agreement with you", lines=2, interactive=False,
                       value=_initial_stats(host), elem_id="stylemix_science_stats")

    def on_next(value, question_label):
        sess = _session(value)
        out, err = attempt(lambda: logic.next_trial(sess, QUESTIONS[question_label], host.settings()), "next trial")
        if err:
            return sess, err, None, None, None
        ref, shown = out
        return sess, message_html("Trial shown.", "info"), ref, shown[0], shown[1] if len(shown) > 1 else None

    def answer_handler(answer_value: str):
        def handler(value):
            sess = _session(value)
            kind = sess.trial.kind if sess.trial is not None else None
            if kind is not None and answer_value not in ANSWERS[kind]:
                return sess, message_html(f"This trial asks: {'/'.join(ANSWERS[kind])}.", "warn"), gr.update()
            text, err = attempt(lambda: logic.answer(sess, answer_value, host.settings()), "answer")
            return sess, err or message_html("Answer saved. Next trial?", "ok"), text if not err else gr.update()

        return handler

    next_btn.click(on_next, [state, question], [state, status, reference, left, right])
    for value, button in buttons.items():
        button.click(answer_handler(value), [state], [state, status, stats])


def _build_merge_check(host: Host, reason: str | None) -> None:
    import gradio as gr

    gr.Markdown("### Merge check\nA saved StyleMix merge against its recipe: exact ΔW relative error (as stored "
                "and in fp32), and renders of the merge vs the equivalent `<lora:…>` prompt stack at the same seeds.")
    with gr.Row():
        merged = gr.Textbox(label="Merged LoRA (file in the LoRA folder)", scale=3, elem_id="stylemix_science_merged")
        check_btn = gr.Button("Check merge", interactive=reason is None, elem_id="stylemix_science_merge_check")
    result = gr.HTML(elem_id="stylemix_science_merge_status")

    def on_check(path):
        out, err = attempt(lambda: logic.merge_check(host.settings(), host.txt2img_generator(), path,
                                                     host.lora_registry().folder(), cancel=host.cancel_token()),
                           "merge check")
        return err or message_html(out[0], "ok")

    check_btn.click(host.wrap_gpu(on_check), [merged], [result])


def _initial_stats(host: Host) -> str:
    text, err = attempt(lambda: logic.statistics(host.settings()), "A/B statistics")
    return text if not err else ""


def build_epoch_suggestion(host: Host, epochs_state: Any) -> None:
    """The Epochs panel's suggestion: rank the grid's epochs by style distance to the training images."""
    import gradio as gr

    holder = gr.State(None)
    with gr.Accordion("Suggest the most faithful epoch (style distance)", open=False):
        with gr.Row():
            folder = gr.Textbox(label="Restyled training images of this style", scale=3,
                                elem_id="stylemix_epochs_suggest_folder")
            suggest_btn = gr.Button("Suggest epoch", elem_id="stylemix_epochs_suggest")
            keep_btn = gr.Button("Save ranking (your pick wins)", elem_id="stylemix_epochs_suggest_save")
        note = gr.HTML(elem_id="stylemix_epochs_suggest_status")
        table = gr.Dataframe(headers=["rank", "epoch", "distance", ""], interactive=False,
                             elem_id="stylemix_epochs_suggest_table")

    def on_suggest(value, path):
        from lib_stylemix.ui.epochs_logic import EpochsSession

        sess = value if isinstance(value, EpochsSession) else EpochsSession()
        ranking, err = attempt(lambda: logic.suggest_epochs(sess, path, logic.extractor_of(host)), "suggest epoch")
        if err:
            return None, err, gr.update()
        text = f"Closest to the training images: {ranking.suggested.label}."
        if ranking.picked:
            text += f" Your pick ({ranking.picked}) overrides it."
        return ranking, message_html(text, "ok"), ranking.table()

    def on_keep(value, ranking):
        from lib_stylemix.ui.epochs_logic import EpochsSession

        if ranking is None:
            return message_html("Suggest an epoch first.", "warn"), gr.update()
        sess = value if isinstance(value, EpochsSession) else EpochsSession()
        path, err = attempt(lambda: logic.save_ranking(sess, ranking), "save ranking")
        if err:
            return err, gr.update()
        picked = logic.picked_label(sess)
        final = ranking.with_pick(picked) if picked else ranking
        return message_html(f"Saved in {path}; chosen: {final.chosen}.", "ok"), final.table()

    suggest_btn.click(host.wrap_gpu(on_suggest), [epochs_state, folder], [holder, note, table])
    keep_btn.click(on_keep, [epochs_state, holder], [note, table])
