"""Candidate scores, one file each in this folder, found by the registry on first use (in their `order`).

A plugin folder is added with `SCORES.add_path(folder)`; see docs/architecture-registries.md.
"""

from lib_stylemix.pool.scores.registry import SCORES, ScoreInput, digits, get, names, pool_scale, quantise

DEFAULT = "pool-novelty"

__all__ = ["DEFAULT", "SCORES", "ScoreInput", "digits", "get", "names", "pool_scale", "quantise"]
