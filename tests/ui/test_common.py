"""Helpers shared by the panels: error lines, file inputs of gradio 3 and 4, progress, cancel, tables."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.seams import CancelFlag
from lib_stylemix.ui.common import (
    AnyCancel,
    GradioProgress,
    SessionJob,
    attempt,
    error_html,
    file_paths,
    message_html,
    parse_float_list,
    table,
    table_rows,
    thumbnails,
)


def test_messages_are_escaped_and_classed():
    assert message_html("") == ""
    assert message_html("<b>x</b>", "ok") == '<div class="stylemix-msg stylemix-msg-ok">&lt;b&gt;x&lt;/b&gt;</div>'
    assert "Error: a.safetensors: broken" in error_html(StyleMixError("a.safetensors: broken"))
    assert "stylemix-msg-warn" in error_html(CancelledError("stopped"))
    assert "ZeroDivisionError" in error_html(ZeroDivisionError("x"))


def test_attempt_turns_failures_into_messages(caplog):
    assert attempt(lambda: 3, "ok") == (3, None)
    result, err = attempt(lambda: (_ for _ in ()).throw(StyleMixError("bad file")), "user error")
    assert result is None and "bad file" in err and not caplog.records
    _, err = attempt(lambda: 1 / 0, "bug")
    assert "ZeroDivisionError" in err and caplog.records[-1].exc_info is not None


def test_file_values_of_both_gradio_versions(tmp_path):
    temp = types.SimpleNamespace(name=str(tmp_path / "a.safetensors"))
    assert file_paths(None) == []
    assert file_paths(str(tmp_path / "a")) == [tmp_path / "a"]
    assert file_paths([temp, {"path": "/x/b"}, {"name": "/x/c"}, None]) == [
        tmp_path / "a.safetensors", Path("/x/b"), Path("/x/c")]
    with pytest.raises(StyleMixError, match="unsupported uploaded file"):
        file_paths([3])


def test_parse_float_list():
    assert parse_float_list("0.5, 0.5\n-1", "weights") == [0.5, 0.5, -1.0]
    with pytest.raises(StyleMixError, match="weights: 'x' is not a number"):
        parse_float_list("1, x", "weights")


def test_gradio_progress_maps_steps_to_fractions():
    calls = []
    progress = GradioProgress(lambda value, desc=None: calls.append((value, desc)))
    progress.begin(4, "start")
    progress.step(2, "half")
    progress.end("done")
    assert calls == [((0, 4), "start"), ((2, 4), "half"), ((4, 4), "done")]
    GradioProgress(None).step(1)


def test_session_job_stops_every_running_job():
    job = SessionJob()
    with job.running() as first, job.running() as second:
        job.stop()
        assert first.cancelled() and second.cancelled()
    with job.running() as later:
        assert not later.cancelled()
    job.stop()
    assert not later.cancelled()


def test_any_cancel():
    a, b = CancelFlag(), CancelFlag()
    either = AnyCancel([a, b])
    assert not either.cancelled()
    b.cancel()
    assert either.cancelled()


def test_thumbnails_are_small_in_memory_images(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (1000, 500), (1, 2, 3)).save(big)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    items = thumbnails([(big, "a"), (tmp_path / "broken.png", "b"), (big, "c")], size=100, limit=2)
    assert [(image.size, caption) for image, caption in items] == [((100, 50), "a")]


def test_tables_keep_headers_when_empty():
    empty = table([], ["a", "b"])
    assert list(empty.columns) == ["a", "b"] and table_rows(empty) == []
    assert table_rows(table([[1, "x"]], ["a", "b"])) == [[1, "x"]]
    assert table_rows({"data": [[1, 2]]}) == [[1, 2]] and table_rows(None) == []
