"""Pool members and their names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib_stylemix.pool.recipe import Recipe

FILE = "file"
RECIPE = "recipe"


@dataclass
class Member:
    """One pool entry: a root file, or a recipe that exists only in memory until it is saved.

    `path` is the file on disk: the root file itself, or where a recipe was saved. `score` is the score the
    member had when it was kept; `retained_energy` is the share of ‖ΔW‖² the saved (compressed) file keeps.
    """

    name: str
    recipe: Recipe
    kind: str = FILE
    parents: tuple[str, ...] = ()
    generation: int = 0
    score: float | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    retained_energy: float | None = None

    def to_json(self, names: dict[str, str] | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "formula": self.recipe.describe(names or {}),
            "recipe": self.recipe.to_json(names),
            "parents": list(self.parents),
            "generation": self.generation,
            "score": self.score,
            "origin": self.origin,
            "path": str(self.path) if self.path else None,
            "retained_energy": self.retained_energy,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Member:
        return Member(
            name=str(doc["name"]),
            recipe=Recipe.from_json(doc["recipe"]),
            kind=str(doc.get("kind", RECIPE)),
            parents=tuple(doc.get("parents", ())),
            generation=int(doc.get("generation", 0)),
            score=doc.get("score"),
            origin=dict(doc.get("origin") or {}),
            path=Path(doc["path"]) if doc.get("path") else None,
            retained_energy=doc.get("retained_energy"),
        )


def short_token(member: Member, length: int = 6) -> str:
    """A few file-name-safe characters that identify a parent inside a child's name."""
    if member.kind == RECIPE:
        return member.recipe.digest()[:length]
    words = [w for w in re.split(r"[^A-Za-z0-9]+", member.name) if w]
    if not words:
        return member.recipe.digest()[:length]
    # First word plus the numbers keep "synthetic_style_04" apart from "…_05" ("synt04") and "style_3_0" from
    # "style_0_3" ("styl30" / "styl03"); without numbers the last word stands in.
    tail = "".join(w for w in words[1:] if w.isdigit())[-(length // 2):] or words[-1][: length // 2]
    token = words[0][: length - len(tail)] + tail if len(words) > 1 else words[0]
    return token[:length]


def recipe_name(recipe: Recipe, parents: list[Member]) -> str:
    """`sm_<short-parents>_<hash8>`: readable lineage, and a hash that changes whenever the recipe does."""
    tokens = "-".join(short_token(p) for p in parents[:3]) or "mix"
    return f"sm_{tokens}_{recipe.digest()[:8]}"
