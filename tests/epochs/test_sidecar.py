from __future__ import annotations

import json

import pytest

from lib_stylemix.epochs import read_sidecar, write_choice
from lib_stylemix.errors import StyleMixError


def test_new_sidecar_has_webui_keys(run_folder):
    path = write_choice(run_folder / "ink-000002.safetensors", 0.8, epoch=2, arch="sdxl", activation_text=" ink ")
    assert path.name == "ink-000002.json"
    data = json.loads(path.read_text())
    assert data == {
        "preferred weight": 0.8,
        "sd version": "SDXL",
        "activation text": "ink",
        "notes": "StyleMix: chose epoch 2 at strength 0.8.",
    }


def test_merge_keeps_other_keys_and_user_sd_version(run_folder):
    lora = run_folder / "ink.safetensors"
    (run_folder / "ink.json").write_text(
        json.dumps({"description": "mine", "sd version": "SD1", "notes": "keep me", "negative text": "x"})
    )
    write_choice(lora, 0.6, epoch=3, arch="sdxl")
    write_choice(lora, 0.6, epoch=3, arch="sdxl")  # same choice twice: note appears once
    data = read_sidecar(lora)
    assert data["description"] == "mine" and data["negative text"] == "x"
    assert data["sd version"] == "SD1"
    assert data["preferred weight"] == 0.6
    assert data["notes"] == "keep me\nStyleMix: chose epoch 3 at strength 0.6."
    assert "activation text" not in data


def test_broken_sidecar_is_not_overwritten(run_folder):
    sidecar = run_folder / "ink.json"
    sidecar.write_text("{not json")
    with pytest.raises(StyleMixError, match=r"ink\.json: not readable JSON"):
        write_choice(run_folder / "ink.safetensors", 1.0)
    assert sidecar.read_text() == "{not json"
    sidecar.write_text("[1, 2]")
    with pytest.raises(StyleMixError, match="expected a JSON object"):
        write_choice(run_folder / "ink.safetensors", 1.0)


def test_bad_inputs(run_folder):
    with pytest.raises(StyleMixError, match="LoRA file not found"):
        write_choice(run_folder / "missing.safetensors", 1.0)
    with pytest.raises(StyleMixError, match=r"outside 0\.\.2"):
        write_choice(run_folder / "ink.safetensors", 3.0)
    assert not (run_folder / "ink.json").exists()
