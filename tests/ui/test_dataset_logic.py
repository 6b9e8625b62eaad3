"""The Dataset panel's logic: prepare, descriptions (saved only into a prepared set), canny checks."""

from __future__ import annotations

import json

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import NeverCancel, NullProgress
from lib_stylemix.ui import dataset_logic as logic

QUIET = {"progress": NullProgress(), "cancel": NeverCancel()}


def snapshot(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_prepare_writes_a_new_set_and_leaves_source_alone(image_folder, tmp_path):
    before = snapshot(image_folder)
    out = tmp_path / "prepared"
    summary, gallery, rows, used = logic.prepare(str(image_folder), str(out), "64", "center", False, **QUIET)
    assert used == str(out)
    assert "Prepared 3 image(s)" in summary
    assert [r[0] for r in rows] == ["boy_on_beach_01.png", "red_house.png", "tree_in_field.png"]
    assert rows[0][1] == "boy on beach"
    assert all((out / r[0]).is_file() for r in rows) and (out / "images.json").is_file()
    assert len(gallery) == 3
    assert snapshot(image_folder) == before


def test_default_output_is_under_the_settings_folder(image_folder, tmp_path):
    assert logic.default_output("/data/photos/", "outputs/stylemix/datasets") == "outputs/stylemix/datasets/photos"
    assert logic.default_output("", "x") == ""
    root = tmp_path / "datasets"
    summary, _, _, used = logic.prepare(str(image_folder), "", "64", "center", False, output_root=str(root), **QUIET)
    assert used == str(root / "photos") and (root / "photos" / "images.json").is_file() and "into" in summary


def test_prepare_errors_are_user_errors(image_folder, tmp_path):
    with pytest.raises(StyleMixError, match="no such folder"):
        logic.prepare(str(tmp_path / "missing"), str(tmp_path / "o"), "64", "center", False, **QUIET)
    with pytest.raises(StyleMixError, match="output folder"):
        logic.prepare(str(image_folder), "  ", "64", "center", False, **QUIET)  # and no default folder given
    with pytest.raises(StyleMixError, match="multiple of 8"):
        logic.prepare(str(image_folder), str(tmp_path / "o"), "63", "center", False, **QUIET)


def test_descriptions_round_trip_into_manifest(image_folder, tmp_path):
    out = tmp_path / "prepared"
    logic.prepare(str(image_folder), str(out), "64", "center", False, **QUIET)
    _, _, rows = logic.load_descriptions(str(out))
    rows[1][1] = "a small red house, ink drawing"
    msg = logic.save_descriptions(str(out), rows)
    assert "Saved 1 changed" in msg
    doc = json.loads((out / "images.json").read_text(encoding="utf-8"))
    assert [e["description"] for e in doc["images"]][1] == "a small red house, ink drawing"
    _, _, again = logic.load_descriptions(str(out))
    assert again[1][1:] == ["a small red house, ink drawing", "manifest"]
    assert logic.save_descriptions(str(out), again) == "No description changed."


def test_descriptions_never_written_into_a_source_folder(image_folder):
    _, _, rows = logic.load_descriptions(str(image_folder))
    before = snapshot(image_folder)
    with pytest.raises(StyleMixError, match="only saved into a prepared set"):
        logic.save_descriptions(str(image_folder), rows)
    assert snapshot(image_folder) == before


def test_descriptions_reject_unknown_and_empty(image_folder, tmp_path):
    out = tmp_path / "prepared"
    logic.prepare(str(image_folder), str(out), "64", "center", False, **QUIET)
    with pytest.raises(StyleMixError, match="no such image"):
        logic.save_descriptions(str(out), [["ghost.png", "x", ""]])
    with pytest.raises(StyleMixError, match="empty"):
        logic.save_descriptions(str(out), [["red_house.png", "  ", ""]])


def test_canny_preview_and_sheet(image_folder):
    names = logic.image_names(str(image_folder))
    image, text = logic.canny_preview(str(image_folder), names[0], 100, 200, False)
    assert image.size == (640, 512)  # 160×128 at ControlNet's resolution (short side 512)
    assert "thresholds 100/200" in text and "edge pixels" in text
    _, auto_text = logic.canny_preview(str(image_folder), names[0], 100, 200, True)
    assert "thresholds 100/200" not in auto_text
    sheet, summary = logic.canny_sheet(str(image_folder), 100, 200, False, **QUIET)
    assert sheet.size[0] > 192 and summary.startswith("3 edge map(s)")
    with pytest.raises(StyleMixError, match="low < high"):
        logic.canny_preview(str(image_folder), names[0], 200, 100, False)
    with pytest.raises(StyleMixError, match="not a plain file name"):
        logic.canny_preview(str(image_folder), "../x.png", 100, 200, False)


def test_tab_edge_preview_uses_controlnet_resolution(tmp_path):
    """Issue 12 item 17: the tab's preview is computed at 512 like ControlNet and the Script (not the file's size)."""
    from PIL import Image

    from lib_stylemix.restyle.plan import CannyUnit
    from lib_stylemix.webui.script import canny_preview as script_preview

    folder = tmp_path / "set"
    folder.mkdir()
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    for x in range(0, 200, 10):
        for y in range(100):
            image.putpixel((x, y), (0, 0, 0))
    image.save(folder / "wide.png")
    tab_map, _ = logic.canny_preview(str(folder), "wide.png", 100, 200, False)
    script_map, _ = script_preview(str(folder), None, 100, 200)
    assert logic.CONTROLNET_RESOLUTION == CannyUnit().processor_res == 512
    assert tab_map.size == script_map.size == (1024, 512)  # short side at ControlNet's resolution
