"""`python -m lib_stylemix sd-scripts …` and `train …` through the real front end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib_stylemix.cli import main
from tests.training.conftest import pid_gone


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def common(fake_sd, dataset, sd15, tmp_path):
    return ["--dataset", str(dataset), "--base-model", str(sd15), "--sd-scripts", str(fake_sd.root),
            "--output-root", str(tmp_path / "loras")]  # fmt: skip


def test_plan_json_and_print_command(capsys, common, fake_sd, tmp_path):
    code, out, err = run_cli(capsys, "train", "plan", *common, "--set", "max_train_epochs=4", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["valid"] is True and doc["toml_args"]["max_train_epochs"] == 4
    assert doc["command"][1] == str(fake_sd.root / "train_network.py")
    code, out, _ = run_cli(capsys, "train", "plan", *common, "--print-command")
    assert code == 0 and out.startswith(str(fake_sd.python)) and "--config_file" in out
    assert not (tmp_path / "loras").exists()  # planning writes nothing


def test_plan_reports_an_invalid_job(capsys, common, dataset):
    (dataset / "img" / "10_inkwash" / "im0.txt").unlink()
    code, out, err = run_cli(capsys, "train", "plan", *common, "--json")
    assert code == 1 and json.loads(out)["problem"].endswith("caption missing (1 of 3 images lack one)")
    assert "not ready:" in err


def test_bad_set_is_a_one_line_error(capsys, common):
    code, out, err = run_cli(capsys, "train", "plan", *common, "--set", "netwrk_dim=8")
    assert code == 1 and out == "" and err.strip().startswith("error: --set netwrk_dim")


def test_run_prints_progress_on_stderr_and_one_json_document(capsys, common, fake_env):
    fake_env()
    code, out, err = run_cli(capsys, "train", "run", *common, "--set", "max_train_epochs=2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "succeeded" and [Path(f).name for f in doc["files"]] == [
        "inkwash-000001.safetensors",
        "inkwash.safetensors",
    ]
    assert "epoch 2/2" in err and "done:" in err


def test_run_failure_exit_code(capsys, common, fake_env):
    fake_env(FAKE_MODE="nodata")
    code, out, err = run_cli(capsys, "train", "run", *common, "--json")
    assert code == 1 and json.loads(out)["status"] == "failed" and "No data found" in err


def test_queue_add_run_status(capsys, common, fake_env, tmp_path):
    fake_env()
    state = str(tmp_path / "queue.json")
    code, out, err = run_cli(capsys, "train", "queue", "add", *common, "--set", "max_train_epochs=2", "--state", state,
                             "--json")  # fmt: skip
    assert code == 0, err
    entry_id = json.loads(out)["id"]
    code, out, err = run_cli(capsys, "train", "queue", "run", "--state", state, "--json")
    assert code == 0, err
    assert json.loads(out)["ran"] == [entry_id] and f"[{entry_id}] epoch 1:" in err
    code, out, _ = run_cli(capsys, "train", "queue", "status", "--state", state, "--json")
    assert json.loads(out)["counts"] == {"succeeded": 1}
    code, _, err = run_cli(capsys, "train", "queue", "remove", entry_id, "--state", state)
    assert code == 0 and json.loads(Path(state).read_text())["entries"] == []


def test_sd_scripts_setup_dry_run_and_check(capsys, fake_sd, tmp_path):
    code, out, _ = run_cli(capsys, "sd-scripts", "setup", str(tmp_path / "new"), "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["commands"][0][:5] == ["git", "clone", "--depth", "1", "--branch"]
    assert not (tmp_path / "new").exists()
    code, out, _ = run_cli(capsys, "sd-scripts", "check", "--sd-scripts", str(fake_sd.root), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    (fake_sd.root / "sdxl_train_network.py").unlink()
    code, out, _ = run_cli(capsys, "sd-scripts", "check", "--sd-scripts", str(fake_sd.root))
    assert code == 1 and "sdxl_train_network.py: missing" in out and "NOT READY" in out


def test_sigterm_to_the_cli_stops_the_trainer_tree(fake_sd, dataset, sd15, tmp_path):
    """`train run` in a real subprocess: SIGTERM to StyleMix must not orphan the trainer (own session)."""
    pid_file = tmp_path / "pids.txt"
    env = {**os.environ, "FAKE_MODE": "hang", "FAKE_SPAWN_CHILD": "1", "FAKE_PID_FILE": str(pid_file)}
    cli = subprocess.Popen(
        [sys.executable, "-m", "lib_stylemix", "train", "run", "--dataset", str(dataset), "--base-model", str(sd15),
         "--sd-scripts", str(fake_sd.root), "--output-root", str(tmp_path / "loras"), "--grace", "1"],
        env=env, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (pid_file.exists() and len(pid_file.read_text().split()) >= 2):
        time.sleep(0.05)
    pids = [int(p) for p in pid_file.read_text().split()]
    cli.send_signal(signal.SIGTERM)
    _, err = cli.communicate(timeout=30)
    assert cli.returncode == 130 and b"interrupted" in err
    assert all(pid_gone(p) for p in pids), "trainer left running after StyleMix was terminated"
