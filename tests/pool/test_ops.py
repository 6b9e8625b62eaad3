"""Pool use-cases (`pool/ops.py`) and lineage in metadata (issue 12 item 16): a merge keeps its parents,
generation and recipe, in the pool at once and after the file is loaded again in a new pool."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import open_lora
from lib_stylemix.pool import ops
from lib_stylemix.pool.lineage import DIGEST_KEY, source_recipe
from lib_stylemix.pool.pool import Pool
from lib_stylemix.seams import NeverCancel, NullProgress
from tests.pool.conftest import dense_delta

QUIET = {"progress": NullProgress(), "cancel": NeverCancel()}


@pytest.fixture
def pool(small_files):
    return Pool.load(small_files)


def _formula(text: str) -> tuple[str, set[str]]:
    """"gen g: a + b" as ("gen g", {a, b}): recipe terms are kept in root-hash order, not input order."""
    head, _, body = text.rpartition(": ")
    return head, set(body.split(" + "))


def _merge(pool, folder, names, weights, out, method="concat", **options):
    return ops.merge_to_file(pool, ops.MergeRequest(names, weights, out, folder, method, options), **QUIET)


def test_merge_in_the_pool_keeps_parents_generation_and_recipe(pool, small_files):
    folder = small_files[0].parent
    path = _merge(pool, folder, ["style_0", "style_1"], [0.3, 0.7], "mix")
    member = pool.member("mix")
    assert member.parents == ("style_0", "style_1") and member.generation == 1
    assert member.origin["kind"] == "merge" and member.origin["method"] == "concat"
    assert _formula(ops.lineage_text(pool, member)) == ("gen 1", {"0.3·style_0", "0.7·style_1"})
    meta = open_lora(path).metadata
    assert json.loads(meta["stylemix_lineage_parents"]) == ["style_0", "style_1"]
    assert meta["stylemix_generation"] == "1" and meta[DIGEST_KEY] == source_recipe(member).digest()
    # exact in ΔW space against the dense float64 sum
    a, b, got = dense_delta(small_files[0]), dense_delta(small_files[1]), dense_delta(path)
    for module, value in got.items():
        expect = 0.3 * a[module] + 0.7 * b[module]
        assert np.linalg.norm(value - expect) <= 2e-3 * np.linalg.norm(expect)  # written as fp16


def test_a_merge_of_a_merge_is_the_next_generation(pool, small_files):
    folder = small_files[0].parent
    _merge(pool, folder, ["style_0", "style_1"], [0.5, 0.5], "first")
    _merge(pool, folder, ["first", "style_2"], [1.0, 1.0], "second")
    second = pool.member("second")
    assert second.parents == ("first", "style_2") and second.generation == 2
    # the first merge is a file now (possibly compressed), so the second is a recipe over that file
    assert _formula(ops.recipe_formula(pool, second))[1] == {"1·first", "1·style_2"}


def test_reloaded_file_shows_its_lineage_when_the_parents_are_loaded(pool, small_files, tmp_path):
    folder = small_files[0].parent
    _merge(pool, folder, ["style_0", "style_1"], [0.25, 0.75], "mix", method="svd", rank=2)
    again = Pool.load([folder])
    member = again.member("mix")
    assert member.kind == "file" and member.parents == ("style_0", "style_1") and member.generation == 1
    assert _formula(ops.lineage_text(again, member)) == ("gen 1", {"0.25·style_0", "0.75·style_1"})
    # alone (its parents elsewhere) it still knows its parents and generation, just not their files
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(folder / "mix.safetensors", alone)
    lonely = Pool.load([alone]).member("mix")
    assert lonely.generation == 1
    assert ops.lineage_text(Pool.load([alone]), lonely) == "gen 1: from style_0 · style_1"


def test_saved_evolve_member_reloads_with_its_lineage(pool, small_files, tmp_path):
    from lib_stylemix.pool.members import Member

    child = Member("child", pool.mix([pool.member("style_0"), pool.member("style_3")], [0.6, 0.4]),
                   parents=("style_0", "style_3"), generation=3, score=0.125, origin={"kind": "mix"})
    pool.add_recipe(child)
    out = tmp_path / "saved"
    path = pool.save_recipe("child", out, max_rank=8)
    shutil.copytree(small_files[0].parent, out, dirs_exist_ok=True)
    again = Pool.load([out])
    back = again.member(path.stem)
    assert (back.parents, back.generation, back.score) == (("style_0", "style_3"), 3, 0.125)
    assert back.origin["kind"] == "mix"
    assert _formula(ops.lineage_text(again, back)) == ("gen 3", {"0.6·style_0", "0.4·style_3"})


def test_plain_and_foreign_files_stay_generation_zero(small_files):
    pool = Pool.load(small_files)
    member = pool.member("style_0")
    assert member.parents == () and member.generation == 0
    assert ops.lineage_text(pool, member) == "file style_0.safetensors"


def test_legacy_merge_is_not_recorded_as_the_recipe(pool, small_files):
    path = _merge(pool, small_files[0].parent, ["style_0", "style_1"], [0.5, 0.5], "old", method="legacy")
    meta = open_lora(path).metadata
    assert DIGEST_KEY not in meta and json.loads(meta["stylemix_origin"])["method"] == "legacy"


def test_merge_refuses_existing_names_and_empty_merges(pool, small_files):
    folder = small_files[0].parent
    with pytest.raises(StyleMixError, match="already exists"):
        _merge(pool, folder, ["style_0"], [1.0], "style_1")
    with pytest.raises(StyleMixError, match="every weight is zero"):
        _merge(pool, folder, ["style_0", "style_1"], [0.0, 0.0], "zero")
    with pytest.raises(StyleMixError, match="only apply to the svd"):
        _merge(pool, folder, ["style_0"], [1.0], "x", rank=2)


def test_block_geometry_adds_up_to_the_total_distance(pool):
    rows = ops.block_geometry(pool, "style_0", "style_2")
    total = pool.distances("frobenius")[0, 2]
    assert np.sqrt(sum(r.distance ** 2 for r in rows)) == pytest.approx(total, rel=1e-9)
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    norms = pool.norms()
    assert np.sqrt(sum(r.norm_a ** 2 for r in rows)) == pytest.approx(norms[0], rel=1e-9)


def test_prompt_stack_needs_uniform_weights_and_files_in_the_lora_folder(pool, small_files, tmp_path):
    recipe = pool.mix([pool.member("style_0"), pool.member("style_1")], [0.5, -0.25])
    assert sorted(ops.prompt_stack(pool, recipe, small_files[0].parent)) == [("style_0", 0.5), ("style_1", -0.25)]
    with pytest.raises(StyleMixError, match="not there"):
        ops.prompt_stack(pool, recipe, tmp_path / "elsewhere")
