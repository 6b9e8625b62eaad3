"""Real folders: mixed formats, a broken download, unknown keys, bundled embeddings and hostile outputs."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lib_stylemix.cli import main
from lib_stylemix.lora import make_lora_file, open_lora
from lib_stylemix.lora.batch_open import open_many
from lib_stylemix.lora.container import LoraFormatError
from tests.lora import lyco

REPO = Path(__file__).resolve().parents[2]


def _mixed_folder(root: Path) -> Path:
    folder = root / "Lora"
    folder.mkdir()
    modules = lyco.SD1_MODULES[:3]
    lyco.write(folder / "b_loha.safetensors", lyco.loha_tensors(modules, 4, 1), lyco.SD1_META)
    mapping = {modules[0][0]: "text_encoder.text_model.encoder.layers.0.self_attn.q_proj",
               modules[1][0]: "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
               modules[2][0]: "unet.down_blocks.0.attentions.0.proj_in"}
    lyco.write(folder / "c_peft.safetensors", lyco.to_peft(lyco.locon_tensors(modules, 4, 2), mapping), {})
    names = [m[0] for m in modules]
    make_lora_file(folder / "d_kohya.safetensors", rank=4, seed=3, modules=names)
    make_lora_file(folder / "e_kohya.safetensors", rank=8, seed=4, modules=names)
    (folder / "a_broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    return folder


def test_compare_mixed_folder_skips_only_the_garbage(tmp_path, capsys):
    folder = _mixed_folder(tmp_path)
    assert main(["compare", str(folder), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["names"] == ["b_loha", "c_peft", "d_kohya", "e_kohya"]
    assert [s["path"] for s in doc["skipped"]] == [str(folder / "a_broken.safetensors")]
    assert "not valid JSON" in doc["skipped"][0]["reason"]
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: skipped ") and "a_broken.safetensors" in lines[0]


def test_strict_makes_a_skip_an_error(tmp_path, capsys):
    folder = _mixed_folder(tmp_path)
    assert main(["compare", str(folder), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --strict: ") and "a_broken" in err


def test_info_json_lists_skipped_and_algorithms(tmp_path, capsys):
    folder = _mixed_folder(tmp_path)
    assert main(["info", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["algo"] for r in doc["files"]] == ["loha", "lora", "lora", "lora"]
    assert len(doc["skipped"]) == 1


def test_merge_takes_a_folder_with_weights_in_listed_order(tmp_path, capsys):
    folder = _mixed_folder(tmp_path)
    out = tmp_path / "out.safetensors"
    assert main(["merge", str(folder), "--weights=9,1,-1,0.5,0.5", "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["skipped"]) == 1
    merged = open_lora(out)
    parts = {p.stem: open_lora(p) for p in folder.glob("[b-e]_*.safetensors")}
    weights = {"b_loha": 1.0, "c_peft": -1.0, "d_kohya": 0.5, "e_kohya": 0.5}
    for module in merged.module_names:
        want = sum(w * parts[n].factors(module, dtype=torch.float64).dense() for n, w in weights.items())
        torch.testing.assert_close(merged.factors(module, dtype=torch.float64).dense(), want, rtol=2e-3, atol=1e-4)


def test_unknown_key_is_a_warning_not_a_refusal(tmp_path, capsys):
    path = make_lora_file(tmp_path / "x.safetensors", rank=2, seed=0, modules=[lyco.SD1_MODULES[0][0]])
    tensors = load_file(str(path))
    tensors["lora_unet_mystery_block.weight"] = torch.zeros(3)
    lyco.write(path, tensors, {})
    lora = open_lora(path)
    assert lora.module_names == (lyco.SD1_MODULES[0][0],)
    assert lora.warnings == [f"{path}: ignored 1 unknown key(s): lora_unet_mystery_block.weight"]
    assert main(["info", str(path)]) == 0
    assert "ignored 1 unknown key(s): lora_unet_mystery_block.weight" in capsys.readouterr().err


def _with_bundle(path: Path, seed: int, value: float) -> Path:
    make_lora_file(path, rank=2, seed=seed, modules=[m[0] for m in lyco.SD1_MODULES[:2]])
    tensors = load_file(str(path))
    tensors["bundle_emb.mystyle.string_to_param.*"] = torch.full((2, 768), value)
    lyco.write(path, tensors, {"ss_base_model_version": "sd_v1"})
    return path


def test_bundled_embeddings_kept_when_parents_agree_else_dropped(tmp_path, capsys):
    a = _with_bundle(tmp_path / "a.safetensors", 0, 0.5)
    b = _with_bundle(tmp_path / "b.safetensors", 1, 0.5)
    c = _with_bundle(tmp_path / "c.safetensors", 2, 0.25)
    assert open_lora(a).bundle_keys == ("bundle_emb.mystyle.string_to_param.*",)
    assert open_lora(a).warnings == []
    same = tmp_path / "same.safetensors"
    assert main(["merge", str(a), str(b), "--weights", "0.5,0.5", "-o", str(same)]) == 0
    kept = load_file(str(same))
    assert torch.equal(kept["bundle_emb.mystyle.string_to_param.*"], torch.full((2, 768), 0.5))
    capsys.readouterr()
    differ = tmp_path / "differ.safetensors"
    assert main(["merge", str(a), str(c), "--weights", "0.5,0.5", "-o", str(differ)]) == 0
    assert "note: bundled embeddings dropped" in capsys.readouterr().err
    assert not any(k.startswith("bundle_emb.") for k in load_file(str(differ)))


@pytest.mark.parametrize(("target", "expected"), [
    ("folder", "is a folder"), ("dir.safetensors", "is a folder"), ("wrong.ckpt", "must end in .safetensors"),
    ("exists.safetensors", "already exists"),
])
def test_merge_output_is_checked_before_any_work(tmp_path, capsys, monkeypatch, target, expected):
    src = make_lora_file(tmp_path / "in.safetensors", rank=2, seed=0, modules=[lyco.SD1_MODULES[0][0]])
    (tmp_path / "folder").mkdir()
    (tmp_path / "dir.safetensors").mkdir()
    (tmp_path / "exists.safetensors").write_bytes(b"keep me")

    def no_merge(*args, **kwargs):
        raise AssertionError("merge ran before the output was checked")

    monkeypatch.setattr("lib_stylemix.lora.merge", no_merge)
    args = ["merge", str(src), "--weights", "1", "-o", str(tmp_path / target)]
    if target != "exists.safetensors":
        args.append("--overwrite")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert (tmp_path / "exists.safetensors").read_bytes() == b"keep me"


def test_merge_refuses_when_the_disk_is_too_small(tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    src = make_lora_file(tmp_path / "in.safetensors", rank=2, seed=0, modules=[lyco.SD1_MODULES[0][0]])
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10, 10, 1000))
    assert main(["merge", str(src), "--weights", "1", "-o", str(tmp_path / "o.safetensors")]) == 1
    assert "is free on that disk" in capsys.readouterr().err


def test_merge_refuses_a_read_only_folder(tmp_path, capsys, monkeypatch):
    src = make_lora_file(tmp_path / "in.safetensors", rank=2, seed=0, modules=[lyco.SD1_MODULES[0][0]])
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    assert main(["merge", str(src), "--weights", "1", "-o", str(ro / "sub" / "o.safetensors")]) == 1
    assert "is not writable" in capsys.readouterr().err
    assert not (ro / "sub").exists()


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_refusal_is_one_clean_line(tmp_path):
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as fh:
        pickle.dump({"lora_te_x.lora_down.weight": _Payload()}, fh)
    with pytest.raises(LoraFormatError) as info:
        open_lora(path)
    text = str(info.value)
    assert "\x1b" not in text and "\n" not in text and text.endswith("with a trusted tool.")
    assert "weights_only=True" in text and "In PyTorch 2.6" not in text


def test_escape_codes_in_file_names_never_reach_the_terminal(tmp_path):
    good = [make_lora_file(tmp_path / f"g{i}.safetensors", rank=2, seed=i, modules=[lyco.SD1_MODULES[0][0]])
            for i in range(2)]
    evil = tmp_path / "\x1b[31mred\x1b[0m.safetensors"
    evil.write_bytes(b"\x00" * 3)
    batch = open_many([tmp_path])
    assert len(batch.files) == len(good) and len(batch.skipped) == 1
    assert all("\x1b" not in line for line in batch.messages())


def test_subprocess_mixed_folder_has_no_traceback(tmp_path):
    folder = _mixed_folder(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "lib_stylemix", "compare", str(folder)], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("skipped") == 1
    assert "b_loha" in run.stdout and "c_peft" in run.stdout  # the matrix is the result: stdout


def test_legacy_refuses_lyco_files_with_a_reason(tmp_path, capsys):
    folder = _mixed_folder(tmp_path)
    assert main(["compare", str(folder / "b_loha.safetensors"), str(folder / "d_kohya.safetensors"),
                 "--metric", "legacy"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "legacy works on plain kohya LoRA factors only" in err and "loha" in err
