"""Kernel-only algebra: every number must equal the one computed from materialised ΔW."""

from __future__ import annotations

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.algebra import REST_BLOCK, KernelSpace
from lib_stylemix.pool.kcache import KernelCache
from lib_stylemix.pool.recipe import Recipe
from tests.pool.conftest import make_dense_pool


def _random_recipes(dp, count, rng, uniform):
    out = []
    for _ in range(count):
        coef = rng.standard_normal((len(dp.blocks), len(dp.names)))
        if uniform:
            coef = np.repeat(coef[:1], len(dp.blocks), axis=0)
        out.append(Recipe.from_dense(coef, tuple(dp.names), dp.blocks))
    return out


@pytest.mark.parametrize("uniform", [True, False])
def test_gram_and_distances_equal_dense(uniform):
    dp = make_dense_pool(n=4, blocks=3, seed=1)
    pool = dp.pool()
    rng = np.random.default_rng(5)
    xs = _random_recipes(dp, 6, rng, uniform)
    ys = _random_recipes(dp, 4, rng, uniform)
    keys = pool.space.keys
    x = np.stack([r.dense(keys, pool.space.blocks) for r in xs])
    y = np.stack([r.dense(keys, pool.space.blocks) for r in ys])
    dx = np.stack([dp.materialise(r) for r in xs])
    dy = np.stack([dp.materialise(r) for r in ys])
    np.testing.assert_allclose(pool.space.gram(x, y), dx @ dy.T, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(pool.space.sq_norms(x), (dx**2).sum(1), rtol=1e-10)
    want = ((dx[:, None, :] - dy[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(pool.space.sq_distances(x, y), want, rtol=1e-9, atol=1e-9)


def test_residual_block_keeps_total_when_blocks_do_not_cover_it():
    dp = make_dense_pool(n=3, blocks=2)
    total, by_block = dp.kernels()
    partial = {"B0": by_block["B0"]}
    space = KernelSpace.build(("a", "b", "c"), total, partial)
    assert space.blocks == ("B0", REST_BLOCK)
    np.testing.assert_allclose(space.total, total)
    complete = KernelSpace.build(("a", "b", "c"), total, by_block, ("B1", "B0"))
    assert complete.blocks == ("B1", "B0")


def test_distances_clamp_rounding_to_zero():
    dp = make_dense_pool(n=2, blocks=1)
    pool = dp.pool()
    x = pool.coefficients()
    d = pool.space.sq_distances(x, x)
    assert np.all(d >= 0)
    assert np.allclose(np.diag(d), 0.0)


def test_member_distances_and_cosine():
    dp = make_dense_pool(n=3, blocks=2, seed=3)
    pool = dp.pool()
    flat = np.stack([np.concatenate([w.ravel() for w in dp.w[i]]) for i in range(3)])
    want = np.sqrt(((flat[:, None] - flat[None]) ** 2).sum(-1))
    np.testing.assert_allclose(pool.distances("frobenius"), want, rtol=1e-9, atol=1e-9)
    norms = np.linalg.norm(flat, axis=1)
    cos = flat @ flat.T / np.outer(norms, norms)
    np.testing.assert_allclose(pool.distances("cosine"), 1 - cos, atol=1e-9)
    with pytest.raises(StyleMixError):
        pool.distances("manhattan")


def test_recipe_json_roundtrip_and_digest():
    blocks = ("BASE", "IN01")
    r = Recipe(blocks, (("a", (0.3, 0.3)), ("b", (1.0, 0.0))))
    doc = r.to_json({"a": "alpha"})
    assert doc["terms"][0] == {"file": "a", "name": "alpha", "weight": 0.3}
    assert doc["terms"][1]["block_weights"] == {"BASE": 1.0, "IN01": 0.0}
    back = Recipe.from_json(doc)
    assert back == r
    assert back.digest() == r.digest()
    noisy = Recipe(blocks, (("a", (0.1 + 0.2, 0.1 + 0.2)), ("b", (1.0, 0.0))))
    assert Recipe(blocks, (("a", (0.3, 0.3)), ("b", (1.0, 0.0)))).digest() == noisy.digest()
    assert Recipe(blocks, (("a", (0.31, 0.31)), ("b", (1.0, 0.0)))).digest() != r.digest()
    with pytest.raises(StyleMixError):
        Recipe.from_json({"blocks": ["x"], "terms": [{"weight": 1}]})


def test_recipe_dense_maps_blocks_by_name():
    r = Recipe(("A", "B"), (("k1", (2.0, 2.0)), ("k2", (1.0, 0.0))))
    d = r.dense(("k1", "k2"), ("B", "C", "A"))
    np.testing.assert_array_equal(d, [[2.0, 0.0], [2.0, 0.0], [2.0, 1.0]])
    with pytest.raises(StyleMixError, match="not in the pool"):
        r.dense(("k1",))


def test_kernel_cache_roundtrip_and_holes(tmp_path):
    dp = make_dense_pool(n=3, blocks=2)
    total, by_block = dp.kernels()
    cache = KernelCache(tmp_path)
    cache.put(["a", "b"], total[:2, :2], {b: m[:2, :2] for b, m in by_block.items()})
    again = KernelCache(tmp_path)
    got, got_blocks = again.get(["b", "c", "a"])
    np.testing.assert_allclose(got[0, 0], total[1, 1])
    np.testing.assert_allclose(got[2, 0], total[0, 1])
    assert np.isnan(got[1]).all() and np.isnan(got[:, 1]).all()
    np.testing.assert_allclose(got_blocks["B1"][2, 2], by_block["B1"][0, 0])
    again.put(["a", "b", "c"], total, by_block)
    full, _ = KernelCache(tmp_path).get(["a", "b", "c"])
    np.testing.assert_allclose(full, total)


def test_damaged_cache_is_ignored(tmp_path):
    (tmp_path / "kernel.json").write_text("{not json", encoding="utf-8")
    cache = KernelCache(tmp_path)
    total, _ = cache.get(["x"])
    assert np.isnan(total).all()


def test_features_embed_distances():
    dp = make_dense_pool(n=4, blocks=3, seed=9)
    pool = dp.pool()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 3, 4))
    f = pool.space.features(x)
    got = ((f[:, None] - f[None]) ** 2).sum(-1)
    np.testing.assert_allclose(got, pool.space.sq_distances(x, x), rtol=1e-8, atol=1e-8)


def test_member_kernel_blocks_sum_to_total():
    dp = make_dense_pool(n=3, blocks=2, seed=4)
    pool = dp.pool()
    from lib_stylemix.pool.evolve import evolve
    from lib_stylemix.pool.settings import EvolveSettings

    evolve(pool, EvolveSettings(iterations=1, keep=2, crossover=True))
    k = pool.kernel()
    assert k.names == pool.names and k.total.shape == (5, 5)
    np.testing.assert_allclose(sum(k.by_block.values()), k.total, rtol=1e-12)
    flat = np.stack([dp.materialise(m.recipe) for m in pool.members])
    np.testing.assert_allclose(k.total, flat @ flat.T, rtol=1e-9, atol=1e-9)
