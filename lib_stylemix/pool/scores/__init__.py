"""Candidate scores (one file each); importing this package registers them all, in the order listed here."""

import importlib

from lib_stylemix.pool.scores.registry import SCORES, ScoreInput, digits, get, names, pool_scale, quantise

for _module in ("pool_novelty", "knn_novelty", "novelty", "legacy_average"):
    importlib.import_module(f"{__name__}.{_module}")

DEFAULT = "pool-novelty"

__all__ = ["DEFAULT", "SCORES", "ScoreInput", "digits", "get", "names", "pool_scale", "quantise"]
