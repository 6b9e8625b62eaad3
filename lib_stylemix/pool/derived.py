"""Derived roots: LoRAs that are not linear combinations of files (spectral mutations), kept exact.

A derived root is defined by a source recipe (over earlier roots) and a spectrum transform f. Per module the
source's ΔW is factorised exactly from its factors (lora_math.md §4: thin QR of the concatenated factors, SVD
of the small core) as P·diag(σ)·Qᵀ, and the derived root is

    ΔW' = P·diag(f(σ))·Qᵀ,   stored as up = P·diag(√f(σ)), down = diag(√f(σ))·Qᵀ   (same rank, never dense)

Its kernel entries against every other root are inner products of factor pairs, tr((U₁ᵀU₂)(D₂D₁ᵀ)), summed
per block: exact r×r algebra, computed in one pass over the modules (`augment`). The transform keeps each
module's Frobenius norm, so a mutation changes the shape of the spectrum, not the strength.
  lognormal: f(σ)ᵢ ∝ σᵢ·exp(a·zᵢ), zᵢ ~ N(0, 1) drawn from (seed, module name): reproducible per module
  power:     f(σ)ᵢ ∝ σᵢ^γ (γ > 1 sharpens the spectrum, γ < 1 flattens it)
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.algebra import REST_BLOCK, KernelSpace
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.pool.views import PoolFiles

MODES = ("lognormal", "power")
Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class DerivedRoot:
    """A spectral mutation of `source` (a recipe over earlier roots); `name` is for people, `key` identifies it."""

    source: Recipe
    mode: str
    amount: float
    seed: int
    name: str

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise StyleMixError(f"spectral mode must be one of {', '.join(MODES)} (got {self.mode!r})")

    @property
    def key(self) -> str:
        text = json.dumps([self.source.digest(), self.mode, float(f"{self.amount:.9g}"), self.seed])
        return "derived-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def transform(self, sigma: np.ndarray, module: str) -> np.ndarray:
        """f(σ) for one module, rescaled to the same ‖σ‖ (the module's Frobenius norm)."""
        if self.mode == "power":
            out = np.power(sigma, self.amount, where=sigma > 0, out=np.zeros_like(sigma))
        else:
            rng = np.random.default_rng([self.seed, zlib.crc32(module.encode("utf-8"))])
            out = sigma * np.exp(self.amount * rng.standard_normal(len(sigma)))
        norm, new = float(np.linalg.norm(sigma)), float(np.linalg.norm(out))
        return out * (norm / new) if new > 0 else out

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.to_json(), "mode": self.mode, "amount": self.amount, "seed": self.seed,
                "name": self.name}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> DerivedRoot:
        try:
            return DerivedRoot(Recipe.from_json(doc["source"]), str(doc["mode"]), float(doc["amount"]),
                               int(doc["seed"]), str(doc["name"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StyleMixError(f"malformed derived root in snapshot ({exc!r})") from exc


class FactorReader:
    """Per-module float64 factors of every root of a pool: files through the engine, derived roots computed.

    Results are cached for the current module only (`for_module` resets the cache), so memory stays at one
    module's worth of factors.
    """

    def __init__(self, pool: PoolFiles) -> None:
        self.pool = pool
        self.derived = {k: r.derived for k, r in pool.roots.items() if r.derived is not None}
        files = [r.lora for r in pool.roots.values() if r.lora is not None]
        if not files:
            raise StyleMixError("this pool has no files loaded: spectral operators and saving need the files")
        self.files = {r.key: r.lora for r in pool.roots.values() if r.lora is not None}
        self.modules = sorted(set().union(*(f.modules for f in files)))
        self._holder = {m: next(f for f in files if m in f.modules) for m in self.modules}
        self._module = ""
        self._cache: dict[str, Pair | None] = {}

    def info(self, module: str) -> Any:
        return self._holder[module].modules[module]

    def block_index(self, module: str, blocks: tuple[str, ...]) -> int | None:
        """Where `module`'s block sits on a recipe's coefficient axis (the residual block, else None)."""
        block = self._holder[module].block_of(module)
        if block in blocks:
            return blocks.index(block)
        return blocks.index(REST_BLOCK) if REST_BLOCK in blocks else None

    def for_module(self, module: str) -> None:
        if module != self._module:
            self._module, self._cache = module, {}

    def factors(self, key: str, module: str) -> Pair | None:
        """(up, down) with ΔW = up @ down for root `key` in `module` (None where the root lacks it)."""
        self.for_module(module)
        if key not in self._cache:
            if key in self.files:
                f = self.files[key]
                fac = f.array_factors(module, dtype=np.float64) if module in f.modules else None
                self._cache[key] = (fac.up, fac.down) if fac is not None else None
            elif key in self.derived:
                self._cache[key] = self._derive(self.derived[key], module)
            else:
                raise StyleMixError(f"root {key} is not in the pool")
        return self._cache[key]

    def recipe_parts(self, recipe: Recipe, module: str) -> list[Pair]:
        """The weighted factor pairs whose concatenation is `recipe`'s ΔW in `module` (weight folded into up)."""
        b = self.block_index(module, recipe.blocks)
        parts = []
        for key, coefs in recipe.terms:
            w = 0.0 if b is None else coefs[b]
            pair = self.factors(key, module) if w != 0.0 else None
            if pair is not None:
                parts.append((pair[0] * w, pair[1]))
        return parts

    def _derive(self, root: DerivedRoot, module: str) -> Pair | None:
        parts = self.recipe_parts(root.source, module)
        if not parts:
            return None
        p, sigma, qt = exact_svd(parts)
        root_f = np.sqrt(root.transform(sigma, module))
        return p * root_f, root_f[:, None] * qt


def exact_svd(parts: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P, σ, Qᵀ with Σ upᵢ·downᵢ = P·diag(σ)·Qᵀ (thin QR of the concatenated factors, SVD of the R×R core)."""
    up = np.concatenate([u for u, _ in parts], axis=1)
    down = np.concatenate([d for _, d in parts], axis=0)
    q_u, r_u = np.linalg.qr(up)
    q_d, r_d = np.linalg.qr(down.T)
    x, sigma, yh = np.linalg.svd(r_u @ r_d.T)
    return q_u @ x, sigma, (q_d @ yh.T).T


def augment(pool: PoolFiles, space: KernelSpace, new: Sequence[DerivedRoot]) -> KernelSpace:
    """`space` plus one root per entry of `new`, with exact kernel entries against every root.

    Sources of `new` must be recipes over roots already in `space`. Roots sharing a source share its singular
    bases P, Q, so per module and source the work is two products with the stacked factors of the old roots:
        ⟨P·diag(s)·Qᵀ, U_j·D_j⟩ = sᵀ·diag((PᵀU_j)(D_jQ)),   ⟨P_a diag(s) Q_aᵀ, P_c diag(t) Q_cᵀ⟩ = sᵀ·H_ac·t
    with H_ac = (P_aᵀP_c) ⊙ (Q_aᵀQ_c): r×r algebra, one pass over the modules, no dense ΔW.
    """
    new = list({d.key: d for d in new if d.key not in space.keys}.values())
    if not new:
        return space
    reader = FactorReader(pool)
    old, n_old = space.keys, len(space.keys)
    missing = [d.name for d in new if any(k not in old for k in d.source.roots)]
    if missing:
        raise StyleMixError(f"derived root(s) {', '.join(missing)} rest on roots the pool does not have")
    by_block = np.zeros((len(space.blocks), n_old + len(new), n_old + len(new)))
    by_block[:, :n_old, :n_old] = space.by_block
    sources: dict[str, list[int]] = {}
    for i, d in enumerate(new):
        sources.setdefault(d.source.digest(), []).append(i)
    for module in reader.modules:
        b = reader.block_index(module, space.blocks)
        if b is not None:
            cross, inner = _module_rows(reader, module, old, new, sources)
            by_block[b, n_old:, :n_old] += cross
            by_block[b, n_old:, n_old:] += inner
    by_block[:, :n_old, n_old:] = np.swapaxes(by_block[:, n_old:, :n_old], 1, 2)
    return KernelSpace(old + tuple(d.key for d in new), space.blocks, by_block)


def _module_rows(reader: FactorReader, module: str, old: tuple[str, ...], new: Sequence[DerivedRoot],
                 sources: dict[str, list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """One module's ⟨new, old⟩ (len(new) × len(old)) and ⟨new, new⟩ entries."""
    cross, inner = np.zeros((len(new), len(old))), np.zeros((len(new), len(new)))
    bases = []  # per source: P, Qᵀ
    start = 0
    slots: dict[int, tuple[int, np.ndarray]] = {}
    for members in sources.values():
        parts = reader.recipe_parts(new[members[0]].source, module)
        if not parts:
            continue
        p, sigma, qt = exact_svd(parts)
        bases.append((p, qt))
        for i in members:
            slots[i] = (start, new[i].transform(sigma, module))
        start += len(sigma)
    if not bases:
        return cross, inner
    p_all = np.concatenate([p for p, _ in bases], axis=1)
    qt_all = np.concatenate([qt for _, qt in bases], axis=0)
    s = np.zeros((len(new), start))
    for i, (first, values) in slots.items():
        s[i, first:first + len(values)] = values
    inner = s @ (((p_all.T @ p_all) * (qt_all @ qt_all.T)) @ s.T)
    pairs = [reader.factors(key, module) for key in old]
    have = [j for j, pair in enumerate(pairs) if pair is not None]
    if have:
        found = [pair for pair in pairs if pair is not None]
        ups = np.concatenate([u for u, _ in found], axis=1)
        downs = np.concatenate([d for _, d in found], axis=0)
        diag = (p_all.T @ ups) * (qt_all @ downs.T)  # (Σk × R): column r of root j adds to diag((PᵀU_j)(D_jQ))
        starts = np.cumsum([0] + [int(d.shape[0]) for _, d in found[:-1]])
        cross[:, have] = s @ np.add.reduceat(diag, starts, axis=1)
    return cross, inner
