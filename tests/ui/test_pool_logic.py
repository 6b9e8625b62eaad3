"""The Pool panel's logic on real (small) LoRA files: load, compare, merge, propose/keep/save, previews."""

from __future__ import annotations

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import open_lora
from lib_stylemix.pool.settings import EvolveSettings
from lib_stylemix.seams import CancelFlag, NeverCancel, NullProgress
from lib_stylemix.ui import pool_logic as logic
from tests.ui.conftest import FakeTxt2Img

QUIET = {"progress": NullProgress(), "cancel": NeverCancel()}


@pytest.fixture
def session(lora_dir):
    sess = logic.PoolSession()
    logic.load_sources(sess, [lora_dir], cache_dir=None, **QUIET)
    return sess


def test_load_lists_every_file_once(lora_dir):
    sess = logic.PoolSession()
    msg = logic.load_sources(sess, [lora_dir], cache_dir=lora_dir.parent / "cache", **QUIET)
    assert "Added 4 LoRA(s)" in msg
    again = logic.load_sources(sess, [lora_dir / "style_0.safetensors"], cache_dir=None, **QUIET)
    assert "already in the pool" in again
    rows = logic.member_rows(sess.pool)
    assert [r[0] for r in rows] == [f"style_{i}" for i in range(4)]
    _name, kind, arch, rank, size, lineage = rows[0]
    assert (kind, arch, rank) == ("file", "sd1", 4)
    assert float(size) == pytest.approx((lora_dir / "style_0.safetensors").stat().st_size / 1e6, abs=0.01)
    assert lineage == "file style_0.safetensors"


def test_load_skips_a_broken_file_and_says_so(lora_dir, tmp_path):
    (lora_dir / "0_broken.safetensors").write_bytes(b"\x00" * 20)
    sess = logic.PoolSession()
    msg = logic.load_sources(sess, [lora_dir], cache_dir=None, **QUIET)
    assert "Added 4 LoRA(s)" in msg and "Skipped 0_broken.safetensors: " in msg
    assert len(sess.pool) == 4


def test_load_reports_missing_path(tmp_path):
    with pytest.raises(StyleMixError, match="no such file or folder"):
        logic.load_sources(logic.PoolSession(), [tmp_path / "nope"], cache_dir=None, **QUIET)
    with pytest.raises(StyleMixError, match="nothing to load"):
        logic.load_sources(logic.PoolSession(), [], cache_dir=None, **QUIET)


def test_compare_matches_dense_delta_w(session, lora_dir):
    comparison = logic.compare(session, "frobenius")
    a, b = (open_lora(lora_dir / f"style_{i}.safetensors") for i in (0, 1))
    sq = 0.0
    for module in a.module_names:
        diff = a.factors(module).dense().double() - b.factors(module).dense().double()
        sq += float((diff**2).sum())
    assert comparison.distance[0, 1] == pytest.approx(np.sqrt(sq), rel=1e-4)
    rows = comparison.pair_rows()
    assert len(rows) == 6
    distances = [r[3] for r in rows]
    assert distances == sorted(distances, reverse=True)
    image = logic.heatmap_image(comparison)
    assert image.size[0] > 100 and image.size[1] > 100


def test_block_rows_shares_sum_to_total(session):
    rows = logic.block_rows(session, "style_0", "style_1")
    assert rows
    total = logic.compare(session, "frobenius").distance[0, 1]
    assert np.sqrt(sum(r[3] ** 2 for r in rows)) == pytest.approx(total, rel=1e-3)
    assert sum(float(r[5].rstrip("%")) for r in rows) == pytest.approx(100.0, abs=0.5)


def test_merge_writes_exact_sum_and_adds_to_pool(session, lora_dir):
    path = logic.merge_members(session, ["style_0", "style_1"], [0.3, 0.7], method="concat", rank=None,
                               energy=None, out_name="mix", folder=lora_dir, **QUIET)
    assert path == lora_dir / "mix.safetensors" and path.is_file()
    assert "mix" in session.pool.names
    merged = open_lora(path)
    a, b = (open_lora(lora_dir / f"style_{i}.safetensors") for i in (0, 1))
    module = a.module_names[0]
    expected = 0.3 * a.factors(module).dense().double() + 0.7 * b.factors(module).dense().double()
    got = merged.factors(module).dense().double()
    assert float((got - expected).abs().max()) < 2e-3 * float(expected.abs().max())
    with pytest.raises(StyleMixError, match="already exists"):
        logic.merge_members(session, ["style_0"], [1.0], method="concat", rank=None, energy=None,
                            out_name="mix.safetensors", folder=lora_dir, **QUIET)


def test_merge_rejects_bad_input(session, lora_dir):
    with pytest.raises(StyleMixError, match="one per member"):
        logic.merge_members(session, ["style_0", "style_1", "style_2"], [0.5, 0.5], method="concat", rank=None,
                            energy=None, out_name="x", folder=lora_dir, **QUIET)
    with pytest.raises(StyleMixError, match="not a plain file name"):
        logic.merge_members(session, ["style_0"], [1.0], method="concat", rank=None, energy=None,
                            out_name="../escape", folder=lora_dir, **QUIET)
    with pytest.raises(StyleMixError, match="not in the pool"):
        logic.merge_members(session, ["ghost"], [1.0], method="concat", rank=None, energy=None,
                            out_name="x", folder=lora_dir, **QUIET)
    assert sorted(p.name for p in lora_dir.glob("*.safetensors")) == [f"style_{i}.safetensors" for i in range(4)]


def test_svd_merge_respects_rank(session, lora_dir):
    path = logic.merge_members(session, ["style_0", "style_1"], [0.5], method="svd", rank=3, energy=None,
                               out_name="small", folder=lora_dir, **QUIET)
    assert open_lora(path).rank == 3


def test_propose_keep_save_and_lineage(session, lora_dir):
    settings = logic.evolve_settings(ratios=3.0, keep=2.0, seed=0.0, score="novelty", operators=["blend"])
    msg = logic.propose_candidates(session, settings, **QUIET)
    assert "suggested" in msg and "table shows" not in msg
    rows = logic.candidate_rows(session)
    assert len(rows) == 6 * 3
    assert [r[7] for r in rows[:2]] == ["selected", "selected"]
    assert rows[0][4] >= rows[1][4]
    kept_msg = logic.keep_candidates(session, [rows[0][0]])
    assert "Kept" in kept_msg and session.candidates == []
    unsaved = logic.unsaved_names(session.pool)
    assert len(unsaved) == 1
    assert logic.member_rows(session.pool)[-1][4] == "in memory"
    paths = logic.save_members(session, unsaved, lora_dir, max_rank=4, **QUIET)
    assert paths[0].parent == lora_dir and paths[0].is_file()
    assert logic.unsaved_names(session.pool) == []
    lineage = logic.lineage_rows(session.pool)
    child = next(r for r in lineage if r[0] == unsaved[0])
    assert child[1] == 1 and " · " in child[3] and str(paths[0]) == child[6]
    assert logic.lineage_image(session.pool).size[0] > 300
    assert logic.pool_map_image(session.pool).size[0] > 300


def test_candidate_table_shows_the_best_rows_only(session):
    msg = logic.propose_candidates(session, logic.evolve_settings(ratios=9, keep=1, operators=["blend"]), **QUIET)
    rows = logic.candidate_rows(session)
    assert len(session.candidates) == 54 and len(rows) == logic.MAX_CANDIDATE_ROWS
    assert f"the table shows the best {logic.MAX_CANDIDATE_ROWS}" in msg
    scores = [r[4] for r in rows[1:]]
    assert rows[0][7] == "selected" and scores == sorted(scores, reverse=True)


def test_run_evolve_keeps_members_in_memory(session, lora_dir):
    settings = logic.evolve_settings(iterations=2, ratios=1, keep=1, seed=3)
    text, rows = logic.run_evolve(session, settings, **QUIET)
    assert "2 generation(s)" in text
    assert [r[0] for r in rows] == [1, 2]
    assert len(session.pool) == 6
    assert sorted(p.name for p in lora_dir.glob("*.safetensors")) == [f"style_{i}.safetensors" for i in range(4)]


def test_run_evolve_with_operators_and_archive_draws_the_archive(session):
    settings = logic.evolve_settings(iterations=1, ratios=1, keep=2, operators=["blend", "orthogonal"],
                                     select="maxmin", archive=True)
    _text, rows = logic.run_evolve(session, settings, **QUIET)
    assert len(rows) == 2 and session.archive is not None and session.archive.cells
    assert logic.archive_image(session).size[0] > 300


def test_kept_and_rejected_choices_are_recorded(session):
    logic.propose_candidates(session, logic.evolve_settings(ratios=1, keep=2, operators=["blend"]), **QUIET)
    suggested = [i for i, c in enumerate(session.candidates) if c.status == "selected"]
    logic.keep_candidates(session, suggested[:1])
    decision = session.choices[-1]
    assert len(decision["kept"]) == 1 and len(decision["rejected"]) == 1
    member = session.pool.member(decision["kept"][0])
    assert member.origin["chosen_by"] == "person" and member.origin["rejected_suggestions"] == decision["rejected"]


def test_evolve_stops_when_cancelled(session):
    flag = CancelFlag()
    flag.cancel()
    text, rows = logic.run_evolve(session, logic.evolve_settings(iterations=3), progress=NullProgress(), cancel=flag)
    assert "stopped early" in text and rows == []
    assert len(session.pool) == 4


def test_prompt_stacking_preview(session, lora_dir):
    logic.propose_candidates(session, EvolveSettings(ratios=1, keep=1, operators=("blend",)), **QUIET)
    index = logic.candidate_rows(session)[0][0]
    cand = session.candidates[index]
    loras = logic.stacking_loras(session, index, lora_dir)
    assert sorted(name for name, _ in loras) == sorted(cand.parents)
    assert all(w == pytest.approx(0.5) for _, w in loras)
    from lib_stylemix.settings import StyleMixSettings

    fake = FakeTxt2Img()
    images = logic.render_previews(fake, loras, StyleMixSettings(width=32, height=32, preview_prompts=("a", "b"),
                                                                 preview_seeds=(1,)), **QUIET)
    assert len(images) == 2 and images[0][0].size == (32, 32)
    assert all(f"<lora:{name}:0.5>" in fake.prompts[0] for name, _ in loras)
    before = sorted(lora_dir.iterdir())
    assert sorted(lora_dir.iterdir()) == before


def test_non_linear_candidates_preview_through_a_temporary_file(session, lora_dir):
    from lib_stylemix.settings import StyleMixSettings

    logic.propose_candidates(session, EvolveSettings(operators=("orthogonal", "spectral"), keep=1,
                                                     spectral_draws=1), **QUIET)
    for kind in ("orthogonal", "spectral"):
        index = next(i for i, c in enumerate(session.candidates) if c.kind == kind)
        before = sorted(lora_dir.iterdir())
        loras, temporary = logic.preview_loras(session, index, lora_dir, **QUIET)
        assert temporary is not None and temporary.parent == lora_dir and loras == [(temporary.stem, 1.0)]
        meta = open_lora(temporary).metadata
        assert float(meta["stylemix_retained_energy"]) >= 0.99
        fake = FakeTxt2Img()
        logic.render_previews(fake, loras, StyleMixSettings(width=32, height=32, preview_prompts=("a",),
                                                            preview_seeds=(1,)), **QUIET)
        assert f"<lora:{temporary.stem}:" in fake.prompts[0]
        temporary.unlink()
        assert sorted(lora_dir.iterdir()) == before


def test_preview_refuses_files_outside_lora_folder(session, tmp_path):
    logic.propose_candidates(session, EvolveSettings(ratios=1, keep=1), **QUIET)
    with pytest.raises(StyleMixError, match="preview needs the files in the LoRA folder"):
        logic.stacking_loras(session, 0, tmp_path / "elsewhere")


def test_crossover_candidates_cannot_be_stacked(session, lora_dir):
    logic.propose_candidates(session, EvolveSettings(ratios=1, keep=1, crossover=True), **QUIET)
    index = next(i for i, c in enumerate(session.candidates) if c.kind == "crossover")
    with pytest.raises(StyleMixError, match="per-block weights"):
        logic.stacking_loras(session, index, lora_dir)


def test_remove_forgets_member_not_file(session, lora_dir):
    msg = logic.remove_members(session, ["style_2"])
    assert "untouched" in msg and "style_2" not in session.pool.names
    assert (lora_dir / "style_2.safetensors").is_file()
    with pytest.raises(StyleMixError, match="select"):
        logic.remove_members(session, [])


def test_example_pool_is_written_once_then_reused(tmp_path, monkeypatch):
    import lib_stylemix.lora as lora

    calls = []

    def fake_write(folder):
        calls.append(folder)
        from lib_stylemix.lora.synthetic import EXAMPLE_MARKER

        folder.mkdir(parents=True)
        (folder / EXAMPLE_MARKER).write_text("x")
        (folder / "synthetic_style_01.safetensors").write_bytes(b"")
        return [folder / "synthetic_style_01.safetensors"]

    monkeypatch.setattr(lora, "write_example_pool", fake_write)
    first = logic.example_pool(tmp_path / "ex")
    again = logic.example_pool(tmp_path / "ex")
    assert first == again == [tmp_path / "ex" / "synthetic_style_01.safetensors"] and len(calls) == 1


def test_actions_need_a_pool():
    with pytest.raises(StyleMixError, match="load some first"):
        logic.compare(logic.PoolSession(), "frobenius")
