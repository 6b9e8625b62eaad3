"""Candidates, scores, selection and the evolve loop on K-only pools, checked against materialised ΔW."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.candidates import (
    ADD_DIFFERENCE,
    COPY,
    CROSSOVER,
    EXTRAPOLATE,
    MIX,
    ORTHOGONAL,
    SELECTED,
    STRONG,
    WEAK,
)
from lib_stylemix.pool.evolve import accept, evolve, propose
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.settings import EvolveSettings
from lib_stylemix.seams import CancelFlag
from tests.pool.conftest import make_dense_pool

ALL_ON = dict(ratios=3, extrapolate=0.5, add_difference=True, crossover=True, crossovers=2,
              operators=("blend", "orthogonal"))
# The previous behaviour: blends only, each judged alone by the old score.
BLEND_TOPK = dict(operators=("blend",), select="topk", per_parents=0)


def test_pair_candidates_are_the_seed_set():
    pool = make_dense_pool(n=4).pool()
    cands = propose(pool, EvolveSettings(ratios=1, operators=("blend",)))
    assert len(cands) == 6
    assert all(c.kind == MIX and c.params["ratio"] == 0.5 for c in cands)
    cands = propose(pool, EvolveSettings(ratios=9, operators=("blend",)))
    assert len(cands) == 6 * 9
    assert sorted({round(c.params["ratio"], 6) for c in cands}) == [round(k / 10, 6) for k in range(1, 10)]


def test_k_scores_equal_dense_scores_for_every_generator():
    dp = make_dense_pool(n=4, blocks=3, seed=2)
    pool = dp.pool()
    settings = EvolveSettings(**ALL_ON, strength_band=(0.0, 100.0))
    cands = propose(pool, settings)
    assert {c.kind for c in cands} == {MIX, EXTRAPOLATE, ADD_DIFFERENCE, CROSSOVER, ORTHOGONAL}
    members = np.stack([dp.materialise(m.recipe) for m in pool.members])
    for cand in cands:
        x = dp.materialise(cand.recipe)
        dists = np.linalg.norm(members - x, axis=1)
        assert cand.norm == pytest.approx(np.linalg.norm(x), rel=1e-9)
        assert cand.legacy_average == pytest.approx(dists.mean(), rel=1e-9)
        assert cand.novelty == pytest.approx(dists.min() / np.linalg.norm(x), rel=1e-8, abs=1e-10)
        names = [m.name for m in pool.members]
        assert dists[names.index(cand.nearest)] == pytest.approx(dists.min(), rel=1e-8, abs=1e-10)


def test_exploration_recipes_materialise_to_their_formula():
    dp = make_dense_pool(n=3, blocks=3, seed=4)
    pool = dp.pool()
    w = {name: np.concatenate([m.ravel() for m in dp.w[i]]) for i, name in enumerate(dp.names)}
    cands = propose(pool, EvolveSettings(**ALL_ON, strength_band=(0.0, 100.0)))
    seen = set()
    for cand in cands:
        got = dp.materialise(cand.recipe)
        p = [w[name] for name in cand.parents]
        if cand.kind in (MIX, EXTRAPOLATE):
            t = cand.params["ratio"]
            want = (1 - t) * p[0] + t * p[1]
            if cand.kind == EXTRAPOLATE:
                assert t < 0 or t > 1
        elif cand.kind == ADD_DIFFERENCE:
            want = p[0] + cand.params["scale"] * (p[1] - p[2])
        elif cand.kind == ORTHOGONAL:
            parts = []
            a, b = (dp.names.index(n) for n in cand.parents)
            for blk in range(len(dp.blocks)):
                wa, wb = dp.w[a][blk].ravel(), dp.w[b][blk].ravel()
                parts.append(wa + cand.params["scale"] * (wb - (wa @ wb) / (wa @ wa) * wa))
            want = np.concatenate(parts)
            blocks_a = np.split(want - w[cand.parents[0]], np.cumsum([m.size for m in dp.w[a]])[:-1])
            for blk, part in enumerate(blocks_a):  # the added part is orthogonal to A in every block
                assert abs(part @ dp.w[a][blk].ravel()) < 1e-9 * np.linalg.norm(part) * np.linalg.norm(dp.w[a][blk])
        else:
            first = set(cand.params["from_first"])
            assert first and first != set(dp.blocks)
            parts = []
            for b, block in enumerate(dp.blocks):
                src = dp.names.index(cand.parents[0] if block in first else cand.parents[1])
                parts.append(dp.w[src][b].ravel())
            want = np.concatenate(parts)
        np.testing.assert_allclose(got, want, atol=1e-10)
        seen.add(cand.kind)
    assert seen == {MIX, EXTRAPOLATE, ADD_DIFFERENCE, CROSSOVER, ORTHOGONAL}


@pytest.mark.parametrize("keep", [1, 3, 5])
def test_keep_k_is_honoured(keep):
    """Regression: the original evolve kept at most one child per generation whatever k was."""
    pool = make_dense_pool(n=5).pool()
    result = evolve(pool, EvolveSettings(iterations=2, ratios=3, keep=keep))
    assert [len(g.kept) for g in result.generations] == [keep, keep]
    assert len(pool) == 5 + 2 * keep
    assert all(m.generation == g.index for g in result.generations for m in g.kept)


def test_selected_are_the_best_valid_scores_in_order():
    pool = make_dense_pool(n=5).pool()
    cands = propose(pool, EvolveSettings(ratios=5, keep=4, **BLEND_TOPK))
    chosen = [c for c in cands if c.status == SELECTED]
    others = [c.score for c in cands if c.status not in (SELECTED, WEAK, STRONG, COPY)]
    assert len(chosen) == 4
    assert min(c.score for c in chosen) >= max(others)


def test_dedupe_copies_and_near_duplicates():
    dp = make_dense_pool(n=3, blocks=2, seed=7)
    dp.names.append("twin")
    dp.w.append([m.copy() for m in dp.w[0]])
    pool = dp.pool()
    cands = propose(pool, EvolveSettings(ratios=1, keep=10, **BLEND_TOPK))
    twin_mixes = [c for c in cands if set(c.parents) == {"f0", "twin"}]
    assert twin_mixes and all(c.status == COPY for c in twin_mixes)
    chosen = [c for c in cands if c.status == SELECTED]
    # (f0 + f1)/2 and (twin + f1)/2 are the same ΔW: only one of them may be selected.
    same = [c for c in cands if set(c.parents) in ({"f0", "f1"}, {"twin", "f1"})]
    assert sum(c.status == SELECTED for c in same) == 1
    assert any(c.status == "duplicate" for c in same)
    assert len(chosen) == len({round(c.norm, 9) for c in chosen})


def test_dedupe_marks_near_duplicates_below_the_cut_too():
    dp = make_dense_pool(n=3, blocks=2, seed=7)
    dp.names.append("twin")
    dp.w.append([m * (1 + 1e-6) for m in dp.w[0]])  # not bit-identical: only the tolerance can catch it
    cands = propose(dp.pool(), EvolveSettings(ratios=1, keep=1, **BLEND_TOPK))
    statuses = {frozenset(c.parents): c.status for c in cands}
    assert statuses[frozenset({"f0", "twin"})] == COPY
    for other in ("f1", "f2"):
        pair = {statuses[frozenset({"f0", other})], statuses[frozenset({"twin", other})]}
        assert "duplicate" in pair and len(pair) == 2
    assert sum(c.status == SELECTED for c in cands) == 1


def test_strength_guard_discards_weak_and_exploding():
    dp = make_dense_pool(n=2, blocks=1, seed=1)
    dp.w[1] = [-m for m in dp.w[0]]  # B = −A: the 0.5 mix is zero, extrapolation doubles the norm
    pool = dp.pool()
    cands = propose(pool, EvolveSettings(ratios=1, extrapolate=1.0, strength_band=(0.5, 2.0), operators=("blend",)))
    by_ratio = {round(c.params["ratio"], 6): c for c in cands}
    assert by_ratio[0.5].status == WEAK
    assert by_ratio[2.0].status == STRONG  # ‖−A + 2B‖ = 3‖A‖
    assert by_ratio[-1.0].status == STRONG


def test_novelty_does_not_pick_extreme_ratios_but_legacy_does():
    """Two far-apart styles and a cluster near the first: legacy-average rewards copies of the outlier."""
    rng = np.random.default_rng(0)
    dim = 40
    a = rng.standard_normal(dim)
    b = rng.standard_normal(dim) * 3
    cluster = [a + 0.1 * rng.standard_normal(dim) for _ in range(3)]
    vecs = [a, b, *cluster]
    from tests.pool.conftest import DensePool

    dp = DensePool([f"s{i}" for i in range(len(vecs))], ("B0",), [[v.reshape(8, 5)] for v in vecs])
    settings = dict(ratios=9, keep=1, **BLEND_TOPK)
    legacy = next(c for c in propose(dp.pool(), EvolveSettings(**settings, score="legacy-average"))
              if c.status == SELECTED)
    novelty = next(c for c in propose(dp.pool(), EvolveSettings(**settings, score="novelty"))
                   if c.status == SELECTED)
    assert legacy.params["ratio"] in (0.1, 0.9)
    assert 0.2 <= novelty.params["ratio"] <= 0.8
    # Legacy's pick is a near-copy of a parent; novelty's pick is far from every member relative to its size.
    assert legacy.novelty < novelty.novelty


def test_max_pool_size_evicts_least_novel():
    pool = make_dense_pool(n=4).pool()
    result = evolve(pool, EvolveSettings(iterations=3, ratios=3, keep=2, max_pool_size=5))
    assert len(pool) == 5
    evicted = [name for g in result.generations for name in g.evicted]
    assert len(evicted) == 4 + 3 * 2 - 5
    assert all(name in pool.history for name in evicted)


def test_deterministic_for_a_seed():
    def run(seed):
        pool = make_dense_pool(n=4, blocks=4).pool()
        evolve(pool, EvolveSettings(iterations=2, keep=2, crossover=True, add_difference=True, seed=seed,
                                    max_exploratory=10))
        return [(m.name, m.score) for m in pool.members]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_resume_equals_uninterrupted_run():
    settings = EvolveSettings(iterations=4, ratios=3, keep=2, crossover=True, add_difference=True, seed=11,
                              max_exploratory=20, max_pool_size=8)
    full = make_dense_pool(n=4, blocks=3).pool()
    evolve(full, settings)

    first = make_dense_pool(n=4, blocks=3).pool()
    evolve(first, EvolveSettings.from_json(settings.to_json(), iterations=2))
    doc = json.loads(json.dumps(first.snapshot_doc({"settings": settings.to_json()})))
    resumed = Pool.resume_from_doc(doc, make_dense_pool(n=4, blocks=3).pool())
    evolve(resumed, EvolveSettings.from_json(doc["settings"], iterations=2))

    assert resumed.generation == full.generation == 4
    assert resumed.names == full.names
    assert [m.score for m in resumed.members] == pytest.approx([m.score for m in full.members])
    assert [m.recipe.digest() for m in resumed.members] == [m.recipe.digest() for m in full.members]


def test_cancel_stops_between_candidates_and_leaves_pool_unchanged():
    pool = make_dense_pool(n=6).pool()
    flag = CancelFlag()

    class CancelAfterFirstChunk:
        def begin(self, total, text=""):
            pass

        def step(self, done, text=""):
            flag.cancel()

        def end(self, text=""):
            pass

    before = pool.names
    result = evolve(pool, EvolveSettings(iterations=3, ratios=60), CancelAfterFirstChunk(), flag)
    assert result.cancelled
    assert result.generations == []
    assert pool.names == before and pool.generation == 0


def test_progress_reports_stage_and_eta():
    pool = make_dense_pool(n=4).pool()
    texts = []

    class Recorder:
        def begin(self, total, text=""):
            texts.append(("begin", total, text))

        def step(self, done, text=""):
            texts.append(("step", done, text))

        def end(self, text=""):
            texts.append(("end", 0, text))

    evolve(pool, EvolveSettings(iterations=2, ratios=2, operators=("blend",)), Recorder())
    assert texts[0] == ("begin", 12, "generation 1 (1/2): scoring")
    assert texts[1][0] == "step" and texts[1][1] == 12 and "ETA" in texts[1][2]
    second = [t for t in texts if t[0] == "begin"][1]
    assert second[2].startswith("generation 2 (2/2): scoring [run ETA")


def test_propose_then_accept_a_human_choice():
    pool = make_dense_pool(n=3).pool()
    cands = propose(pool, EvolveSettings(ratios=3, keep=1))
    assert len(pool) == 3
    pick = [c for c in cands if c.status != SELECTED][:2]
    members = accept(pool, pick)
    assert [m.parents for m in members] == [c.parents for c in pick]
    assert pool.generation == 1 and len(pool) == 5
    assert all(m.name.startswith("sm_") for m in members)


def test_pool_membership_rename_remove():
    pool = make_dense_pool(n=3).pool()
    evolve(pool, EvolveSettings(iterations=1, keep=1))
    child = pool.members[-1]
    parent = child.parents[0]
    pool.rename(parent, "renamed")
    assert "renamed" in pool.history[child.name].parents
    with pytest.raises(StyleMixError):
        pool.rename("renamed", "a/b")
    with pytest.raises(StyleMixError):
        pool.rename("renamed", "f1" if parent != "f1" else "f2")
    pool.remove("renamed")
    assert "renamed" not in pool.names
    # The child is still measurable: it is a recipe over root files, not over pool members.
    assert np.isfinite(pool.distances()).all()
    with pytest.raises(StyleMixError, match="not in the pool"):
        pool.member("renamed")


def test_settings_validation():
    with pytest.raises(StyleMixError, match="keep"):
        EvolveSettings(keep=0)
    with pytest.raises(StyleMixError, match="score"):
        EvolveSettings(score="best")
    with pytest.raises(StyleMixError, match="strength band"):
        EvolveSettings(strength_band=(1.5, 2.0))
