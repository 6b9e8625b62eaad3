"""What the Pool panel does, without gradio: one browser session's pool and the tables and files it shows.

The panel (`pool_panel.py`) only wires widgets to these functions, so everything here is tested directly.
Files are only written by `merge_members` and `save_members`, always into the host's LoRA folder and never
over an existing file; candidates and evolve results stay in memory until the person keeps and saves them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelToken, Progress
from lib_stylemix.ui.common import SessionJob

if TYPE_CHECKING:
    from PIL import Image

    from lib_stylemix.epochs import Txt2ImgGenerator
    from lib_stylemix.pool.candidates import Candidate
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.settings import EvolveSettings
    from lib_stylemix.settings import StyleMixSettings

MEMBER_HEADERS = ["name", "kind", "arch", "rank", "size MB", "lineage"]
PAIR_HEADERS = ["#", "a", "b", "distance", "cosine"]
BLOCK_HEADERS = ["block", "‖a‖", "‖b‖", "distance", "cosine", "share of distance²"]
CANDIDATE_HEADERS = ["#", "kind", "parents", "params", "score", "novelty", "nearest", "status"]
EVOLVE_HEADERS = ["generation", "name", "kind", "parents", "score", "recipe"]
LINEAGE_HEADERS = ["name", "generation", "kind", "parents", "recipe", "score", "file"]
MAX_CANDIDATE_ROWS = 30


@dataclass
class PoolSession:
    """Everything the Pool panel remembers for one browser session (kept in a `gr.State`)."""

    pool: Pool | None = None
    candidates: list[Candidate] = field(default_factory=list)
    job: SessionJob = field(default_factory=SessionJob)
    busy: threading.Lock = field(default_factory=threading.Lock)
    archive: Any = None  # the QD archive of the last Run evolve (`pool.archive.Archive`)
    choices: list[dict[str, Any]] = field(default_factory=list)  # the person's keep / reject decisions

    def require_pool(self, need: int = 1) -> Pool:
        if self.pool is None or len(self.pool) < need:
            have = 0 if self.pool is None else len(self.pool)
            raise StyleMixError(f"this needs at least {need} LoRA(s) in the pool (it has {have}); load some first")
        return self.pool


def _new_pool(cache_dir: Path | None) -> Pool:
    from lib_stylemix.pool.ops import new_pool

    return new_pool(cache_dir)


def load_sources(
    session: PoolSession,
    sources: Sequence[str | Path],
    *,
    cache_dir: Path | None,
    progress: Progress,
    cancel: CancelToken,
) -> str:
    """Add LoRA files, folders or glob patterns to the session's pool; returns a one-line summary."""
    if not sources:
        raise StyleMixError("nothing to load: type a folder or file path, or upload .safetensors files")
    pool = session.pool if session.pool is not None else _new_pool(cache_dir)
    added = pool.add(list(sources), progress=progress, cancel=cancel)
    session.pool = pool
    session.candidates = []
    skipped = "".join(f" Skipped {s.path.name}: {s.reason}." for s in pool.skipped)
    if not added:
        return f"No new LoRAs: every readable file is already in the pool ({len(pool)} member(s)).{skipped}"
    names = ", ".join(m.name for m in added)
    return f"Added {len(added)} LoRA(s) ({pool.arch}): {names}. The pool has {len(pool)} member(s).{skipped}"


def example_pool(folder: Path) -> list[Path]:
    """The synthetic example pool in `folder`: written the first time, reused afterwards."""
    from lib_stylemix.lora import write_example_pool
    from lib_stylemix.lora.synthetic import EXAMPLE_MARKER

    existing = sorted(folder.glob("synthetic_style_*.safetensors"))
    if (folder / EXAMPLE_MARKER).is_file() and existing:
        return existing
    return write_example_pool(folder)


def member_rows(pool: Pool | None) -> list[list[Any]]:
    """One row per member: name, kind, arch, rank, size on disk, and where it came from."""
    from lib_stylemix.pool import ops

    if pool is None:
        return []
    return [[m.name, m.kind, m.arch, m.rank, m.size_mb, m.lineage] for m in ops.member_summaries(pool)]


def remove_members(session: PoolSession, names: Sequence[str]) -> str:
    pool = session.require_pool()
    if not names:
        raise StyleMixError("select the member(s) to remove first")
    for name in names:
        pool.remove(name)
    session.candidates = []
    return f"Removed {', '.join(names)} from the pool (files on disk are untouched)."


def method_choices() -> list[str]:
    """The merge methods the panel offers: every registered one (built-ins and plugins)."""
    from lib_stylemix.lora import merge_methods

    return list(merge_methods.names())


def method_help() -> str:
    """One Markdown sentence per registered merge method, for the Merge tab."""
    from lib_stylemix.lora import merge_methods

    return " ".join(f"*{m.name}*: {m.help}." for m in merge_methods.METHODS.entries())


def metric_choices() -> list[str]:
    """The distances the Compare tab offers: every registered metric."""
    from lib_stylemix.lora import metrics

    return list(metrics.names())


@dataclass
class Comparison:
    names: list[str]
    distance: np.ndarray
    cosine: np.ndarray
    metric: str
    matrix: np.ndarray | None = None  # distances under `metric` (the heatmap and the ranking use it)

    def pair_rows(self) -> list[list[Any]]:
        """Pairs ranked from most different to most alike under the chosen metric."""
        n = len(self.names)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        matrix = self.matrix if self.matrix is not None else self.distance
        pairs.sort(key=lambda p: -matrix[p])
        return [[k + 1, self.names[i], self.names[j], round(float(self.distance[i, j]), 5),
                 round(float(self.cosine[i, j]), 4)] for k, (i, j) in enumerate(pairs)]


def compare(session: PoolSession, metric: str) -> Comparison:
    """Distances and cosines between all members, exact from the kernel (no tensor is read again)."""
    from lib_stylemix.lora import metrics

    pool = session.require_pool(2)
    if metric not in metrics.names():
        raise StyleMixError(f"{metric!r}: unknown metric (use {' or '.join(metrics.names())})")
    distance = pool.distances("frobenius")
    cosine = 1.0 - pool.distances("cosine")
    return Comparison(pool.names, distance, cosine, metric, pool.distances(metric))


def figure_image(fig: Any) -> Image.Image:
    """A matplotlib figure as a PIL image (shown in a gr.Image, which looks the same in gradio 3 and 4)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    image = Image.open(buffer)
    image.load()
    return image.convert("RGB")


def heatmap_image(comparison: Comparison) -> Image.Image:
    """The member × member matrix of the chosen metric as a labelled heatmap (similar members adjacent)."""
    from lib_stylemix.lora import metrics
    from lib_stylemix.pool.figures import heatmap_figure

    metric = metrics.get(comparison.metric)
    matrix = comparison.matrix if comparison.matrix is not None else comparison.distance
    return figure_image(heatmap_figure(comparison.names, matrix, title=metric.title, label=metric.axis))


def pool_map_image(pool: Pool) -> Image.Image:
    """Members placed in 2-D by classical MDS of their exact ΔW geometry, parents linked to children."""
    from lib_stylemix.pool.figures import pool_map_figure

    members = pool.members
    index = {m.name: i for i, m in enumerate(members)}
    edges = [(index[p], index[m.name]) for m in members for p in m.parents if p in index]
    return figure_image(pool_map_figure(pool.names, pool.gram(), edges, [m.generation for m in members]))


def lineage_image(pool: Pool) -> Image.Image:
    """Every member the session has seen, by generation, with arrows from parents."""
    from lib_stylemix.pool.figures import lineage_figure

    history = list(pool.history.values())
    current = set(pool.names)
    fig = lineage_figure([m.name for m in history], [m.parents for m in history], [m.generation for m in history],
                         [m.name in current for m in history])
    return figure_image(fig)


def block_rows(session: PoolSession, a: str, b: str) -> list[list[Any]]:
    """How two members differ block by block (exact from the per-block kernels)."""
    from lib_stylemix.pool import ops

    pool = session.require_pool(2)
    return [[r.block, round(r.norm_a, 5), round(r.norm_b, 5), round(r.distance, 5), round(r.cosine, 4),
             f"{100 * r.share:.1f}%"] for r in ops.block_geometry(pool, a, b)]


def merge_members(
    session: PoolSession,
    names: Sequence[str],
    weights: Sequence[float],
    *,
    method: str,
    rank: int | None,
    energy: float | None,
    out_name: str,
    folder: Path,
    progress: Progress,
    cancel: CancelToken,
) -> Path:
    """Merge members with weights into `<folder>/<out_name>.safetensors` and add the file, with its lineage,
    to the pool (see `pool.ops.merge_to_file`); `rank`/`energy` reach the methods that take them (svd)."""
    from lib_stylemix.lora import merge_methods
    from lib_stylemix.pool import ops

    pool = session.require_pool()
    own = {p.name for p in merge_methods.get(method).params}  # the panel's rank/energy fields only feed svd
    options = {k: v for k, v in {"rank": rank, "energy": energy}.items() if k in own}
    request = ops.MergeRequest(names, weights, out_name, folder, method, options)
    path = ops.merge_to_file(pool, request, progress=progress, cancel=cancel)
    session.candidates = []
    return path


def evolve_settings(**values: Any) -> EvolveSettings:
    """`EvolveSettings` from panel values (numbers arrive as floats from gradio sliders)."""
    from lib_stylemix.pool.settings import EvolveSettings

    ints = ("iterations", "ratios", "keep", "crossovers", "seed")
    for key in ints:
        if key in values and values[key] is not None:
            values[key] = int(values[key])
    for key in ("max_pool_size", "max_rank"):
        if key in values:
            values[key] = int(values[key]) if values[key] else None
    if "operators" in values:
        values["operators"] = tuple(values["operators"] or ())
    return EvolveSettings(**values)


def propose_candidates(session: PoolSession, settings: EvolveSettings, *, progress: Progress,
                       cancel: CancelToken) -> str:
    """Score the next generation's candidates (the pool is unchanged); the top-k are pre-selected."""
    from lib_stylemix.pool.candidates import SELECTED
    from lib_stylemix.pool.evolve import propose

    pool = session.require_pool(2)
    session.candidates = propose(pool, settings, progress=progress, cancel=cancel)
    chosen = sum(c.status == SELECTED for c in session.candidates)
    shown = "" if len(session.candidates) <= MAX_CANDIDATE_ROWS else f" (the table shows the best {MAX_CANDIDATE_ROWS})"
    return (f"{len(session.candidates)} candidate(s) scored by {settings.score}; {chosen} suggested{shown}. "
            "Preview them or keep the ones you like — nothing is written yet.")


def candidate_rows(session: PoolSession) -> list[list[Any]]:
    """Candidates best first (suggested ones on top), capped so the table stays readable."""
    from lib_stylemix.pool.candidates import SELECTED

    order = sorted(range(len(session.candidates)),
                   key=lambda i: (session.candidates[i].status != SELECTED, -session.candidates[i].score, i))
    rows = []
    for i in order[:MAX_CANDIDATE_ROWS]:
        c = session.candidates[i]
        params = ", ".join(f"{k}={_short(v)}" for k, v in c.params.items())
        rows.append([i, c.kind, " · ".join(c.parents), params, round(c.score, 5), round(c.novelty, 5),
                     c.nearest, c.status])
    return rows


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return f"{len(value)} block(s)"
    return str(value)


def candidate(session: PoolSession, index: int) -> Candidate:
    if not 0 <= index < len(session.candidates):
        raise StyleMixError(f"candidate #{index}: no such candidate (propose candidates first)")
    return session.candidates[index]


def keep_candidates(session: PoolSession, indices: Sequence[int]) -> str:
    """Add the chosen candidates to the pool as in-memory members of the next generation."""
    from lib_stylemix.pool.evolve import accept

    pool = session.require_pool(2)
    if not indices:
        raise StyleMixError("give the # of the candidate(s) to keep")
    chosen = [candidate(session, i) for i in dict.fromkeys(indices)]
    rejected = [c for c in session.candidates if c.status == "selected" and c not in chosen]
    kept = accept(pool, chosen)
    decision = {"generation": pool.generation, "kept": [m.name for m in kept],
                "rejected": [{"operator": c.kind, "parents": list(c.parents), "params": c.params} for c in rejected]}
    session.choices.append(decision)
    for member in kept:  # lands in the lineage, the snapshot and the saved file's metadata
        member.origin["chosen_by"] = "person"
        member.origin["rejected_suggestions"] = decision["rejected"]
    session.candidates = []
    return (f"Kept {', '.join(m.name for m in kept)} (generation {pool.generation}, in memory). "
            "Save them to write LoRA files.")


def run_evolve(session: PoolSession, settings: EvolveSettings, *, progress: Progress,
               cancel: CancelToken) -> tuple[str, list[list[Any]]]:
    """Run whole generations automatically; kept members stay in memory until saved."""
    from lib_stylemix.pool.evolve import evolve

    pool = session.require_pool(2)
    result = evolve(pool, settings, progress, cancel)
    session.candidates = []
    session.archive = result.archive
    names = pool.root_names()
    rows = [[gen.index, m.name, m.origin.get("kind", ""), " · ".join(m.parents),
             round(float(m.score or 0.0), 5), m.recipe.describe(names)]
            for gen in result.generations for m in gen.kept]
    state = "stopped early" if result.cancelled else "finished"
    evicted = sum(len(g.evicted) for g in result.generations)
    text = (f"Evolve {state}: {len(result.generations)} generation(s), {len(rows)} member(s) kept in memory"
            + (f", {evicted} evicted" if evicted else "") + ". Save the ones you want as files.")
    return text, rows


def archive_image(session: PoolSession) -> Image.Image | None:
    """The last run's QD archive as a picture (None when the run had no archive)."""
    from lib_stylemix.pool.archive_figure import archive_figure

    if session.archive is None:
        return None
    return figure_image(archive_figure(session.archive))


def unsaved_names(pool: Pool | None) -> list[str]:
    if pool is None:
        return []
    return [m.name for m in pool.members if m.kind != "file" and m.path is None]


def save_members(session: PoolSession, names: Sequence[str], folder: Path, *, max_rank: int | None,
                 progress: Progress, cancel: CancelToken) -> list[Path]:
    """Write in-memory members as LoRA files (svd-compressed to `max_rank`, default the parents' rank)."""
    pool = session.require_pool()
    if not names:
        raise StyleMixError("select the kept member(s) to save")
    folder.mkdir(parents=True, exist_ok=True)
    return [pool.save_recipe(name, folder, max_rank=max_rank, progress=progress, cancel=cancel) for name in names]


def lineage_rows(pool: Pool | None) -> list[list[Any]]:
    """Every member the session has seen (removed ones too), oldest first, with parents and recipe."""
    if pool is None:
        return []
    from lib_stylemix.pool import ops

    current = set(pool.names)
    rows = []
    for member in pool.history.values():
        kind = member.kind if member.name in current else f"{member.kind} (removed)"
        score = "" if member.score is None else round(float(member.score), 5)
        rows.append([member.name, member.generation, kind, " · ".join(member.parents),
                     ops.recipe_formula(pool, member), score, str(member.path) if member.path else ""])
    return rows


def stacking_loras(session: PoolSession, index: int, lora_folder: Path) -> list[tuple[str, float]]:
    """`(name, weight)` pairs whose `<lora:…>` tags render candidate `index` exactly (prompt stacking)."""
    from lib_stylemix.pool import ops

    pool = session.require_pool(2)
    cand = candidate(session, index)
    return ops.prompt_stack(pool, cand.recipe, lora_folder, f"candidate #{index} ({cand.kind})")


def preview_loras(session: PoolSession, index: int, lora_folder: Path, *, progress: Progress,
                  cancel: CancelToken) -> tuple[list[tuple[str, float]], Path | None]:
    """Tags that render candidate `index`, and the temporary file they need (see `ops.candidate_preview`)."""
    from lib_stylemix.pool import ops

    cand = candidate(session, index)
    return ops.candidate_preview(session.require_pool(2), cand, lora_folder, f"candidate #{index} ({cand.kind})",
                                 progress=progress, cancel=cancel)


def render_previews(
    generator: Txt2ImgGenerator,
    loras: Sequence[tuple[str, float]],
    settings: StyleMixSettings,
    *,
    progress: Progress,
    cancel: CancelToken,
) -> list[tuple[Image.Image, str]]:
    """Render the settings' preview prompts × seeds with the candidate's `<lora:…>` tags stacked in."""
    from lib_stylemix.pool import ops

    return ops.render_previews(generator, loras, settings, progress=progress, cancel=cancel)
