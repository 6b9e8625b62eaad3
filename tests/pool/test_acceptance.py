"""Issue 10's acceptance, on a realistic pool: 8 SD1.5 rank-32 files with every kohya module, in 3 style
clusters plus an outlier; one generation of `evolve --keep 4` with the default operators and selection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lib_stylemix.lora import open_lora
from lib_stylemix.pool.example_pools import write_cluster_pool
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.settings import EvolveSettings
from tests.pool.test_cli import _digests, _run_json


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("realistic") / "pool"
    write_cluster_pool(folder, rank=32)
    return folder


def test_one_generation_keeps_diverse_far_children_that_save_exactly(realistic, tmp_path, capsys):
    before = _digests(realistic)
    out = tmp_path / "run"
    doc = _run_json(capsys, ["evolve", str(realistic), "--out", str(out), "--keep", "4", "--json"])
    kept = doc["iterations"][0]["kept"]
    assert len(kept) == 4
    pool, _ = Pool.resume(out / "evolve-state.json", cache_dir=out / ".stylemix-cache")
    names = pool.names
    dist = pool.distances()
    norms = pool.norms()

    # ≥ 3 different parent sets, and no two kept children within the dedupe tolerance of each other.
    assert len({frozenset(k["parents"]) for k in kept}) >= 3
    idx = [names.index(k["name"]) for k in kept]
    tol = EvolveSettings().dedupe_tol
    for i, j in itertools.combinations(idx, 2):
        assert dist[i, j] > tol * max(norms[i], norms[j])

    # ≥ 30 % lie at ≥ 0.75 × their parents' spread from their nearest parent (blends: ≤ 0.5); all pass the guard.
    far = 0
    lo, hi = EvolveSettings().strength_band
    for k, i in zip(kept, idx, strict=True):
        parents = [names.index(p) for p in k["parents"]]
        spread = max(dist[a, b] for a, b in itertools.combinations(parents, 2)) if len(parents) > 1 \
            else norms[parents[0]]
        nearest = min(dist[i, p] for p in parents)
        far += nearest >= 0.75 * spread
        assert lo * min(norms[parents]) <= norms[i] <= hi * max(norms[parents])
        assert k["operator"] in ("blend", "orthogonal", "spectral")
    assert far / len(kept) >= 0.3

    # Every written child keeps ≥ 0.99 of its energy, and says so in --json and in its metadata.
    for k in kept:
        assert k["retained_energy"] >= 0.99
        meta = open_lora(k["path"]).metadata
        assert float(meta["stylemix_retained_energy"]) == pytest.approx(k["retained_energy"])
        assert float(meta["stylemix_relative_error"]) == pytest.approx(np.sqrt(1 - k["retained_energy"]), abs=1e-9)

    # Each written file is the ΔW its recipe states, up to the truncation it reports: ‖file − recipe‖ / ‖recipe‖
    # equals √(1 − retained energy), measured exactly from the kernel of the roots and the written file (r×r
    # algebra; the dense float64 comparison of every operator's file is in test_operators / test_files).
    for k in kept:
        check = Pool.load([realistic, k["path"]], cache_dir=out / ".stylemix-cache")  # roots cached by the run
        recipe = pool.member(k["name"]).recipe
        for key in recipe.roots:  # a spectral child rests on a derived root: recompute it in this pool too
            if pool.roots[key].derived is not None:
                check.adopt_derived(pool.roots[key].derived)
        x = recipe.dense(check.space.keys, check.space.blocks)[None]
        f = np.zeros_like(x)
        f[0, :, check.space.keys.index(open_lora(k["path"]).model_hash)] = 1.0
        rel = np.sqrt(check.space.sq_distances(f, x)[0, 0] / check.space.sq_norms(x)[0])
        assert rel == pytest.approx(k["relative_error"], abs=2e-3)
    assert _digests(realistic) == before
