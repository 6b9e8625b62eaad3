"""Run folders (issue 12 item 13): a second run never replaces the first run's manifest and grid pages."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lib_stylemix.dataset.images import ImageSet
from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.execute import execute
from lib_stylemix.restyle.plan import make_plan
from lib_stylemix.restyle.runs import choose_run_folder, new_run_folder, plan_key
from tests.restyle.conftest import FakeGenerator


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_execute_refuses_a_folder_holding_another_run(image_set: ImageSet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = make_plan(image_set, "A, B", width=64, height=64)
    execute(first, FakeGenerator(), out)
    before = _snapshot(out)
    second = make_plan(image_set, "C", width=64, height=64)
    with pytest.raises(StyleMixError, match=r"holds another restyle run .*A, B.*choose a new output folder"):
        execute(second, FakeGenerator(), out)
    assert _snapshot(out) == before  # manifest, grid pages and images untouched
    result = execute(first, FakeGenerator(), out)  # the same plan still resumes
    assert len(result.skipped) == 6


def test_second_run_into_the_same_root_gets_its_own_folder(image_set: ImageSet, tmp_path: Path) -> None:
    root = tmp_path / "restyle"
    first = make_plan(image_set, "A, B", width=64, height=64)
    folder1, resumed1 = choose_run_folder(first, root, now=0)
    assert not resumed1 and folder1.parent == root and folder1.name.startswith("run-")
    execute(first, FakeGenerator(), folder1)
    manifest1 = (folder1 / "manifest.json").read_bytes()
    grids1 = _snapshot(folder1 / "grids")
    second = make_plan(image_set, "A, B", width=64, height=64, steps=30)  # other settings: another run
    folder2, resumed2 = choose_run_folder(second, root, now=0)
    assert not resumed2 and folder2 != folder1 and folder2.name == folder1.name + "-2"
    execute(second, FakeGenerator(), folder2)
    assert (folder1 / "manifest.json").read_bytes() == manifest1 and _snapshot(folder1 / "grids") == grids1
    assert json.loads((folder2 / "manifest.json").read_text())["settings"]["steps"] == 30
    # the same plans again find their own folders and resume
    assert choose_run_folder(first, root) == (folder1, True)
    assert choose_run_folder(second, root) == (folder2, True)


def test_root_that_is_itself_a_run_is_resumed(image_set: ImageSet, tmp_path: Path) -> None:
    out = tmp_path / "old-layout"
    plan = make_plan(image_set, "A", width=64, height=64)
    execute(plan, FakeGenerator(), out)
    assert choose_run_folder(plan, out) == (out, True)
    other = make_plan(image_set, "B", width=64, height=64)
    folder, resumed = choose_run_folder(other, out)
    assert not resumed and folder.parent == out


def test_random_seed_policy_is_the_same_run_with_new_seeds(image_set: ImageSet) -> None:
    one = make_plan(image_set, "A", seed_policy="random", rng=random.Random(1))
    two = make_plan(image_set, "A", seed_policy="random", rng=random.Random(2))
    assert [j.seed for j in one.jobs] != [j.seed for j in two.jobs]
    assert plan_key(one) == plan_key(two)
    assert plan_key(make_plan(image_set, "A", seed=1)) != plan_key(make_plan(image_set, "A", seed=2))


def test_new_run_folder_is_numbered_when_taken(tmp_path: Path) -> None:
    first = new_run_folder(tmp_path, now=0)
    first.mkdir()
    assert new_run_folder(tmp_path, now=0).name == first.name + "-2"


def test_other_images_under_the_same_names_are_another_run(image_folder: Path, tmp_path: Path) -> None:
    """Two uploads of a `photo1.png` (or two sets with the same file names) must not resume each other."""
    import shutil

    copy = tmp_path / "elsewhere"
    shutil.copytree(image_folder, copy)
    one = make_plan(image_folder, "A", width=64, height=64)
    two = make_plan(copy, "A", width=64, height=64)
    assert [j.job_id for j in one.jobs] == [j.job_id for j in two.jobs]
    assert plan_key(one) != plan_key(two)
    root = tmp_path / "root"
    folder, _ = choose_run_folder(one, root)
    execute(one, FakeGenerator(), folder)
    assert choose_run_folder(one, root) == (folder, True)
    assert choose_run_folder(two, root)[1] is False
