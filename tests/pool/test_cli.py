"""`evolve` and `demo` commands end to end, plus a tiny run of the benchmark so it does not rot."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lib_stylemix.cli import main
from lib_stylemix.lora import open_lora


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _run_json(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_evolve_json_keeps_k_per_iteration_and_writes_them(small_files, tmp_path, capsys):
    folder = small_files[0].parent
    before = _digests(folder)
    out = tmp_path / "run"
    doc = _run_json(capsys, ["evolve", str(folder), "--iterations", "2", "--ratios", "3", "--keep", "2",
                             "--out", str(out), "--crossover", "--add-difference", "--extrapolate", "0.5",
                             "--max-rank", "4", "--json"])
    assert [len(it["kept"]) for it in doc["iterations"]] == [2, 2]
    assert all(it["candidates"] > 0 for it in doc["iterations"])
    kept = [k for it in doc["iterations"] for k in it["kept"]]
    for k in kept:
        path = Path(k["path"])
        assert path.parent == out and path.name == f"{k['name']}.safetensors"
        assert open_lora(path).rank <= 4
        assert k["recipe"]["terms"] and isinstance(k["score"], float)
    assert doc["pool"][:4] == [p.stem for p in small_files] and len(doc["pool"]) == 8
    report = json.loads(Path(doc["report"]).read_text(encoding="utf-8"))
    assert len(report["generations"]) == 2
    assert {c["status"] for c in report["generations"][0]["candidates"]} >= {"selected", "scored"}
    assert len(report["lineage"]) == 8
    # Compact candidate recipes index into the report's roots and blocks.
    chosen = [c for c in report["generations"][0]["candidates"] if c["status"] == "selected"]
    kept_first = doc["iterations"][0]["kept"]
    for cand, member in zip(chosen, kept_first, strict=True):
        keys = {report["roots"][i]["key"] for i, _ in cand["recipe"]}
        assert keys == {t["file"] for t in member["recipe"]["terms"]}
        for _, w in cand["recipe"]:
            assert isinstance(w, float) or len(w) == len(report["blocks"])
    for name in ("heatmap", "pool-map", "lineage"):
        assert Path(doc["figures"][name]).read_bytes()[:4] == b"\x89PNG"
    assert _digests(folder) == before
    assert not list(out.glob(".*.tmp"))


def test_evolve_new_options_archive_and_energy(small_files, tmp_path, capsys):
    from lib_stylemix.pool import operators

    folder = small_files[0].parent
    out = tmp_path / "qd"
    code = main(["evolve", str(folder), "--out", str(out), "--keep", "3", "--operators", "all", "--archive",
                 "--archive-bins", "4", "--orthogonal-scales", "1", "2", "--spectral-draws", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    kept = doc["iterations"][0]["kept"]
    assert len(kept) == 3 and len({frozenset(k["parents"]) for k in kept}) == 3
    for k in kept:
        assert k["operator"] in operators.names() and set(k["parents"]) <= set(doc["pool"])
        assert k["retained_energy"] >= 0.99
        assert f"saving {k['name']}: rank" in captured.err
    assert "relative ΔW error" in captured.err and "archive:" in captured.err
    assert Path(doc["figures"]["archive"]).read_bytes()[:4] == b"\x89PNG"
    report = json.loads(Path(doc["report"]).read_text(encoding="utf-8"))
    assert report["archive"]["cells"] and report["settings"]["operators"] == list(operators.names())
    assert {c["operator"] for c in report["generations"][0]["candidates"]} >= {"blend", "orthogonal", "spectral"}
    # Bad operator names and out-of-range parameters are one clear line each.
    assert main(["evolve", str(folder), "--out", str(tmp_path / "x"), "--operators", "blend,dance"]) == 1
    assert "unknown operator" in capsys.readouterr().err
    assert main(["evolve", str(folder), "--out", str(tmp_path / "y"), "--spectral-sigma", "9"]) == 1
    assert "spectral_sigma" in capsys.readouterr().err


def test_evolve_resume_matches_uninterrupted_run(small_files, tmp_path, capsys):
    folder = str(small_files[0].parent)
    common = ["--ratios", "2", "--keep", "1", "--crossover", "--seed", "3", "--json"]
    full = _run_json(capsys, ["evolve", folder, "--iterations", "3", "--out", str(tmp_path / "a"), *common])
    _run_json(capsys, ["evolve", folder, "--iterations", "1", "--out", str(tmp_path / "b"), *common])
    state = tmp_path / "b" / "evolve-state.json"
    resumed = _run_json(capsys, ["evolve", "--resume", str(state), "--iterations", "2", "--out", str(tmp_path / "b"),
                                 "--json"])
    assert resumed["pool"] == full["pool"]
    names_a = sorted(p.name for p in (tmp_path / "a").glob("*.safetensors"))
    names_b = sorted(p.name for p in (tmp_path / "b").glob("*.safetensors"))
    assert names_a == names_b


def test_evolve_refuses_to_mix_runs_and_bad_input(small_files, tmp_path, capsys):
    folder = str(small_files[0].parent)
    out = tmp_path / "run"
    assert main(["evolve", folder, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evolve", folder, "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["evolve", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["evolve", str(small_files[0]), "--out", str(tmp_path / "y")]) == 1
    assert "at least two" in capsys.readouterr().err
    assert main(["evolve", folder, "--out", folder]) == 1
    assert "input folder" in capsys.readouterr().err
    assert main(["evolve", folder, "--keep", "0", "--out", str(tmp_path / "z")]) == 1
    assert "keep" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["evolve", folder])
    assert exc.value.code == 2


def test_demo_on_a_folder_and_refuses_foreign_folders(small_files, tmp_path, capsys):
    folder = small_files[0].parent
    before = _digests(folder)
    out = tmp_path / "demo"
    doc = _run_json(capsys, ["demo", "--lora-dir", str(folder), "--out", str(out), "--json"])
    assert Path(doc["compare_heatmap"]).is_file() and Path(doc["report"]).is_file()
    assert all(Path(p).is_file() for p in doc["figures"].values())
    assert len(doc["kept"]) == 4 and all(Path(k["path"]).is_file() for k in doc["kept"])
    compare = json.loads(Path(doc["compare"]).read_text(encoding="utf-8"))
    far = doc["most_different"]
    i, j = compare["names"].index(far["a"]), compare["names"].index(far["b"])
    assert far["distance"] == pytest.approx(max(map(max, compare["frobenius"]))) == compare["frobenius"][i][j]
    assert doc["compared"] == compare["names"]
    assert _digests(folder) == before
    again = _run_json(capsys, ["demo", "--lora-dir", str(folder), "--out", str(out), "--json"])
    assert [k["path"] for k in again["kept"]] == [k["path"] for k in doc["kept"]]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["demo", "--out", str(foreign)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.slow
def test_demo_with_example_pool_under_a_minute(tmp_path):
    import resource

    out = tmp_path / "demo"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "lib_stylemix", "demo", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc["figures"]) == {"heatmap", "pool-map", "lineage", "archive"}
    assert doc["archive"]["cells"] and "archive cell" in proc.stderr
    # CPU time, not wall time: other jobs on a shared 2-core test machine must not make this flaky.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 60, f"demo used {cpu:.1f} s of CPU"
    assert len(list((out / "example-pool").glob("*.safetensors"))) == 6
    assert "evolve report" in proc.stderr and "most different pair" in proc.stderr


def test_bench_smoke():
    bench = Path(__file__).resolve().parents[2] / "bench" / "bench_evolve.py"
    proc = subprocess.run([sys.executable, str(bench), "--files", "3", "--rank", "2", "--modules", "4",
                           "--ratios", "2", "--repeats", "1", "--seed-sample", "1", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["candidates"] == 3 * 2
    assert doc["score_all_s"] > 0 and doc["seed_all_s_extrapolated"] > 0
    assert doc["select_candidates"] > doc["candidates"] and doc["score_select_s"] > 0 and doc["selected"] >= 1


def test_resume_writes_kept_recipes_an_interrupted_run_left_unsaved(small_files, tmp_path, capsys):
    from lib_stylemix.pool.evolve import evolve
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.settings import EvolveSettings

    pool = Pool.load(small_files)
    settings = EvolveSettings(iterations=1, keep=2)
    evolve(pool, settings)  # kept in memory only, as if the run stopped before saving
    out = tmp_path / "run"
    pool.snapshot(out / "evolve-state.json", {"settings": settings.to_json()})
    doc = _run_json(capsys, ["evolve", "--resume", str(out / "evolve-state.json"), "--out", str(out),
                             "--iterations", "0", "--json"])
    assert doc["iterations"] == []
    written = sorted(p.stem for p in out.glob("*.safetensors"))
    assert written == sorted(m.name for m in pool.members if m.kind == "recipe")


def test_evolve_skips_a_broken_file_and_lists_it(tmp_path, small_files, capsys):
    import shutil

    from lib_stylemix.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    for f in small_files[:3]:
        shutil.copy(f, folder / f.name)
    (folder / "0_broken.safetensors").write_bytes(b"\x00" * 20)
    assert main(["evolve", str(folder), "--out", str(tmp_path / "out"), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [s["path"] for s in doc["skipped"]] == [str(folder / "0_broken.safetensors")]
    assert captured.err.count("warning: skipped") == 1 and "Traceback" not in captured.err
    assert main(["evolve", str(folder), "--out", str(tmp_path / "out2"), "--strict"]) == 1
    assert "--strict" in capsys.readouterr().err
