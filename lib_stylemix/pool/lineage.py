"""Lineage in LoRA metadata: what a saved or merged file records about where it came from, and reading it back.

Every file StyleMix writes from the pool (an evolved member saved by `saving.py`, a merge made in the Pool
panel by `ops.merge_to_file`) carries the same `stylemix_*` keys, so a file loaded again later — in another
session, from the webui's LoRA folder — comes back with its parents, generation and recipe instead of as a
generation-0 file of unknown origin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.members import Member
from lib_stylemix.pool.recipe import Recipe

DIGEST_KEY = "stylemix_recipe_digest"
RECIPE_KEY = "stylemix_recipe"
PARENTS_KEY = "stylemix_lineage_parents"
GENERATION_KEY = "stylemix_generation"
SCORE_KEY = "stylemix_score"
SCORE_KIND_KEY = "stylemix_score_kind"
ORIGIN_KEY = "stylemix_origin"
# The recipe a file was made from (over root-file hashes), kept in `Member.origin` when the file is loaded.
SOURCE_RECIPE = "source_recipe"


def lineage_metadata(member: Member, names: Mapping[str, str], *, stem: str, max_rank: int,
                     retained_energy: float | None, score_kind: str | None = None,
                     with_digest: bool = True) -> dict[str, str]:
    """The `stylemix_*` metadata of a file made from `member` (its recipe, parents, generation, score, origin).

    `with_digest` False for files that are not the recipe's ΔW (a legacy factor average): the digest is how a
    later save recognises a file that already holds a recipe, so it must not point at something else.
    """
    metadata = {
        "ss_output_name": stem,
        RECIPE_KEY: json.dumps(member.recipe.to_json(dict(names)), separators=(",", ":")),
        PARENTS_KEY: json.dumps(list(member.parents)),
        GENERATION_KEY: str(member.generation),
        SCORE_KEY: "" if member.score is None else repr(float(member.score)),
        SCORE_KIND_KEY: score_kind or "",
        ORIGIN_KEY: json.dumps(member.origin, separators=(",", ":")),
        "stylemix_max_rank": str(max_rank),
        "stylemix_retained_energy": repr(float(1.0 if retained_energy is None else retained_energy)),
    }
    if with_digest:
        metadata[DIGEST_KEY] = member.recipe.digest()
    return metadata


def read_lineage(member: Member, metadata: Mapping[str, str]) -> bool:
    """Give a freshly loaded file member the lineage its metadata records; False when it records none.

    Damaged or foreign values are ignored (the file is still a good LoRA); the recipe is kept in
    `member.origin[SOURCE_RECIPE]` because the member itself is the file, not the recipe.
    """
    if PARENTS_KEY not in metadata and GENERATION_KEY not in metadata:
        return False
    member.parents = tuple(str(p) for p in _json(metadata.get(PARENTS_KEY), []) if isinstance(p, str))
    member.generation = _int(metadata.get(GENERATION_KEY))
    score = metadata.get(SCORE_KEY) or ""
    member.score = _float(score) if score else None
    origin = _json(metadata.get(ORIGIN_KEY), {})
    member.origin = dict(origin) if isinstance(origin, dict) else {}
    recipe = _json(metadata.get(RECIPE_KEY), None)
    if isinstance(recipe, dict):
        try:
            Recipe.from_json(recipe)
            member.origin[SOURCE_RECIPE] = recipe
        except StyleMixError:
            pass
    return True


def source_recipe(member: Member) -> Recipe | None:
    """The recipe a loaded file was made from, if its metadata recorded one."""
    doc = member.origin.get(SOURCE_RECIPE)
    return Recipe.from_json(doc) if isinstance(doc, dict) else None


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _int(text: str | None) -> int:
    try:
        return max(int(text or 0), 0)
    except ValueError:
        return 0


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
