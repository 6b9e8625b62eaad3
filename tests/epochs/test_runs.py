from __future__ import annotations

import pytest

from lib_stylemix.epochs import find_run, list_runs, split_run_name
from lib_stylemix.errors import StyleMixError
from tests.epochs.conftest import write_lora


def test_epochs_sorted_with_final_file_last(run_folder):
    files = find_run(run_folder, "ink")
    assert [f.path.name for f in files] == ["ink-000001.safetensors", "ink-000002.safetensors", "ink.safetensors"]
    assert [f.epoch for f in files] == [1, 2, 3]
    assert [f.final for f in files] == [False, False, True]
    assert files[-1].label == "epoch 3 (final)"
    assert files[0].name == "ink-000001"


def test_metadata_epoch_beats_file_name(tmp_path):
    write_lora(tmp_path / "run-000001.safetensors", {"ss_epoch": "4"})
    write_lora(tmp_path / "run-000002.safetensors", {"ss_epoch": "2"})
    assert [f.epoch for f in find_run(tmp_path, "run")] == [2, 4]


def test_final_without_epoch_metadata_goes_last(tmp_path):
    write_lora(tmp_path / "run.safetensors", {})
    write_lora(tmp_path / "run-000007.safetensors", {})
    files = find_run(tmp_path, "run")
    assert [f.epoch for f in files] == [7, None]
    assert files[-1].label == "final"


def test_duplicate_epoch_is_refused(tmp_path):
    write_lora(tmp_path / "run-000001.safetensors", {"ss_epoch": "1"})
    write_lora(tmp_path / "run.safetensors", {"ss_epoch": "1"})
    with pytest.raises(StyleMixError, match="epoch 1 is also claimed"):
        find_run(tmp_path, "run")


def test_missing_run_and_folder_and_corrupt_file(tmp_path, run_folder):
    with pytest.raises(StyleMixError, match="no LoRA files of the training run 'nope'"):
        find_run(run_folder, "nope")
    with pytest.raises(StyleMixError, match="not a folder"):
        find_run(tmp_path / "missing", "ink")
    (run_folder / "bad-000001.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(StyleMixError, match=r"bad-000001\.safetensors: not a readable safetensors file"):
        find_run(run_folder, "bad")


def test_list_runs_and_split(run_folder):
    assert list_runs(run_folder) == {"ink": 3, "other": 1}
    assert split_run_name("my-style-000012") == ("my-style", 12)
    assert split_run_name("my-style-12") == ("my-style-12", None)
