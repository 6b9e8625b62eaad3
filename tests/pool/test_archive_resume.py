"""The MAP-Elites archive survives `--resume`: its grid, bounds and elites are stored in the evolve state, so
N generations then resume then M generations fill the same cells as one run of N + M generations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib_stylemix.cli import main
from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool import evolve
from lib_stylemix.pool.archive import Archive
from lib_stylemix.pool.evolve import new_archive
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.settings import EvolveSettings
from tests.pool.conftest import make_dense_pool

SETTINGS = EvolveSettings(iterations=2, ratios=2, keep=2, archive=True, archive_bins=4, seed=5,
                          operators=("blend", "orthogonal", "extrapolate"))


def _cells(archive: Archive) -> dict[tuple[int, int], tuple]:
    return {cell: (e.score, e.descriptor, e.operator, e.parents, e.generation, e.name, e.recipe.digest())
            for cell, e in archive.cells.items()}


def test_state_round_trip_is_exact():
    pool = make_dense_pool(n=4, blocks=3).pool()
    archive = evolve(pool, EvolveSettings.from_json(SETTINGS.to_json(), iterations=1)).archive
    assert archive is not None and archive.cells
    again = Archive.from_state(json.loads(json.dumps(archive.to_state())), "state.json")
    assert _cells(again) == _cells(archive)
    assert (again.axes == archive.axes).all() and (again.lo == archive.lo).all() and (again.hi == archive.hi).all()
    assert [r.digest() for r in again.reference] == [r.digest() for r in archive.reference]
    with pytest.raises(StyleMixError, match=r"state\.json: malformed archive"):
        Archive.from_state({"cells": [{"cell": [0]}]}, "state.json")


def test_two_generations_equal_one_then_resume_then_one():
    full_pool = make_dense_pool(n=4, blocks=3).pool()
    full = evolve(full_pool, SETTINGS).archive

    first_pool = make_dense_pool(n=4, blocks=3).pool()
    first = evolve(first_pool, EvolveSettings.from_json(SETTINGS.to_json(), iterations=1)).archive
    doc = json.loads(json.dumps(first_pool.snapshot_doc({"settings": SETTINGS.to_json(),
                                                         "archive": first.to_state()})))
    resumed_pool = Pool.resume_from_doc(doc, make_dense_pool(n=4, blocks=3).pool())
    settings = EvolveSettings.from_json(doc["settings"], iterations=1)
    resumed = evolve(resumed_pool, settings, archive=Archive.from_state(doc["archive"], "state")).archive

    assert resumed_pool.names == full_pool.names
    assert _cells(resumed) == _cells(full)
    assert {e.generation for e in full.cells.values()} == {1, 2}
    # What resume did before: a new archive on the resumed members, which has lost generation 1's elites.
    rebuilt_pool = Pool.resume_from_doc(doc, make_dense_pool(n=4, blocks=3).pool())
    rebuilt = new_archive(rebuilt_pool, settings)
    evolve(rebuilt_pool, settings, archive=rebuilt)
    assert _cells(rebuilt) != _cells(full)


def _run(capsys, argv: list[str]) -> dict:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_cli_resume_continues_the_archive(small_files, tmp_path, capsys):
    folder = str(small_files[0].parent)
    common = ["--archive", "--archive-bins", "4", "--keep", "2", "--operators", "blend,orthogonal", "--seed", "2",
              "--json"]
    full = _run(capsys, ["evolve", folder, "--iterations", "2", "--out", str(tmp_path / "a"), *common])
    _run(capsys, ["evolve", folder, "--iterations", "1", "--out", str(tmp_path / "b"), *common])
    state = tmp_path / "b" / "evolve-state.json"
    stored = json.loads(state.read_text(encoding="utf-8"))["archive"]
    assert stored["bins"] == 4 and stored["cells"]
    resumed = _run(capsys, ["evolve", "--resume", str(state), "--iterations", "1", "--out", str(tmp_path / "b"),
                            "--json"])
    assert resumed["pool"] == full["pool"]
    cells_a = json.loads(Path(full["report"]).read_text(encoding="utf-8"))["archive"]["cells"]
    cells_b = json.loads(Path(resumed["report"]).read_text(encoding="utf-8"))["archive"]["cells"]
    assert cells_b == cells_a
    assert {tuple(c["cell"]) for c in stored["cells"]} <= {tuple(c["cell"]) for c in cells_b}  # no cell emptied
    assert json.loads(state.read_text(encoding="utf-8"))["archive"]["cells"] == \
        json.loads((tmp_path / "a" / "evolve-state.json").read_text(encoding="utf-8"))["archive"]["cells"]


def test_cli_resume_with_another_grid_starts_a_new_archive(small_files, tmp_path, capsys):
    folder = str(small_files[0].parent)
    out = tmp_path / "run"
    _run(capsys, ["evolve", folder, "--archive", "--archive-bins", "4", "--out", str(out), "--json"])
    state = out / "evolve-state.json"
    assert main(["evolve", "--resume", str(state), "--archive-bins", "5", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"--archive-bins/--archive-poles differ from {state}; starting a new archive" in captured.err
    doc = json.loads(captured.out)
    cells = json.loads(Path(doc["report"]).read_text(encoding="utf-8"))["archive"]["cells"]
    assert {c["generation"] for c in cells} == {2}
    assert json.loads(state.read_text(encoding="utf-8"))["archive"]["bins"] == 5
