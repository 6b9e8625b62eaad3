"""One generation's candidates: run the chosen operators (registry order), subsample, add derived roots, dedupe.

Kept apart from `candidates.py` (the Candidate type every operator builds) so operators can import that type
while this module imports the operators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lib_stylemix.pool.algebra import KernelSpace
from lib_stylemix.pool.candidates import MIX, Candidate
from lib_stylemix.pool.derived import augment
from lib_stylemix.pool.operators import OPERATORS, OperatorInput

if TYPE_CHECKING:
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.settings import EvolveSettings


def generate(
    coefs: np.ndarray,
    names: list[str],
    space: KernelSpace,
    settings: EvolveSettings,
    rng: np.random.Generator,
    pool: Pool | None = None,
) -> tuple[list[Candidate], KernelSpace, np.ndarray]:
    """All candidates of one generation from member coefficient stack `coefs` (members × blocks × roots).

    Runs `settings.active_operators` in registry order. Candidates of operators other than `blend` beyond
    `settings.max_exploratory` are subsampled with `rng`; exact coefficient duplicates are dropped (first one
    wins). Returns the candidates, the space they live in (the pool's, plus provisional derived roots) and
    the member coefficients over that space.
    """
    ctx = OperatorInput(coefs, names, space, settings, rng, pool)
    out: list[Candidate] = []
    explore: list[Candidate] = []
    for entry in OPERATORS.entries():
        if entry.name in settings.active_operators:
            (out if entry.name == MIX else explore).extend(entry.run(ctx))
    if len(explore) > settings.max_exploratory:
        pick = np.sort(rng.choice(len(explore), size=settings.max_exploratory, replace=False))
        explore = [explore[i] for i in pick]
    out.extend(explore)
    derived = [c for c in out if c.derived is not None]
    if derived and pool is not None:
        space = augment(pool, space, [c.derived for c in derived])
        extra = len(space.keys) - coefs.shape[2]
        coefs = np.pad(coefs, ((0, 0), (0, 0), (0, extra)))
        for cand in out:
            cand.coef = np.pad(cand.coef, ((0, 0), (0, extra)))
            cand.keys = space.keys
            if cand.derived is not None:
                cand.coef[:, space.keys.index(cand.derived.key)] = 1.0
    unique, seen = [], set()
    for cand in out:
        key = (np.round(cand.coef, 9) + 0.0).tobytes()  # + 0.0 folds -0.0 into 0.0
        if key not in seen:
            seen.add(key)
            unique.append(cand)
    return unique, space, coefs
