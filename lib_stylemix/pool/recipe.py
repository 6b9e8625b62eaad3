"""Recipes: linear combinations of root LoRA files, optionally with one coefficient per block.

A pool member is always a recipe over *root files* (a file itself is the recipe "1 × that file"), so a child
of a child is still Σ cᵢ·fileᵢ and everything about it can be computed from the file kernel K alone.
Coefficients are kept per block (a crossover takes some blocks from one parent and the rest from another);
a recipe whose coefficients are equal in every block is "uniform" and maps to a plain weighted merge.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError

# Coefficients this close to zero are dropped: they come from rounding (e.g. 1 - 0.7 - 0.3), not intent.
ZERO = 1e-12


@dataclass(frozen=True)
class Recipe:
    """Σ over root files (keyed by `sshs_model_hash`) of per-block coefficients.

    `terms` is sorted by key, so equal recipes compare and hash equal. `blocks` names the coefficient axis.
    """

    blocks: tuple[str, ...]
    terms: tuple[tuple[str, tuple[float, ...]], ...]

    @staticmethod
    def of_file(key: str, blocks: tuple[str, ...]) -> Recipe:
        return Recipe(blocks, ((key, (1.0,) * len(blocks)),))

    @staticmethod
    def from_dense(coef: np.ndarray, keys: tuple[str, ...], blocks: tuple[str, ...]) -> Recipe:
        """Build from a (blocks × roots) coefficient matrix, dropping roots that do not take part."""
        terms = []
        for i, key in enumerate(keys):
            column = coef[:, i]
            if np.any(np.abs(column) > ZERO):
                terms.append((key, tuple(float(v) for v in column)))
        return Recipe(blocks, tuple(sorted(terms)))

    def dense(self, keys: tuple[str, ...], blocks: tuple[str, ...] | None = None) -> np.ndarray:
        """The (blocks × roots) coefficient matrix over the root order `keys` and block order `blocks`.

        Blocks the recipe does not name get the term's weight when the term is uniform, else 0 (a crossover
        said nothing about a block it did not know).
        """
        blocks = self.blocks if blocks is None else blocks
        index = {key: i for i, key in enumerate(keys)}
        out = np.zeros((len(blocks), len(keys)))
        for key, coefs in self.terms:
            if key not in index:
                raise StyleMixError(f"recipe refers to a file that is not in the pool (sshs hash {key})")
            if blocks == self.blocks:
                out[:, index[key]] = coefs
                continue
            by_name = dict(zip(self.blocks, coefs, strict=False))
            fill = coefs[0] if max(coefs) - min(coefs) <= ZERO else 0.0
            out[:, index[key]] = [by_name.get(b, fill) for b in blocks]
        return out

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.terms)

    @property
    def uniform(self) -> bool:
        return all(max(c) - min(c) <= ZERO for _, c in self.terms)

    def merge_weights(self) -> list[tuple[str, float, dict[str, float] | None]]:
        """(root, weight, block_weights) triples for the engine's `MergeTerm`.

        Non-uniform terms use weight 1 and a complete per-block map, which means the same thing whether the
        engine multiplies `weight` by the block weight or lets the block weight replace it.
        """
        out: list[tuple[str, float, dict[str, float] | None]] = []
        for key, coefs in self.terms:
            if max(coefs) - min(coefs) <= ZERO:
                out.append((key, coefs[0], None))
            else:
                out.append((key, 1.0, dict(zip(self.blocks, coefs, strict=False))))
        return out

    def to_json(self, names: Mapping[str, str] | None = None) -> dict[str, Any]:
        """JSON form: uniform terms as one weight, others as a block → weight map; `names` adds file names."""
        terms = []
        for key, weight, block_weights in self.merge_weights():
            term: dict[str, Any] = {"file": key}
            if names and key in names:
                term["name"] = names[key]
            if block_weights is None:
                term["weight"] = weight
            else:
                term["block_weights"] = block_weights
            terms.append(term)
        return {"blocks": list(self.blocks), "terms": terms}

    def to_compact(self, root_index: Mapping[str, int]) -> list[list[Any]]:
        """Small form for reports with thousands of candidates: `[[root index, weight or per-block list]…]`.

        A root outside `root_index` (a derived root that was scored but not kept) is named by its key.
        """
        out: list[list[Any]] = []
        for key, coefs in self.terms:
            uniform = max(coefs) - min(coefs) <= ZERO
            out.append([root_index.get(key, key), coefs[0] if uniform else list(coefs)])
        return out

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Recipe:
        try:
            blocks = tuple(str(b) for b in doc["blocks"])
            terms = []
            for term in doc["terms"]:
                if "block_weights" in term:
                    weights = term["block_weights"]
                    coefs = tuple(float(weights.get(b, 0.0)) for b in blocks)
                else:
                    coefs = (float(term["weight"]),) * len(blocks)
                terms.append((str(term["file"]), coefs))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StyleMixError(f"recipe is malformed ({exc!r}): {json.dumps(doc)[:200]}") from exc
        return Recipe(blocks, tuple(sorted(terms)))

    def digest(self) -> str:
        """Stable hex digest of what the recipe computes (coefficients rounded to 9 significant digits)."""
        canon = [[key, [float(f"{c:.9g}") for c in coefs]] for key, coefs in self.terms]
        text = json.dumps({"blocks": list(self.blocks), "terms": canon}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def describe(self, names: Mapping[str, str]) -> str:
        """Short human-readable formula, e.g. `0.3·a + 0.7·b` (per-block terms marked with [blocks])."""
        parts = []
        for key, weight, block_weights in self.merge_weights():
            name = names.get(key, key[:8])
            if block_weights is None:
                parts.append(f"{weight:.3g}·{name}")
            else:
                parts.append(f"[blocks]·{name}")
        return " + ".join(parts) if parts else "0"
