"""The LoRA pool: members and recipes over root files, the cached kernel K, candidates, scores, evolve, reports.

Public API (what the webui Pool panel and the CLI call):
    Pool.load(sources, cache_dir=…) / Pool.resume(snapshot) / pool.add / remove / rename / members / kernel /
    gram / distances / save_recipe(name, folder, max_rank=…) / snapshot(path, extra)
    propose(pool, settings) -> list[Candidate];  accept(pool, selected) -> list[Member]
    evolve(pool, settings, progress, cancel, save_to=…) -> EvolveResult (with the QD archive when asked)
    registries: pool.scores / pool.selection / pool.operators (`names()`, `get(name)`, one file per entry)
    figures.heatmap_figure / pool_map_figure / lineage_figure / save_png;  report.build_report / write_figures
    ops.merge_to_file / member_summaries / lineage_text / block_geometry / prompt_stack / render_previews:
    the use-cases a front end calls (the Pool panel only turns their results into widgets)
The names below are imported on first use (PEP 562), so `import lib_stylemix.pool.cli` (`--help`) loads neither
numpy nor the engine; numpy comes with the first pool object, matplotlib with the first figure.
"""

from __future__ import annotations

import importlib
from typing import Any

from lib_stylemix.lazy import lazy_exports

_EXPORTS = {
    "lib_stylemix.pool.candidates": ("Candidate",),
    "lib_stylemix.pool.evolve": ("EvolveResult", "Generation", "accept", "evict", "evolve", "propose"),
    "lib_stylemix.pool.members": ("Member",),
    "lib_stylemix.pool.pool": ("MemberKernel", "Pool", "RootFile"),
    "lib_stylemix.pool.recipe": ("Recipe",),
    "lib_stylemix.pool.settings": ("EvolveSettings",),
}


def _score_names() -> Any:
    """The score names when first asked for (new code calls `pool.scores.names()`)."""
    return importlib.import_module("lib_stylemix.pool.scores").names()


__all__ = lazy_exports(__name__, _EXPORTS, computed={"SCORES": _score_names})
