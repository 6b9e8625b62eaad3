"""Evolve registries: an operator and a score added in ONE new file each reach the CLI, the Pool panel and evolve.

Like the merge-method test in test_registries.py, the toy entries are written into temporary plugin folders
and found through the one registry mechanism's plugin hook (`add_path`), exactly as files dropped into
`lib_stylemix/pool/operators/` and `lib_stylemix/pool/scores/` would be found.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lib_stylemix.pool import operators, propose, scores
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.pool.settings import EvolveSettings
from lib_stylemix.ui.app import build_standalone_app
from tests.pool.conftest import make_dense_pool
from tests.ui.test_blocks import components
from tests.ui.test_registries import _plugin, _subcommand_help, _values

TOY_OPERATOR = '''
"""toy-sum: A + B for every unordered pair of members (a linear recipe, exact by factor concatenation)."""

import itertools

from lib_stylemix.pool.operators.registry import OperatorInput, register


@register("toy-sum", "A + B for every pair of members (test plugin)")
def toy_sum(ctx: OperatorInput) -> list:
    return [ctx.make("toy-sum", (a, b), {}, ctx.coefs[a] + ctx.coefs[b])
            for a, b in itertools.combinations(range(len(ctx.names)), 2)]
'''

TOY_SCORE = '''
"""toy-nearest: the raw distance to the nearest member (no pool scale)."""

from lib_stylemix.pool.scores.registry import ScoreInput, register


@register("toy-nearest", "minⱼ ‖x − mⱼ‖, unscaled (test plugin)")
def toy_nearest(s: ScoreInput):
    return s.dist.min(axis=1), s.delta
'''


@pytest.fixture
def toy_entries(monkeypatch, tmp_path):
    loaded = [_plugin(monkeypatch, tmp_path, operators, operators.OPERATORS, "toy_sum", TOY_OPERATOR),
              _plugin(monkeypatch, tmp_path, scores, scores.SCORES, "toy_nearest", TOY_SCORE)]
    yield "toy-sum", "toy-nearest"
    operators.OPERATORS.unregister("toy-sum")
    scores.SCORES.unregister("toy-nearest")
    for module in loaded:
        sys.modules.pop(module, None)


def test_builtin_evolve_entries_keep_their_order():
    assert operators.names() == ("blend", "orthogonal", "spectral", "split", "extrapolate", "add-difference",
                                 "crossover")
    assert scores.names() == ("pool-novelty", "knn-novelty", "novelty", "legacy-average")
    assert [(p.name, p.type, p.low, p.high) for p in operators.get("blend").params] == [("ratios", int, 1, 99)]


def test_toy_operator_and_score_reach_cli_and_panel(toy_entries, lora_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100000")  # argparse also wraps at hyphens ("toy- nearest")
    help_text = _subcommand_help("evolve")
    assert "toy-sum: A + B for every pair of members (test plugin)" in help_text
    assert "toy-nearest: minⱼ ‖x − mⱼ‖, unscaled (test plugin)" in help_text
    assert "{pool-novelty,knn-novelty,novelty,legacy-average,toy-nearest}" in help_text  # --score choices
    panel = components(build_standalone_app(lora_dir))
    assert _values(panel["stylemix_pool_operators"])[-1] == "toy-sum"
    assert "toy-nearest" in _values(panel["stylemix_pool_score"])
    assert "toy-sum" in operators.OPERATORS.markdown()  # the docs table is read from the same registry


def test_toy_operator_candidates_are_generated_and_scored_by_the_toy_score(toy_entries):
    dense = make_dense_pool(n=4)
    pool = dense.pool()
    settings = EvolveSettings(operators=("blend", "toy-sum"), score="toy-nearest", select="topk", keep=2,
                              per_parents=0)
    candidates = propose(pool, settings)
    toys = [c for c in candidates if c.kind == "toy-sum"]
    assert len(toys) == 6  # one per unordered pair of 4 members
    members = [dense.materialise(Recipe.of_file(name, dense.blocks)) for name in dense.names]
    for c in toys:
        x = dense.materialise(Recipe.from_dense(c.coef, c.keys, c.blocks))
        np.testing.assert_allclose(x, members[c.parent_index[0]] + members[c.parent_index[1]])
        nearest = min(np.linalg.norm(x - m) for m in members)
        assert c.score == pytest.approx(nearest, abs=2 * c.resolution + 1e-9)
    # A + B is farther from every member than any convex mix of a pair, so raw distance prefers the toys.
    assert {c.kind for c in candidates if c.status == "selected"} == {"toy-sum"}
