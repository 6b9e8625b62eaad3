"""Images over Pillow's decompression-bomb limit are skipped with a warning, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lib_stylemix.cli import main
from lib_stylemix.dataset.images import load_image_set, open_rgb
from lib_stylemix.errors import StyleMixError


@pytest.fixture
def bomb_folder(tmp_path: Path, monkeypatch) -> Path:
    """A 64×64 'bomb' (limit lowered to 1000 px: over 2× → error) and a 40×40 one (1×–2× → Pillow only warns)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (64, 64), "red").save(folder / "bomb.png")
    Image.new("RGB", (40, 40), "blue").save(folder / "half_bomb.png")
    Image.new("RGB", (20, 20), "green").save(folder / "fine.png")
    return folder


def test_open_rgb_names_the_bomb(bomb_folder):
    for name in ("bomb.png", "half_bomb.png"):
        with pytest.raises(StyleMixError, match="decompression-bomb limit of 1,000 pixels"):
            open_rgb(bomb_folder / name)
    assert open_rgb(bomb_folder / "fine.png").size == (20, 20)


def test_folder_keeps_the_rest(bomb_folder):
    image_set = load_image_set(bomb_folder)
    assert [Path(e.path).name for e in image_set.entries] == ["fine.png"]
    assert sum("decompression-bomb" in w for w in image_set.warnings) == 2


def test_cli_list_prepare_and_canny(bomb_folder, tmp_path, capsys):
    assert main(["dataset", "list", str(bomb_folder)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("decompression-bomb") == 2
    assert main(["dataset", "prepare", str(bomb_folder), str(tmp_path / "out"), "--size", "64",
                 "--allow-upscale"]) == 0
    assert "decompression-bomb" in capsys.readouterr().err
    assert main(["canny", str(bomb_folder / "bomb.png"), "-o", str(tmp_path / "edge.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "decompression-bomb" in err
