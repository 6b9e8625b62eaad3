"""Every operator's ΔW against a dense float64 reference, on files with the real module shapes."""

from __future__ import annotations

import numpy as np
import pytest

from lib_stylemix.lora import open_lora
from lib_stylemix.pool.derived import DerivedRoot
from lib_stylemix.pool.evolve import accept, propose
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.settings import EvolveSettings
from tests.pool.conftest import dense_delta

WIDE = dict(strength_band=(0.0, 100.0), dedupe_tol=0.0, keep=1)


def _dense_roots(pool):
    """ΔW per module of every file root (float64)."""
    return {key: dense_delta(root.lora) for key, root in pool.roots.items() if root.lora is not None}


def _dense_recipe(pool, recipe, dense):
    """A recipe's ΔW per module from dense matrices (derived roots by a dense SVD of their source)."""
    modules = sorted({m for d in dense.values() for m in d})
    return {module: _dense_module(pool, recipe, module, dense) for module in modules}


def _dense_module(pool, recipe, module, dense):
    block = next(r.lora.block_of(module) for r in pool.roots.values() if r.lora is not None)
    b = recipe.blocks.index(block)
    total = 0.0
    for key, coefs in recipe.terms:
        root = pool.roots[key]
        part = _dense_derived(pool, root.derived, module, dense) if root.derived is not None \
            else dense[key].get(module, 0.0)
        total = total + coefs[b] * part
    return total


def _dense_derived(pool, root: DerivedRoot, module, dense):
    source = _dense_module(pool, root.source, module, dense)
    u, s, vt = np.linalg.svd(source, full_matrices=False)
    k = int(np.sum(s > s[0] * 1e-10))
    return (u[:, :k] * root.transform(s[:k], module)) @ vt[:k]


def _flat_dense(mods):
    return np.concatenate([np.ravel(mods[m]) for m in sorted(mods)])


def _check_saved_matches(pool, member, tmp_path, dense):
    path = pool.save_recipe(member.name, tmp_path / "out", dtype="fp32",
                            settings=EvolveSettings(energy=1.0))
    want = _flat_dense(_dense_recipe(pool, member.recipe, dense))
    got = _flat_dense(dense_delta(open_lora(path)))
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)
    assert member.retained_energy == pytest.approx(1.0)


@pytest.mark.parametrize("operator", ["orthogonal", "split", "spectral"])
def test_operator_child_saves_to_the_delta_it_states(cluster_files, tmp_path, operator):
    pool = Pool.load([cluster_files[0].parent])
    dense = _dense_roots(pool)
    cands = [c for c in propose(pool, EvolveSettings(operators=(operator,), **WIDE)) if c.kind == operator]
    assert cands
    cand = cands[len(cands) // 2]
    member = accept(pool, [cand])[0]
    # The K-based norm is the dense norm of the recipe's ΔW.
    want = _flat_dense(_dense_recipe(pool, member.recipe, dense))
    assert cand.norm == pytest.approx(np.linalg.norm(want), rel=1e-6)
    _check_saved_matches(pool, member, tmp_path, dense)


def test_spectral_kernel_rows_equal_dense_inner_products(cluster_files):
    pool = Pool.load([cluster_files[0].parent])
    dense = _dense_roots(pool)
    settings = EvolveSettings(operators=("spectral",), spectral_draws=1, spectral_gamma=3.0, **WIDE)
    cands = propose(pool, settings)
    assert {c.params["mode"] for c in cands} == {"lognormal", "power"}
    for cand in (cands[0], cands[-1]):  # one log-normal draw, one power spectrum
        pool2 = Pool.load([cluster_files[0].parent])
        key = pool2.adopt_derived(cand.derived, cand.space)
        derived = _flat_dense({m: _dense_derived(pool2, cand.derived, m, dense) for m in dense[pool2.space.keys[0]]})
        i = pool2.space.keys.index(key)
        for j, other in enumerate(pool2.space.keys[:-1]):
            ref = _flat_dense(dense[other])
            assert pool2.space.total[i, j] == pytest.approx(derived @ ref, rel=1e-9, abs=1e-12 * np.abs(derived).max())
        assert pool2.space.total[i, i] == pytest.approx(derived @ derived, rel=1e-9)


def test_spectral_power_sharpens_and_keeps_the_norm(cluster_files):
    pool = Pool.load([cluster_files[0].parent])
    member = pool.members[0]
    sharp = DerivedRoot(member.recipe, "power", 3.0, 0, "sharp")
    sigma = np.array([3.0, 2.0, 1.0])
    out = sharp.transform(sigma, "m")
    assert np.linalg.norm(out) == pytest.approx(np.linalg.norm(sigma))
    assert out[0] / out[-1] == pytest.approx(27.0)
    key = pool.adopt_derived(sharp)
    i, j = pool.space.keys.index(key), pool.space.keys.index(member.recipe.roots[0])
    assert pool.space.total[i, i] == pytest.approx(pool.space.total[j, j], rel=1e-6)  # file K: float32 products
    assert pool.space.total[i, j] < pool.space.total[j, j]


def test_spectral_child_survives_snapshot_and_resume(cluster_files, tmp_path):
    from lib_stylemix.pool.evolve import evolve

    pool = Pool.load([cluster_files[0].parent])
    settings = EvolveSettings(operators=("spectral",), spectral_draws=1, spectral_gamma=1.0, keep=1)
    kept = evolve(pool, settings).kept
    assert kept and kept[0].origin["operator"] == "spectral"
    state = pool.snapshot(tmp_path / "state.json")
    resumed, _ = Pool.resume(state)
    assert resumed.names == pool.names
    key = kept[0].recipe.roots[0]
    assert resumed.roots[key].derived == pool.roots[key].derived
    i, j = pool.space.keys.index(key), resumed.space.keys.index(key)
    np.testing.assert_allclose(resumed.space.by_block[:, j, :], pool.space.by_block[:, i, :], rtol=1e-9, atol=1e-12)
    # And the next generation can build on it (a child of a spectral child: recipes over a derived root).
    evolve(resumed, EvolveSettings(operators=("blend", "orthogonal"), keep=2, seed=1))
    assert resumed.generation == 2
