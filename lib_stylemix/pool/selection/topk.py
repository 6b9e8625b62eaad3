"""`topk`: the k best scores, each judged alone (the previous rule)."""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.selection.registry import SelectInput, allowed, register


@register("topk", "the k best (quantised) scores; ties keep generation order; at most `per_parents` picks per "
          "parent set", order=10)
def topk(s: SelectInput) -> list[int]:
    order = np.lexsort((np.arange(len(s.scores)), -s.quantised()))
    picks: list[int] = []
    counts: dict[frozenset[int], int] = {}
    for i in order:
        if len(picks) >= s.keep:
            break
        if allowed(s, counts, int(i)):
            picks.append(int(i))
            counts[s.parent_sets[i]] = counts.get(s.parent_sets[i], 0) + 1
    return picks
