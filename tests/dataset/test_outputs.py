"""Output paths are checked before any work: one line, never IsADirectoryError."""

from __future__ import annotations

import pytest
from PIL import Image

from lib_stylemix.cli import main
from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic


@pytest.mark.parametrize(("out", "expected"), [("folder", "is a folder"), ("edges.jpg", "must end in .png")])
def test_canny_output_checked_first(tmp_path, capsys, out, expected):
    Image.new("RGB", (80, 80), "red").save(tmp_path / "a.png")
    (tmp_path / "folder").mkdir()
    assert main(["canny", str(tmp_path / "a.png"), "-o", str(tmp_path / out), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_atomic_write_refuses_a_folder_even_with_overwrite(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(StyleMixError, match="is a folder"):
        write_atomic(tmp_path / "dir", b"x", overwrite=True)
    assert (tmp_path / "dir").is_dir() and not list(tmp_path.glob(".dir*"))
