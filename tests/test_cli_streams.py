"""Primary output on stdout, messages on stderr: `stylemix info … > file` must capture the table.

Runs the real command line in a subprocess with stdout and stderr redirected to two files, exactly as a
shell's `> out.txt 2> err.txt` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out_file, err_file = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with out_file.open("w") as out, err_file.open("w") as err:
        code = subprocess.run([sys.executable, "-m", "lib_stylemix", *argv], stdout=out, stderr=err, cwd=REPO,
                              env=env, timeout=300).returncode
    return code, out_file.read_text(encoding="utf-8"), err_file.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def loras(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("loras")
    code, out, err = run(folder, "example", str(folder / "pool"), "--count", "3")
    assert code == 0, err
    assert "wrote 3 synthetic" in out  # what it wrote is the result
    return sorted((folder / "pool").glob("*.safetensors"))


def test_info_table_goes_to_stdout(tmp_path, loras):
    code, out, err = run(tmp_path, "info", "--check", *map(str, loras))
    assert code == 0, err
    assert out.splitlines()[0].split()[:3] == ["name", "arch", "rank"]
    assert all(p.stem in out for p in loras)
    assert "no NaN/Inf" in err and "rank" not in err  # the check's message is a message


def test_compare_matrix_and_pairs_go_to_stdout(tmp_path, loras):
    code, out, err = run(tmp_path, "compare", *map(str, loras), "--top", "2")
    assert code == 0, err
    assert "Frobenius distance" in out and "most different pairs:" in out
    assert sum(line.lstrip().startswith(("1.", "2.")) for line in out.splitlines()) == 2
    assert "most different" not in err


def test_compare_json_is_exactly_one_document_on_stdout(tmp_path, loras):
    code, out, err = run(tmp_path, "compare", *map(str, loras), "--json")
    assert code == 0, err
    assert len(json.loads(out)["matrix"]) == len(loras)


def test_dataset_list_goes_to_stdout_and_json_keeps_stdout_clean(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.new("RGB", (96, 80), (40 * i, 100, 200)).save(photos / f"p{i}.png")
    code, out, err = run(tmp_path, "dataset", "prepare", str(photos), str(tmp_path / "set"), "--size", "64")
    assert code == 0, err
    assert "prepared 2 images" in out
    code, out, err = run(tmp_path, "dataset", "list", str(tmp_path / "set"))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and all("\t64x64\t" in line for line in lines)
    code, out, err = run(tmp_path, "dataset", "prepare", str(photos), str(tmp_path / "set2"), "--size", "64",
                         "--json")
    assert code == 0, err
    assert json.loads(out)  # the summary line moved to stderr, so stdout parses as one document
    assert "prepared 2 images" in err


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`stylemix info … | head -1`: the closed pipe ends the command quietly, with no traceback."""
    from lib_stylemix.lora import write_example_pool

    write_example_pool(tmp_path / "pool", count=6, rank=4)
    command = [sys.executable, "-m", "lib_stylemix", "info", str(tmp_path / "pool")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader has gone before the first line is written
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err
