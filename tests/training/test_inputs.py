"""Base-model family detection and reading the kohya dataset layout."""

from __future__ import annotations

import json
import struct

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.arch import detect_arch
from lib_stylemix.training.dataset import parse_subset_name, resolve_train_data_dir, scan_dataset
from tests.training.conftest import make_checkpoint, make_dataset


@pytest.mark.parametrize("arch", ["sd1", "sd2", "sdxl"])
def test_detects_family_from_header_keys(tmp_path, arch):
    assert detect_arch(make_checkpoint(tmp_path / f"{arch}.safetensors", arch)) == arch


def test_explicit_arch_wins_and_is_checked(tmp_path):
    path = make_checkpoint(tmp_path / "m.safetensors", "sd1")
    assert detect_arch(path, "sdxl") == "sdxl"
    with pytest.raises(StyleMixError, match="must be one of"):
        detect_arch(path, "sd3")


def test_ckpt_needs_explicit_arch_and_is_never_unpickled(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04 not really a pickle")
    with pytest.raises(StyleMixError, match=r"\.ckpt files are not inspected.*--arch"):
        detect_arch(ckpt)
    assert detect_arch(ckpt, "sd1") == "sd1"


def test_unrecognised_and_corrupt_headers(tmp_path):
    with pytest.raises(StyleMixError, match="no SD1/SD2/SDXL text-encoder keys"):
        detect_arch(make_checkpoint(tmp_path / "vae.safetensors", "none"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 10) + b"{not json}")
    with pytest.raises(StyleMixError, match="not valid JSON"):
        detect_arch(bad)
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"abc")
    with pytest.raises(StyleMixError, match="too short"):
        detect_arch(short)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 2**40))
    with pytest.raises(StyleMixError, match="header length"):
        detect_arch(huge)
    with pytest.raises(StyleMixError, match="does not exist"):
        detect_arch(tmp_path / "missing.safetensors")


def test_diffusers_folder(tmp_path):
    folder = tmp_path / "diffusers"
    (folder / "text_encoder").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"unet": ["diffusers", "UNet2DConditionModel"]}))
    (folder / "text_encoder" / "config.json").write_text(json.dumps({"hidden_size": 1024}))
    assert detect_arch(folder) == "sd2"
    (folder / "model_index.json").write_text(json.dumps({"text_encoder_2": ["transformers", "X"]}))
    assert detect_arch(folder) == "sdxl"
    with pytest.raises(StyleMixError, match="Diffusers folder"):
        detect_arch(tmp_path)


def test_subset_names_like_sd_scripts():
    assert parse_subset_name("10_ink wash") == (10, "ink wash")
    assert parse_subset_name("3_a_b") == (3, "a_b")
    assert parse_subset_name("0_x") is None and parse_subset_name("style") is None


def test_dataset_folder_forms(tmp_path):
    style = make_dataset(tmp_path, "inkwash")
    img = (style / "img").resolve()
    assert resolve_train_data_dir(style) == img
    assert resolve_train_data_dir(style / "img") == img
    with pytest.raises(StyleMixError, match="pass its parent"):
        resolve_train_data_dir(style / "img" / "10_inkwash")
    with pytest.raises(StyleMixError, match="does not exist"):
        resolve_train_data_dir(tmp_path / "nope")


def test_scan_reports_images_and_caption_problems(tmp_path):
    style = make_dataset(tmp_path, "s", images=3, repeats=5)
    sub = style / "img" / "5_s"
    (sub / "im1.txt").unlink()
    (sub / "im2.txt").write_text("   \n")
    (sub / "notes.md").write_text("ignored")
    (style / "img" / "loose.png").write_bytes(b"")  # images directly in train_data_dir are ignored by sd-scripts
    info = scan_dataset(style / "img", ".txt")
    assert info.image_count == 3 and info.images_times_repeats == 15
    assert [p.name for p in info.subsets[0].missing_captions] == ["im1.txt"]
    assert [p.name for p in info.subsets[0].empty_captions] == ["im2.txt"]
    assert info.captions(".txt") == ["a small square number 0, s style"]
