"""The evolve loop: generate → score → select (or fill the archive) → add to the pool, repeated; plus its
human-in-the-loop half.

"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib_stylemix.errors import CancelledError
from lib_stylemix.pool.archive import Archive
from lib_stylemix.pool.candidates import SELECTED, Candidate
from lib_stylemix.pool.generation import generate
from lib_stylemix.pool.members import RECIPE, Member, recipe_name
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.saving import SavePlan
from lib_stylemix.pool.scoring import Reference, mark_duplicates, member_novelty, score_candidates, select
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
    archive: Archive | None = None

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
    archive: Archive | None = None,
) -> list[Candidate]:
    """Scored candidates for the pool's next generation; the suggested ones have status `selected`.

    With an `archive`, valid candidates first compete for its cells and the selection rule picks among the
    new elites. The pool is not changed (the archive is). `stage` prefixes the progress text.
    """
    generation = pool.generation + 1
    rng = np.random.default_rng([settings.seed, generation])
    members = pool.members
    coefs = pool.coefficients(members)
    names = [m.name for m in members]
    if len(members) < 2:
        return []
    candidates, space, coefs = generate(coefs, names, pool.space, settings, rng, pool)
    history = np.stack([m.recipe.dense(space.keys, space.blocks) for m in pool.history.values()])
    scale = score_candidates(space, candidates, Reference(coefs, names, history), settings,
                             progress or NullProgress(), cancel or NeverCancel(),
                             stage=stage or f"generation {generation}: scoring")
    mark_duplicates(space, candidates, settings.dedupe_tol, scale.feats)
    among = archive.offer(space, candidates, generation) if archive is not None else None
    select(space, candidates, settings, scale, among)
    for cand in candidates:
        if cand.derived is not None:
            cand.space = space
    return candidates


def accept(pool: Pool, selected: list[Candidate]) -> list[Member]:
    """Add the chosen candidates to the pool as in-memory recipes of the next generation."""
    generation = pool.generation + 1
    kept = []
    for cand in selected:
        parents = [pool.history[p] for p in cand.parents if p in pool.history]  # a parent may be renamed since
        if cand.derived is not None:
            pool.adopt_derived(cand.derived, cand.space)
        recipe = cand.recipe
        member = Member(
            name=recipe_name(recipe, parents),
            recipe=recipe,
            kind=RECIPE,
            parents=cand.parents,
            generation=generation,
            score=cand.score,
            origin={"kind": cand.kind, "operator": cand.kind, **cand.params, "novelty": cand.novelty,
                    "legacy_average": cand.legacy_average, "nearest_distance": cand.nearest_distance,
                    "resolution": cand.resolution},
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
    on_save: Callable[[SavePlan], None] | None = None,
    archive: Archive | None = None,
) -> EvolveResult:
    """Run `settings.iterations` generations on `pool` (in place).

    Kept recipes are written to `save_to` (svd-compressed to `settings.max_rank`) when it is given; otherwise
    they stay in memory. A cancel stops between candidates or between saves; generations already finished
    stay in the pool and the result says `cancelled`. In archive mode, `archive` (e.g. restored from a
    resumed run's state) is continued; without one a new archive is built on the current members.
    """
    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    result = EvolveResult([])
    if settings.archive:
        result.archive = archive or new_archive(pool, settings)
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
            candidates = propose(pool, settings, progress=progress, cancel=cancel, stage=stage,
                                 archive=result.archive)
            selected = [c for c in candidates if c.status == SELECTED]
            kept = accept(pool, selected)
            _name_elites(result.archive, selected, kept)
            gen = Generation(pool.generation, candidates, kept)
            result.generations.append(gen)
            if save_to is not None:
                for member in kept:
                    gen.saved[member.name] = pool.save_recipe(member.name, save_to, settings=settings,
                                                              progress=progress, cancel=cancel, on_plan=on_save)
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


def new_archive(pool: Pool, settings: EvolveSettings) -> Archive | None:
    """The empty archive of a new run in archive mode, on the current members (None without two members)."""
    if not settings.archive or len(pool) < 2:
        return None
    return Archive.build(pool.space, [m.recipe for m in pool.members], pool.names, settings.archive_bins,
                         settings.archive_poles)


def _name_elites(archive: Archive | None, selected: list[Candidate], kept: list[Member]) -> None:
    """Archive cells whose elite joined the pool record the member's name."""
    if archive is None:
        return
    for cand, member in zip(selected, kept, strict=True):
        elite = archive.cells.get(cand.cell) if cand.cell is not None else None
        if elite is not None and elite.recipe == cand.recipe:
            elite.name = member.name
