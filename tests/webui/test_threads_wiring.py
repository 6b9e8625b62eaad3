"""The thread rule inside the webui: the `compute_threads` setting reaches `lib_stylemix.threads` (at load and on
change), and "auto" uses one thread while the webui runs a job of its own (A1111 and Forge stand-ins)."""

from __future__ import annotations

import logging

import gradio as gr
import pytest

from lib_stylemix import threads
from lib_stylemix.webui.options import PREFIX, register_settings
from lib_stylemix.webui.state import StateProgress, host_generating

KEY = PREFIX + "compute_threads"


@pytest.fixture(autouse=True)
def _restore_threads():
    yield
    threads.configure(threads.AUTO)
    threads.set_host_busy_probe(None)


def test_stored_setting_is_applied_when_the_extension_loads(webui):
    webui.shared.opts.data[KEY] = "2"
    webui.load_scripts()
    assert threads.configured() == 2
    assert threads.resolve() == min(2, threads.cores())


def test_bad_stored_setting_falls_back_to_auto_with_a_warning(webui, caplog):
    threads.configure(3)
    webui.shared.opts.data[KEY] = "lots"
    with caplog.at_level(logging.WARNING):
        webui.load_scripts()
    assert threads.configured() == threads.AUTO
    assert "threads must be 'auto' or a whole number" in caplog.text and "using auto" in caplog.text


def test_settings_page_widgets_labels_and_onchange(webui):
    webui.load_scripts()
    register_settings()
    labels = webui.shared.opts.data_labels
    info = labels[KEY]
    assert info.component is gr.Dropdown and info.default == "auto"
    args = info.component_args()
    assert args == {"choices": ["auto", *(str(n) for n in range(1, threads.cores() + 1))],
                    "allow_custom_value": True}
    assert info.label.startswith("CPU threads for compare/merge/evolve")
    tokenizer = labels[PREFIX + "sd_scripts_tokenizer_dir"]
    assert tokenizer.component is None and tokenizer.label.startswith("Tokenizer cache folder for sd-scripts")
    with gr.Blocks():  # the settings page builds it; a number typed in stays possible
        gr.Dropdown(value="12", label=info.label, **args)

    assert webui.shared.opts.set(KEY, "1") and threads.configured() == 1
    assert not webui.shared.opts.set(KEY, "many")  # onchange refuses: the webui restores the old value
    assert webui.shared.opts.data[KEY] == "1" and threads.configured() == 1
    assert webui.shared.opts.set(KEY, "auto") and threads.configured() == threads.AUTO


def test_auto_uses_one_thread_while_the_webui_generates(webui):
    webui.load_scripts()
    state = webui.shared.state
    assert not host_generating()
    state.begin("txt2img")
    state.job_count = 2  # process_images sets n_iter
    assert host_generating() and threads.resolve() == 1
    assert threads.resolve(2) == min(2, threads.cores())  # an explicit number is not overridden
    state.end()
    assert not host_generating()


def test_our_own_progress_is_not_the_webui_generating(webui):
    webui.load_scripts()
    state = webui.shared.state
    state.begin("stylemix pool")  # our handler inside a webui job
    StateProgress().begin(5, "comparing")
    assert state.job_count == 5 and not host_generating()
    state.end()
    StateProgress().begin(3, "evolving")  # a handler outside any webui job leaves job_count set
    StateProgress().end()
    assert state.job_count == 3 and not host_generating()
    state.begin("txt2img")  # a later webui job is busy again
    state.job_count = 1
    assert host_generating()
