"""`python -m lib_stylemix info|compare|merge|example`: JSON shapes, exit codes, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lib_stylemix.cli import main
from lib_stylemix.lora import make_lora_file, open_lora
from tests.lora.conftest import SD1_CONV3, SD1_SMALL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool(tmp_path):
    return [make_lora_file(tmp_path / f"style{i}.safetensors", rank=2 + i, seed=i, modules=[*SD1_SMALL, SD1_CONV3])
            for i in range(3)]


def run_json(capsys, argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_info_json(capsys, pool):
    doc = run_json(capsys, ["info", *map(str, pool)])
    assert doc["skipped"] == [] and len(doc["files"]) == 3
    first = doc["files"][0]
    assert {"path", "name", "arch", "rank", "alpha", "modules", "params", "dtype", "format"} <= set(first)
    assert first["name"] == "style0" and first["arch"] == "sd1" and first["rank"] == 2
    assert first["alpha"] == 1.0 and first["modules"] == 5 and first["format"] == "safetensors"
    assert first["params"] == open_lora(pool[0]).params and first["dtype"] == "fp16"


def test_info_check_human(capsys, pool):
    assert main(["info", "--check", str(pool[0])]) == 0
    captured = capsys.readouterr()
    assert "style0" in captured.out and "no NaN/Inf" in captured.err


@pytest.mark.parametrize("metric", ["frobenius", "cosine", "legacy"])
def test_compare_json(capsys, pool, metric, tmp_path):
    files = [str(p) for p in pool]
    if metric == "legacy":  # needs equal ranks
        files = [str(make_lora_file(tmp_path / f"eq{i}.safetensors", rank=2, seed=i, modules=list(SD1_SMALL)))
                 for i in range(3)]
    doc = run_json(capsys, ["compare", *files, "--metric", metric])
    assert doc["metric"] == metric and len(doc["names"]) == 3 and len(doc["paths"]) == 3
    matrix = doc["matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert all(matrix[i][i] == 0 for i in range(3)) and matrix[0][1] == pytest.approx(matrix[1][0])
    assert matrix[0][1] > 0
    assert "blocks" not in doc


def test_compare_by_block_json_and_table(capsys, pool):
    doc = run_json(capsys, ["compare", *map(str, pool), "--by-block"])
    assert set(doc["blocks"]) == {"BASE", "IN01", "OUT11"}
    assert all(len(m) == 3 for m in doc["blocks"].values())
    assert main(["compare", *map(str, pool), "--by-block"]) == 0
    captured = capsys.readouterr()
    assert "most different pairs" in captured.out and "OUT11" in captured.out


def test_compare_legacy_by_block_is_a_user_error(capsys, pool):
    assert main(["compare", *map(str, pool), "--metric", "legacy", "--by-block"]) == 1
    assert "by-block" in capsys.readouterr().err


def test_compare_and_info_take_a_folder_or_a_glob(capsys, pool):
    folder = pool[0].parent
    by_folder = run_json(capsys, ["compare", str(folder)])
    by_glob = run_json(capsys, ["compare", str(folder / "style*.safetensors")])
    by_files = run_json(capsys, ["compare", *map(str, pool)])
    assert by_folder["names"] == by_glob["names"] == by_files["names"] == ["style0", "style1", "style2"]
    assert by_folder["matrix"] == by_files["matrix"]
    assert [r["name"] for r in run_json(capsys, ["info", str(folder)])["files"]] == ["style0", "style1", "style2"]


def test_compare_needs_two_files(capsys, pool):
    assert main(["compare", str(pool[0])]) == 1
    assert "at least two" in capsys.readouterr().err


def test_merge_json_and_output(capsys, pool, tmp_path):
    out = tmp_path / "out" / "merged.safetensors"
    doc = run_json(capsys, ["merge", str(pool[0]), str(pool[1]), "--weights=1,-0.5", "--method", "svd",
                            "--rank", "3", "-o", str(out)])
    assert doc["output"] == str(out) and doc["method"] == "svd" and doc["rank"] == 3
    assert 0 < doc["retained_energy"] <= 1
    assert open_lora(out).rank == 3
    again = main(["merge", str(pool[0]), "--weights", "1", "-o", str(out)])
    assert again == 1 and "already exists" in capsys.readouterr().err
    doc = run_json(capsys, ["merge", str(pool[0]), "--weights", "1", "-o", str(out), "--overwrite",
                            "--dtype", "fp32"])
    assert doc["method"] == "concat" and doc["retained_energy"] is None
    assert open_lora(out).dtype == "fp32"


def test_merge_legacy_is_labelled(capsys, tmp_path):
    files = [str(make_lora_file(tmp_path / f"eq{i}.safetensors", rank=2, seed=i, modules=list(SD1_SMALL)))
             for i in range(2)]
    out = tmp_path / "legacy.safetensors"
    assert main(["merge", *files, "--weights", "0.5,0.5", "--method", "legacy", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "legacy (not effect-preserving)" in captured.out and "cross terms" in captured.err


def test_merge_user_errors(capsys, pool, tmp_path):
    out = str(tmp_path / "x.safetensors")
    assert main(["merge", str(pool[0]), str(pool[1]), "--weights", "1", "-o", out]) == 1
    assert "1 weight(s) for 2 file(s)" in capsys.readouterr().err
    assert main(["merge", str(pool[0]), "--weights", "abc", "-o", out]) == 1
    assert main(["merge", str(pool[0]), "--weights", "1", "-o", str(pool[0]), "--overwrite"]) == 1
    assert "is one of the inputs" in capsys.readouterr().err
    assert main(["merge", str(pool[0]), "--weights", "1", "--rank", "2", "-o", out]) == 1
    assert "svd" in capsys.readouterr().err


def test_bad_file_is_one_line_exit_1(capsys, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 4)
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "broken.safetensors" in err and err.count("\n") == 1


def test_example_pool_and_refusal(capsys, tmp_path):
    folder = tmp_path / "example"
    doc = run_json(capsys, ["example", str(folder), "--count", "3", "--rank", "2"])
    assert doc["synthetic"] is True and len(doc["files"]) == 3
    lora = open_lora(doc["files"][0])
    assert lora.metadata["stylemix_synthetic"] == "true" and "synthetic" in lora.name
    assert len(lora.module_names) == 264
    assert main(["example", str(folder), "--count", "3"]) == 1  # files exist
    user = tmp_path / "user"
    user.mkdir()
    (user / "mine.txt").write_text("keep")
    assert main(["example", str(user)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in user.iterdir()) == ["mine.txt"]


def test_subprocess_help_usage_and_json_stdout(pool):
    env_python = sys.executable
    for cmd in ("info", "compare", "merge", "example"):
        res = subprocess.run([env_python, "-m", "lib_stylemix", cmd, "--help"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0 and cmd in res.stdout
    usage = subprocess.run([env_python, "-m", "lib_stylemix", "compare", "--metric", "nope", str(pool[0])],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2
    res = subprocess.run([env_python, "-m", "lib_stylemix", "compare", *map(str, pool), "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    assert json.loads(res.stdout)["names"] == ["style0", "style1", "style2"]
