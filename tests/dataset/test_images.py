from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_stylemix.dataset.images import (
    load_image_set,
    natural_key,
    open_rgb,
    parse_size,
    prepare_image_set,
)
from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.seams import CancelFlag
from tests.dataset.conftest import file_hashes


def test_load_handles_every_kind_and_warns_about_the_rest(messy_folder: Path) -> None:
    before = file_hashes(messy_folder)
    image_set = load_image_set(messy_folder)
    names = [Path(e.path).name for e in image_set.entries]
    assert names == [
        "deep_ramp.png",
        "grey_square.png",
        "palette_icon.png",
        "print_scan.jpg",
        "rotated_photo.jpg",
        "tiny_thumb.png",
        "transparent_logo.png",
    ]
    assert any("not_really.png" in w and "not a readable image" in w for w in image_set.warnings)
    assert any("notes.md" in w for w in image_set.warnings)
    rotated = next(e for e in image_set.entries if e.stem == "rotated_photo")
    assert (rotated.width, rotated.height) == (400, 600)  # EXIF orientation applied
    grey = next(e for e in image_set.entries if e.stem == "grey_square")
    assert (grey.description, grey.description_source) == ("a plain grey square", "sidecar")
    assert file_hashes(messy_folder) == before


def test_open_rgb_converts_modes_to_8bit_rgb(messy_folder: Path) -> None:
    rotated = np.asarray(open_rgb(messy_folder / "rotated_photo.jpg"))
    assert rotated.shape == (600, 400, 3)
    # stored: red left, blue right; orientation 6 rotates 90° clockwise → red on top
    assert rotated[50, 200, 0] > 200 and rotated[50, 200, 2] < 60
    assert rotated[550, 200, 2] > 200 and rotated[550, 200, 0] < 60

    logo = np.asarray(open_rgb(messy_folder / "transparent_logo.png", background=(255, 255, 0)))
    assert logo.dtype == np.uint8 and logo.shape == (600, 600, 3)
    assert tuple(logo[10, 10]) == (0, 200, 0)
    assert tuple(logo[10, 500]) == (255, 255, 0)  # transparent → background colour

    icon = np.asarray(open_rgb(messy_folder / "palette_icon.png"))
    assert tuple(icon[10, 10]) == (255, 255, 255) and tuple(icon[10, 500]) == (200, 50, 50)

    cmyk = np.asarray(open_rgb(messy_folder / "print_scan.jpg"))
    assert cmyk.shape == (520, 600, 3) and cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60

    ramp = np.asarray(open_rgb(messy_folder / "deep_ramp.png"))
    assert ramp.dtype == np.uint8 and ramp.shape == (520, 640, 3)
    assert ramp[0, 0, 0] == 0 and ramp[0, -1, 0] == 255 and 120 <= ramp[0, 320, 0] <= 135

    assert open_rgb(messy_folder / "grey_square.png").mode == "RGB"


def test_dark_16bit_png_stays_dark(tmp_path: Path) -> None:
    dark = np.full((64, 64), 200, dtype=np.uint16)  # 200 / 65535: nearly black, not "200 of 255"
    Image.fromarray(dark, "I;16").save(tmp_path / "dark.png")
    assert np.asarray(open_rgb(tmp_path / "dark.png")).max() <= 1


def test_fake_image_is_a_clear_error(messy_folder: Path) -> None:
    with pytest.raises(StyleMixError, match=r"not_really\.png: not a readable image"):
        open_rgb(messy_folder / "not_really.png")


def test_empty_and_missing_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StyleMixError, match="no readable images"):
        load_image_set(tmp_path / "empty")
    with pytest.raises(StyleMixError, match="not a folder"):
        load_image_set(tmp_path / "missing")


def test_natural_order_and_unique_stems(tmp_path: Path) -> None:
    for name in ["img10.png", "img2.png", "IMG1.png", "img2.jpg"]:
        Image.new("RGB", (64, 64)).save(tmp_path / name)
    entries = load_image_set(tmp_path).entries
    assert [Path(e.path).name for e in entries] == ["IMG1.png", "img2.jpg", "img2.png", "img10.png"]
    assert [e.stem for e in entries] == ["IMG1", "img2", "img2_2", "img10"]
    assert sorted(["a10", "a9", "A1"], key=natural_key) == ["A1", "a9", "a10"]


def test_prepare_writes_new_folder_and_leaves_source_alone(messy_folder: Path, tmp_path: Path) -> None:
    before = file_hashes(messy_folder)
    dst = tmp_path / "prepared"
    result = prepare_image_set(messy_folder, dst, 512, "center")
    assert file_hashes(messy_folder) == before
    stems = [e.stem for e in result.image_set.entries]
    assert "tiny_thumb" not in stems  # smaller than the target: skipped, not silently upscaled
    assert any("tiny_thumb.png" in w and "smaller" in w for w in result.warnings)
    assert {s["file"] for s in result.skipped} >= {"tiny_thumb.png", "not_really.png"}
    for entry in result.image_set.entries:
        with Image.open(entry.path) as image:
            assert image.size == (512, 512) and image.mode == "RGB"
    manifest = json.loads((dst / "images.json").read_text(encoding="utf-8"))
    assert manifest["size"] == [512, 512] and len(manifest["images"]) == len(stems)
    reloaded = load_image_set(dst)
    assert [e.description for e in reloaded.entries] == [e.description for e in result.image_set.entries]
    assert all(e.description_source == "manifest" for e in reloaded.entries)


def test_prepare_upscales_only_when_allowed_and_never_overwrites(messy_folder: Path, tmp_path: Path) -> None:
    dst = tmp_path / "big"
    result = prepare_image_set(messy_folder, dst, "768x1024", "pad", allow_upscale=True)
    assert "tiny_thumb" in [e.stem for e in result.image_set.entries]
    assert any("upscaled" in w for w in result.warnings)
    with Image.open(dst / "tiny_thumb.png") as image:
        assert image.size == (768, 1024)
    with pytest.raises(StyleMixError, match="already exists"):
        prepare_image_set(messy_folder, dst, "768x1024", "pad", allow_upscale=True)
    again = prepare_image_set(messy_folder, dst, "768x1024", "pad", allow_upscale=True, overwrite=True)
    assert len(again.image_set) == len(result.image_set)


def test_prepare_refuses_output_inside_source_and_bad_settings(messy_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(StyleMixError, match="outside the source"):
        prepare_image_set(messy_folder, messy_folder / "out")
    with pytest.raises(StyleMixError, match="crop mode"):
        prepare_image_set(messy_folder, tmp_path / "x", crop="squash")
    with pytest.raises(StyleMixError, match="multiple of 8"):
        prepare_image_set(messy_folder, tmp_path / "x", size="500")
    assert not (messy_folder / "out").exists()


def test_parse_size() -> None:
    assert parse_size(512) == (512, 512)
    assert parse_size("832x1216") == (832, 1216)
    assert parse_size(" 768 ") == (768, 768)
    for bad in ("abc", "1x2x3", "0", "513"):
        with pytest.raises(StyleMixError):
            parse_size(bad)


def test_webp_bmp_and_tiff_are_read(tmp_path: Path) -> None:
    for name, options in (("a.webp", {"lossless": True}), ("b.bmp", {}), ("c.tiff", {}), ("d.TIF", {})):
        Image.new("RGB", (80, 64), (10, 200, 30)).save(tmp_path / name, **options)
    entries = load_image_set(tmp_path).entries
    assert [Path(e.path).name for e in entries] == ["a.webp", "b.bmp", "c.tiff", "d.TIF"]
    assert all(tuple(np.asarray(open_rgb(e.path))[5, 5]) == (10, 200, 30) for e in entries)


def test_cancel_keeps_finished_images_with_their_manifest(messy_folder: Path, tmp_path: Path) -> None:
    flag = CancelFlag()

    class CancelOnThird:
        def begin(self, total: int, text: str = "") -> None:
            pass

        def step(self, done: int, text: str = "") -> None:
            if done == 3:
                flag.cancel()

        def end(self, text: str = "") -> None:
            pass

    dst = tmp_path / "partial"
    with pytest.raises(CancelledError, match="stopped after 3 of 7"):
        prepare_image_set(messy_folder, dst, 256, progress=CancelOnThird(), cancel=flag)
    manifest = json.loads((dst / "images.json").read_text(encoding="utf-8"))
    assert [r["file"] for r in manifest["images"]] == ["deep_ramp.png", "grey_square.png", "palette_icon.png"]
    assert {p.name for p in dst.iterdir()} == {*(r["file"] for r in manifest["images"]), "images.json"}
