"""The realistic cluster pool: its geometry, and the problem it shows with the old novelty score."""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.evolve import propose
from lib_stylemix.pool.example_pools import cluster_labels
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.settings import EvolveSettings


def test_clusters_are_similar_inside_and_orthogonal_across(cluster_files):
    pool = Pool.load([cluster_files[0].parent])
    cos = 1.0 - pool.distances("cosine")
    labels = cluster_labels()
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if labels[i] == labels[j]:
                assert 0.4 < cos[i, j] < 0.8
            else:
                assert abs(cos[i, j]) < 0.1


def test_old_novelty_ties_at_one_on_orthogonal_pairs(cluster_files):
    """Reproduction of issue 10: every cross-style 0.5 mix scores novelty ≈ 1, so top-k is rounding noise."""
    pool = Pool.load([cluster_files[0].parent])
    labels = dict(zip(pool.names, cluster_labels(), strict=True))
    cands = propose(pool, EvolveSettings(keep=4, score="novelty", select="topk", operators=("blend",)))
    cross = [c for c in cands if labels[c.parents[0]] != labels[c.parents[1]]]
    assert len(cross) >= 20
    assert np.ptp([c.novelty for c in cross]) < 0.05
    assert all(abs(c.novelty - 1.0) < 0.03 for c in cross)
