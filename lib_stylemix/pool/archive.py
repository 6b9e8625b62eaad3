"""Quality–diversity archive (MAP-Elites): a grid over two descriptor axes, each cell keeps its best candidate.

Descriptors are exact functions of K against the reference members (the pool when the run started):
  map   (default) the first two axes of the pool map, i.e. classical MDS of the reference members: with G the
        reference Gram matrix, C = I − 11ᵀ/p and C·G·C = V Λ Vᵀ, a recipe x has coordinates
        d_k(x) = (C·(g_x − Ḡ))ᵀ v_k / √λ_k  with g_x = (⟨x, m_j⟩)_j and Ḡ the column means of G
        (the members themselves land exactly on their MDS coordinates);
  poles two members A, B: d_1(x) = ⟨x, A⟩/‖A‖², d_2(x) = ⟨x, B⟩/‖B‖² ("how much of A's and of B's style").
The grid spans the members' descriptor range widened by half of it on each side, `bins` cells per axis;
candidates outside fall in the edge cells. A valid candidate (strength guard passed, not a copy/duplicate)
enters a cell when its score beats the cell's elite.

The whole archive (map, bounds, elites) is stored in the evolve state (`to_state`/`from_state`), so a resumed
run continues the same grid with the same reference members instead of starting an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.algebra import KernelSpace
from lib_stylemix.pool.candidates import SCORED, Candidate
from lib_stylemix.pool.recipe import Recipe

MARGIN = 0.5


@dataclass
class Elite:
    """The best candidate of one cell so far."""

    score: float
    descriptor: tuple[float, float]
    operator: str
    parents: tuple[str, ...]
    recipe: Recipe
    generation: int
    name: str | None = None  # the member name when the elite was kept into the pool

    def to_json(self, names: dict[str, str] | None = None) -> dict[str, Any]:
        return {"score": self.score, "descriptor": list(self.descriptor), "operator": self.operator,
                "parents": list(self.parents), "generation": self.generation, "name": self.name,
                "recipe": self.recipe.to_json(names)}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Elite:
        d0, d1 = (float(v) for v in doc["descriptor"])
        return Elite(float(doc["score"]), (d0, d1), str(doc["operator"]), tuple(str(p) for p in doc["parents"]),
                     Recipe.from_json(doc["recipe"]), int(doc["generation"]), doc.get("name"))


@dataclass
class Archive:
    """Descriptor map fixed by the reference members; `cells[(i, j)]` is that cell's elite."""

    reference: list[Recipe]
    member_names: list[str]
    mode: str
    axes: np.ndarray  # p × 2: descriptors = g_x·axes − offset
    offset: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    bins: int
    member_descriptors: np.ndarray
    cells: dict[tuple[int, int], Elite] = field(default_factory=dict)
    poles: tuple[str, ...] = ()

    @staticmethod
    def build(space: KernelSpace, reference: list[Recipe], names: list[str], bins: int,
              poles: tuple[str, ...] = ()) -> Archive:
        if len(reference) < 2:
            raise StyleMixError("the archive needs at least two members")
        coefs = np.stack([r.dense(space.keys, space.blocks) for r in reference])
        gram = space.gram(coefs, coefs)
        if poles:
            missing = [p for p in poles if p not in names]
            if missing:
                raise StyleMixError(f"archive pole(s) not in the pool: {', '.join(missing)}")
            axes = np.zeros((len(names), 2))
            for k, pole in enumerate(poles):
                i = names.index(pole)
                axes[i, k] = 1.0 / gram[i, i] if gram[i, i] > 0 else 0.0
            mode, offset = "poles", np.zeros(2)
        else:
            axes = _mds_axes(gram)
            mode, offset = "map", gram.mean(axis=0) @ axes
        archive = Archive(list(reference), list(names), mode, axes, offset, np.zeros(2), np.ones(2), bins,
                          np.zeros((0, 2)), poles=tuple(poles))
        desc = archive._from_gram(gram)
        span = np.maximum(desc.max(axis=0) - desc.min(axis=0), 1e-12)
        archive.lo, archive.hi = desc.min(axis=0) - MARGIN * span, desc.max(axis=0) + MARGIN * span
        archive.member_descriptors = desc
        return archive

    def _from_gram(self, g: np.ndarray) -> np.ndarray:
        """Descriptors from inner products with the reference members (rows: recipes)."""
        return g @ self.axes - self.offset

    def descriptors(self, space: KernelSpace, coefs: np.ndarray) -> np.ndarray:
        ref = np.stack([r.dense(space.keys, space.blocks) for r in self.reference])
        return self._from_gram(space.gram(coefs, ref))

    def cell_of(self, descriptor: np.ndarray) -> tuple[int, int]:
        frac = (np.asarray(descriptor) - self.lo) / (self.hi - self.lo)
        i, j = np.clip(np.floor(frac * self.bins).astype(int), 0, self.bins - 1)
        return int(i), int(j)

    def offer(self, space: KernelSpace, candidates: list[Candidate], generation: int) -> list[int]:
        """Put valid candidates into their cells; returns the indices of the new elites (best first)."""
        valid = [i for i, c in enumerate(candidates) if c.status == SCORED]
        if not valid:
            return []
        desc = self.descriptors(space, np.stack([candidates[i].coef for i in valid]))
        best: dict[tuple[int, int], int] = {}
        for row, i in enumerate(valid):
            cand = candidates[i]
            cand.cell = self.cell_of(desc[row])
            incumbent = best.get(cand.cell)
            if incumbent is None or cand.score > candidates[valid[incumbent]].score:
                best[cand.cell] = row
        new = []
        for cell, row in best.items():
            cand = candidates[valid[row]]
            old = self.cells.get(cell)
            if old is None or cand.score > old.score:
                self.cells[cell] = Elite(cand.score, (float(desc[row, 0]), float(desc[row, 1])), cand.kind,
                                         cand.parents, cand.recipe, generation)
                new.append(valid[row])
        return sorted(new, key=lambda i: (-candidates[i].score, i))

    def to_json(self, names: dict[str, str] | None = None) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "bins": self.bins,
            "bounds": {"low": self.lo.tolist(), "high": self.hi.tolist()},
            "members": [{"name": n, "descriptor": d.tolist(), "cell": list(self.cell_of(d))}
                        for n, d in zip(self.member_names, self.member_descriptors, strict=True)],
            "cells": [{"cell": list(cell), **elite.to_json(names)} for cell, elite in sorted(self.cells.items())],
        }


    def matches(self, bins: int, poles: tuple[str, ...]) -> bool:
        """Whether this archive is the grid that `bins` and `poles` ask for (else a resumed run starts anew)."""
        return self.bins == bins and self.poles == tuple(poles)

    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue the archive after `--resume` (JSON floats round-trip exactly)."""
        return {
            "mode": self.mode, "bins": self.bins, "poles": list(self.poles), "member_names": self.member_names,
            "reference": [r.to_json() for r in self.reference], "axes": self.axes.tolist(),
            "offset": self.offset.tolist(), "low": self.lo.tolist(), "high": self.hi.tolist(),
            "member_descriptors": self.member_descriptors.tolist(),
            "cells": [{"cell": list(cell), **elite.to_json()} for cell, elite in sorted(self.cells.items())],
        }

    @staticmethod
    def from_state(doc: Any, where: str) -> Archive:
        """The archive `to_state` wrote; a malformed one is one clear error naming `where` (the state file)."""
        try:
            cells = {(int(c["cell"][0]), int(c["cell"][1])): Elite.from_json(c) for c in doc["cells"]}
            return Archive(
                [Recipe.from_json(r) for r in doc["reference"]], [str(n) for n in doc["member_names"]],
                str(doc["mode"]), np.asarray(doc["axes"], dtype=np.float64).reshape(-1, 2),
                np.asarray(doc["offset"], dtype=np.float64), np.asarray(doc["low"], dtype=np.float64),
                np.asarray(doc["high"], dtype=np.float64), int(doc["bins"]),
                np.asarray(doc["member_descriptors"], dtype=np.float64).reshape(-1, 2), cells,
                tuple(str(p) for p in doc.get("poles") or ()))
        except (KeyError, TypeError, ValueError, IndexError, StyleMixError) as exc:
            raise StyleMixError(f"{where}: malformed archive in the evolve state ({exc})") from exc


def _mds_axes(gram: np.ndarray) -> np.ndarray:
    """p × 2 matrix A = C·V/√Λ, so (g_x − Ḡ)·A are the classical MDS coordinates."""
    p = len(gram)
    centre = np.eye(p) - np.full((p, p), 1.0 / p)
    b = centre @ gram @ centre
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    top = np.argsort(values)[::-1][:2]
    lam = np.maximum(values[top], 0.0)
    axes = np.zeros((p, 2))
    ok = lam > 1e-12 * max(float(lam.max(initial=0.0)), 1e-300)
    axes[:, ok] = centre @ vectors[:, top][:, ok] / np.sqrt(lam[ok])
    for k in range(2):  # fix the sign so pictures do not flip between runs
        col = vectors[:, top[k]]
        if col[np.argmax(np.abs(col))] < 0:
            axes[:, k] = -axes[:, k]
    return axes
