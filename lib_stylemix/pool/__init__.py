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
Only numpy is imported here; torch and matplotlib are imported when files are read or figures drawn.
"""

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.evolve import EvolveResult, Generation, accept, evict, evolve, propose
from lib_stylemix.pool.members import Member
from lib_stylemix.pool.pool import MemberKernel, Pool, RootFile
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.pool.scores import names as _score_names
from lib_stylemix.pool.settings import EvolveSettings

SCORES = _score_names()

__all__ = [
    "SCORES",
    "Candidate",
    "EvolveResult",
    "EvolveSettings",
    "Generation",
    "Member",
    "MemberKernel",
    "Pool",
    "Recipe",
    "RootFile",
    "accept",
    "evict",
    "evolve",
    "propose",
]
