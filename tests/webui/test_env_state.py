from __future__ import annotations

import threading

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.webui.calls import gpu_call
from lib_stylemix.webui.env import webui_info
from lib_stylemix.webui.state import StateCancel, StateProgress


def test_detects_a1111_and_forge(webui):
    info = webui_info()
    expected = "A1111 1.10.1" if webui.kind == "a1111" else "Forge 2.0.1v1.10.1"
    assert info.label == expected


def test_state_progress_sets_counts_and_one_line_text(a1111):
    state = a1111.shared.state
    progress = StateProgress()
    progress.begin(5, "restyling\n5 jobs")
    assert (state.job_count, state.job_no, state.textinfo) == (5, 0, "restyling 5 jobs")
    state.nextjob()  # what process_images does after each generation
    progress.step(1, "job b")
    assert state.job_no == 1 and state.job == "job b"
    progress.end("done")
    assert state.job_no == 5


def test_cancel_follows_interrupt_and_stop_after_current(a1111):
    state = a1111.shared.state
    cancel = StateCancel()
    assert not cancel.cancelled()
    state.stop_generating()
    assert cancel.cancelled() and not cancel.interrupted()
    state.stopping_generation = False
    cancel.cancel()  # the tab's own Stop button
    assert state.interrupted and cancel.cancelled() and cancel.interrupted()


def test_gpu_call_holds_queue_lock_and_state_and_returns_result(webui):
    from modules import call_queue

    state = webui.shared.state
    seen = {}

    @gpu_call
    def handler(task_id, value):
        seen["locked"] = call_queue.queue_lock.locked()
        seen["thread"] = threading.get_ident()
        state.interrupted = True  # pressing Interrupt during the call
        return ("out", value * 2)

    assert handler("task(abc)", 21) == ("out", 42)
    assert seen["locked"] and not call_queue.queue_lock.locked()
    assert (state.begun, state.ended) == (1, 1)
    assert webui.shared.total_tqdm.cleared == 1
    assert not state.interrupted  # reset afterwards, like wrap_gradio_call
    assert webui.progress.queued == ["task(abc)"] and webui.progress.finished == ["task(abc)"]
    on_main_thread = seen["thread"] == threading.get_ident()
    assert on_main_thread == (webui.kind == "a1111")  # Forge: model work on its own thread
    assert handler.__name__ == "handler"


def test_gpu_call_lets_errors_through_even_on_forge(webui):
    from modules import call_queue

    @gpu_call
    def broken():
        raise StyleMixError("bad input file")

    with pytest.raises(StyleMixError, match="bad input file"):
        broken()
    assert not call_queue.queue_lock.locked()
    assert webui.shared.state.ended == 1


def test_gpu_call_wraps_generator_handlers(webui):
    from modules import call_queue

    @gpu_call
    def steps(n):
        for i in range(n):
            assert call_queue.queue_lock.locked()
            yield i

    assert list(steps(3)) == [0, 1, 2]
    assert not call_queue.queue_lock.locked()
