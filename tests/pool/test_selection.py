"""Scores that discriminate, max–min selection, ties, the QD archive and the save plan, on constructed pools."""

from __future__ import annotations

import numpy as np
import pytest

from lib_stylemix.pool import selection
from lib_stylemix.pool.archive import Archive
from lib_stylemix.pool.candidates import MIX, SELECTED
from lib_stylemix.pool.evolve import evolve, propose
from lib_stylemix.pool.figures import classical_mds
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.saving import SaveOptions, plan_rank
from lib_stylemix.pool.settings import EvolveSettings
from tests.pool.conftest import DensePool


def _orthogonal_pool(norms=(1.0, 1.3, 1.6, 2.0)) -> Pool:
    """Members along orthogonal axes with different norms: the case where the old novelty ties at 1."""
    vecs = [np.eye(len(norms) * 2)[i] * n for i, n in enumerate(norms)]
    dp = DensePool([f"s{i}" for i in range(len(norms))], ("B0",), [[v.reshape(2, -1)] for v in vecs])
    return dp.pool()


def test_orthogonal_pairs_old_novelty_ties_new_score_separates():
    pool = _orthogonal_pool(norms=(1.0, 1.0, 1.0, 1.0, 1.5, 2.0))
    cands = propose(pool, EvolveSettings(operators=("blend",), keep=1))
    assert len(cands) == 15
    equal = [c for c in cands if set(c.parents) <= {"s0", "s1", "s2", "s3"}]
    # Old score: exactly 1 for every equal-norm orthogonal pair (ties: the ranking would be rounding noise).
    assert np.ptp([c.novelty for c in equal]) < 1e-12 and equal[0].novelty == pytest.approx(1.0)
    # New score: the distance in units of the pool's spacing separates pairs of different spread …
    scores = sorted({round(c.score / c.resolution) for c in cands})
    assert len(scores) >= 4
    # … and equal-spread pairs are exact ties, decided by the documented rule (generation order).
    chosen = next(c for c in cands if c.status == SELECTED)
    assert set(chosen.parents) == {"s4", "s5"}


def _select(scores, feats, parents, keep, per_parents=1, rule="maxmin", resolution=1e-6):
    data = selection.SelectInput(np.asarray(scores, float), resolution, np.asarray(feats, float),
                                 [frozenset(p) for p in parents], keep, per_parents, 1.0)
    return selection.get(rule).run(data)


def test_maxmin_spreads_where_topk_clusters():
    # Three tight groups of candidates; group A scores a little higher than B and C.
    centres = {"A": (0.0, 0.0), "B": (10.0, 0.0), "C": (0.0, 10.0)}
    feats, scores, parents = [], [], []
    for g, (x, y) in centres.items():
        for k in range(4):
            feats.append((x + 0.01 * k, y))
            scores.append({"A": 3.0, "B": 2.5, "C": 2.4}[g] - 0.001 * k)
            parents.append({len(parents)})  # all parent sets distinct
    top = _select(scores, feats, parents, keep=3, rule="topk")
    assert top == [0, 1, 2]  # all from group A
    spread = _select(scores, feats, parents, keep=3)
    assert spread[0] == 0 and {i // 4 for i in spread} == {0, 1, 2}


def test_maxmin_keeps_one_child_per_parent_set_unless_asked():
    feats = [(0, 0), (5, 0), (0, 5), (5, 5)]
    parents = [{0, 1}, {0, 1}, {0, 1}, {2, 3}]
    picks = _select([1, 1, 1, 1], feats, parents, keep=4)
    assert len(picks) == 2 and {frozenset(parents[i]) for i in picks} == {frozenset({0, 1}), frozenset({2, 3})}
    assert len(_select([1, 1, 1, 1], feats, parents, keep=4, per_parents=0)) == 4


def test_ties_within_resolution_go_to_generation_order():
    # Scores differ by far less than the resolution: the earlier candidate wins, in both rules.
    for rule in ("topk", "maxmin"):
        picks = _select([1.0, 1.0 + 1e-9, 1.0 - 1e-9], [(0, 0), (9, 9), (3, 3)], [{0}, {1}, {2}], keep=1,
                        rule=rule, resolution=1e-4)
        assert picks == [0]


def _plane_pool():
    pts = {"a": (0.0, 0.0), "b": (4.0, 0.0), "c": (0.0, 3.0), "d": (4.0, 3.0), "e": (2.0, 1.5)}
    vecs = [np.array([x, y, 1.0]) for x, y in pts.values()]
    return DensePool(list(pts), ("B0",), [[v.reshape(1, 3)] for v in vecs]).pool()


def test_archive_descriptors_are_the_pool_map_and_cells_follow_the_grid():
    pool = _plane_pool()
    archive = Archive.build(pool.space, [m.recipe for m in pool.members], pool.names, bins=4)
    gram = pool.gram()
    mds = classical_mds(gram)
    # Same configuration as the pool map (up to the sign of each axis).
    for k in range(2):
        col = archive.member_descriptors[:, k]
        assert np.allclose(col, mds[:, k], atol=1e-9) or np.allclose(col, -mds[:, k], atol=1e-9)
    # Grid: members' range widened by half of it on each side; 4 bins per axis.
    span = np.ptp(archive.member_descriptors, axis=0)
    assert archive.lo == pytest.approx(archive.member_descriptors.min(axis=0) - 0.5 * span)
    centre = (archive.lo + archive.hi) / 2
    step = (archive.hi - archive.lo) / 4
    assert archive.cell_of(centre + 0.5 * step) == (2, 2)
    assert archive.cell_of(centre - 0.5 * step) == (1, 1)
    assert archive.cell_of(archive.hi + 100) == (3, 3) and archive.cell_of(archive.lo - 100) == (0, 0)


def test_archive_keeps_the_best_candidate_per_cell_and_reports_it():
    pool = _plane_pool()
    result = evolve(pool, EvolveSettings(operators=("blend", "orthogonal"), ratios=3, keep=2, archive=True,
                                         archive_bins=4, strength_band=(0.0, 10.0)))
    archive = result.archive
    assert archive is not None and archive.cells
    cands = result.generations[0].candidates
    for cell, elite in archive.cells.items():
        rivals = [c.score for c in cands if c.cell == cell and c.status in ("scored", SELECTED)]
        assert elite.score == max(rivals)
    kept = [e for e in archive.cells.values() if e.name is not None]
    assert {e.name for e in kept} == {m.name for m in result.generations[0].kept}
    doc = archive.to_json()
    assert len(doc["cells"]) == len(archive.cells) and len(doc["members"]) == 5


def test_archive_with_poles_measures_shares_of_two_members():
    pool = _plane_pool()
    archive = Archive.build(pool.space, [m.recipe for m in pool.members], pool.names, bins=4, poles=("b", "c"))
    coefs = pool.coefficients()
    d = archive.descriptors(pool.space, coefs)
    b, c = pool.names.index("b"), pool.names.index("c")
    assert d[b, 0] == pytest.approx(1.0) and d[c, 1] == pytest.approx(1.0)
    mix = 0.3 * coefs[b] + 0.7 * coefs[c]
    got = archive.descriptors(pool.space, mix[None])[0]
    g = pool.gram()
    assert got == pytest.approx([(0.3 * g[b, b] + 0.7 * g[c, b]) / g[b, b], (0.3 * g[b, c] + 0.7 * g[c, c]) / g[c, c]])


def test_save_plan_grows_rank_for_energy_and_warns_past_the_cap():
    spectra = {"m1": np.array([4.0, 2.0, 1.0, 0.5]), "m2": np.array([3.0, 0.1])}
    whole = 16 + 4 + 1 + 0.25 + 9 + 0.01
    plan = plan_rank("x", spectra, SaveOptions(energy=0.99), bytes_per_rank=1000)
    assert plan.rank == 3 and plan.retained_energy == pytest.approx((whole - 0.25) / whole)
    assert plan.retained_energy >= 0.99 and plan.warning is None
    capped = plan_rank("x", spectra, SaveOptions(energy=0.99, rank_cap=1), bytes_per_rank=1000)
    assert capped.rank == 1 and capped.retained_energy == pytest.approx(25 / whole)
    assert capped.relative_error == pytest.approx(np.sqrt(1 - 25 / whole))
    assert "size cap" in capped.warning and f"{capped.relative_error:.2%}" in capped.warning
    by_size = plan_rank("x", spectra, SaveOptions(energy=0.99, max_file_mb=2000 / 2**20), bytes_per_rank=1000)
    assert by_size.rank == 2 and by_size.warning
    fixed = plan_rank("x", spectra, SaveOptions(max_rank=2), bytes_per_rank=1000)
    assert fixed.rank == 2 and fixed.warning is None


def test_settings_validate_operator_parameters_against_the_registry():
    from lib_stylemix.errors import StyleMixError

    with pytest.raises(StyleMixError, match="spectral_sigma"):
        EvolveSettings(spectral_sigma=5.0)
    with pytest.raises(StyleMixError, match="unknown operator"):
        EvolveSettings(operators=("blend", "dance"))
    with pytest.raises(StyleMixError, match="selection rule"):
        EvolveSettings(select="best")
    assert EvolveSettings(operators=("blend",), crossover=True).active_operators == ("blend", "crossover")
    assert MIX == "blend"


def test_docs_tables_are_the_registries():
    """docs/evolve.md carries each registry's own table, so the docs cannot drift from the code."""
    from pathlib import Path

    from lib_stylemix.pool import operators, scores

    text = (Path(__file__).resolve().parents[2] / "docs" / "evolve.md").read_text(encoding="utf-8")
    for registry in (scores.SCORES, selection.SELECTIONS, operators.OPERATORS):
        assert registry.markdown() in text
