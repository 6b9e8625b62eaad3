"""The shared seams and file helpers that every feature relies on."""

import os
import stat
from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import atomic_path, safe_child, write_atomic
from lib_stylemix.seams import CancelFlag, CancelToken, FolderRegistry, LoraRegistry, NullProgress, Progress


def test_plain_implementations_satisfy_protocols(tmp_path: Path) -> None:
    assert isinstance(NullProgress(), Progress)
    assert isinstance(CancelFlag(), CancelToken)
    assert isinstance(FolderRegistry(tmp_path), LoraRegistry)


def test_cancel_flag_flips_once_set() -> None:
    flag = CancelFlag()
    assert not flag.cancelled()
    flag.cancel()
    assert flag.cancelled()


def test_write_atomic_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    write_atomic(target, "one")
    with pytest.raises(StyleMixError, match="already exists"):
        write_atomic(target, "two")
    assert target.read_text() == "one"
    write_atomic(target, "two", overwrite=True)
    assert target.read_text() == "two"


def test_failed_write_leaves_no_temp_and_no_target(tmp_path: Path) -> None:
    target = tmp_path / "b.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../x.safetensors", "/etc/passwd", "a/b", "..", "", "a\\b"])
def test_safe_child_refuses_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(StyleMixError):
        safe_child(tmp_path, name)


def test_safe_child_accepts_plain_name(tmp_path: Path) -> None:
    assert safe_child(tmp_path, "ok.safetensors") == (tmp_path / "ok.safetensors").resolve()


def test_written_files_get_umask_permissions_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "shared.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_console_progress_is_the_cli_progress(capsys) -> None:
    from lib_stylemix.console import ConsoleProgress

    progress = ConsoleProgress()
    assert isinstance(progress, Progress)
    progress.begin(2, "restyle: 2 jobs")
    progress.step(1, "ink__a")
    progress.step(2)
    progress.end("done")
    assert capsys.readouterr().err.splitlines() == ["restyle: 2 jobs", "[1/2] ink__a", "[2/2] restyle: 2 jobs", "done"]
    quiet = ConsoleProgress(interval=3600.0, headlines=False)
    quiet.begin(5, "kernel")
    quiet.step(1, "a")
    quiet.end("kernel done")
    assert capsys.readouterr().err == ""
