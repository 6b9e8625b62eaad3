"""The evolve loop: generate → score → keep top k → add to the pool, repeated; plus its human-in-the-loop half.

`propose` stops after scoring (the UI shows the candidates, the person picks), `accept` adds a selection, and
`evolve` chains them. Generation g draws its random numbers from `default_rng([seed, g])`, so a run resumed
from a snapshot after generation g continues exactly like an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib_stylemix.errors import CancelledError
from lib_stylemix.pool.candidates import SELECTED, Candidate, generate
from lib_stylemix.pool.members import RECIPE, Member, recipe_name
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.scoring import mark_duplicates, member_novelty, score_candidates, select_top
from lib_stylemix.pool.settings import EvolveSettings
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress
from lib_stylemix.threads import limited


@dataclass
class Generation:
    """What one generation did: its candidates (with scores and statuses), kept members, evictions."""

    index: int
    candidates: list[Candidate]
    kept: list[Member]
    evicted: list[str] = field(default_factory=list)
    saved: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class EvolveResult:
    generations: list[Generation]
    cancelled: bool = False

    @property
    def kept(self) -> list[Member]:
        return [m for g in self.generations for m in g.kept]


def propose(
    pool: Pool,
    settings: EvolveSettings,
    *,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    stage: str | None = None,
) -> list[Candidate]:
    """Scored candidates for the pool's next generation; the top-k suggestions have status `selected`.

    The pool is not changed. `stage` prefixes the progress text (default "generation g: scoring").
    """
    generation = pool.generation + 1
    rng = np.random.default_rng([settings.seed, generation])
    members = pool.members
    coefs = pool.coefficients(members)
    names = [m.name for m in members]
    if len(members) < 2:
        return []
    candidates = generate(coefs, names, pool.space.keys, pool.space.blocks, settings, rng)
    score_candidates(pool.space, candidates, coefs, names, settings, progress or NullProgress(),
                     cancel or NeverCancel(), stage=stage or f"generation {generation}: scoring")
    mark_duplicates(pool.space, candidates, settings.dedupe_tol)
    select_top(candidates, settings.keep)
    return candidates


def accept(pool: Pool, selected: list[Candidate]) -> list[Member]:
    """Add the chosen candidates to the pool as in-memory recipes of the next generation."""
    generation = pool.generation + 1
    kept = []
    for cand in selected:
        parents = [pool.history[p] for p in cand.parents if p in pool.history]  # a parent may be renamed since
        recipe = cand.recipe
        member = Member(
            name=recipe_name(recipe, parents),
            recipe=recipe,
            kind=RECIPE,
            parents=cand.parents,
            generation=generation,
            score=cand.score,
            origin={"kind": cand.kind, **cand.params, "novelty": cand.novelty,
                    "legacy_average": cand.legacy_average},
        )
        kept.append(pool.add_recipe(member))
    pool.generation = generation
    return kept


def evict(pool: Pool, max_size: int | None) -> list[str]:
    """Drop the least novel members until the pool fits `max_size` (files are never touched)."""
    evicted: list[str] = []
    while max_size is not None and len(pool) > max_size:
        members = pool.members
        novelty = member_novelty(pool.space, pool.coefficients(members))
        worst = int(np.argmin(novelty))
        evicted.append(pool.remove(members[worst].name).name)
    return evicted


@limited
def evolve(
    pool: Pool,
    settings: EvolveSettings,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    *,
    save_to: str | Path | None = None,
    on_generation: Callable[[Generation], None] | None = None,
) -> EvolveResult:
    """Run `settings.iterations` generations on `pool` (in place).

    Kept recipes are written to `save_to` (svd-compressed to `settings.max_rank`) when it is given; otherwise
    they stay in memory. A cancel stops between candidates or between saves; generations already finished
    stay in the pool and the result says `cancelled`.
    """
    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    result = EvolveResult([])
    run_start = time.monotonic()
    for i in range(settings.iterations):
        start = time.monotonic()
        stage = f"generation {pool.generation + 1} ({i + 1}/{settings.iterations}): scoring"
        if i:
            per_generation = (start - run_start) / i
            stage += f" [run ETA {per_generation * (settings.iterations - i):.0f}s]"
        try:
            if cancel.cancelled():
                raise CancelledError("evolve stopped before the next generation")
            candidates = propose(pool, settings, progress=progress, cancel=cancel, stage=stage)
            selected = [c for c in candidates if c.status == SELECTED]
            kept = accept(pool, selected)
            gen = Generation(pool.generation, candidates, kept)
            result.generations.append(gen)
            if save_to is not None:
                for member in kept:
                    gen.saved[member.name] = pool.save_recipe(member.name, save_to, max_rank=settings.max_rank,
                                                              score_kind=settings.score, progress=progress,
                                                              cancel=cancel)
        except CancelledError:
            result.cancelled = True
            break
        gen.evicted = evict(pool, settings.max_pool_size)
        gen.seconds = time.monotonic() - start
        if on_generation is not None:
            on_generation(gen)
        if not candidates:
            break
    return result
