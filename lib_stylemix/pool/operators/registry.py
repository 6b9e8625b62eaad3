"""Registry of evolve operators: each turns the current members into candidate recipes.

Linear operators return coefficient stacks over the pool's root files (per block), so every candidate is
an exact recipe: it materialises by factor concatenation to precisely the ΔW that was scored. Operators that
are not linear in the files (spectral) return a *derived root* instead: a new root whose factors are computed
from a member and whose kernel entries are computed exactly from factors (see `derived.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_stylemix.pool.algebra import KernelSpace
from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.registry import Entry, Registry, evolve_registry, registrar

if TYPE_CHECKING:
    from lib_stylemix.pool.pool import Pool


@dataclass
class OperatorInput:
    """coefs: members × blocks × roots.  pool: the pool (operators that need the files read them through it)."""

    coefs: np.ndarray
    names: list[str]
    space: KernelSpace
    settings: Any  # EvolveSettings; not imported, because settings validates against this registry
    rng: np.random.Generator
    pool: Pool | None = None

    def make(self, kind: str, parents: tuple[int, ...], params: dict[str, Any], coef: np.ndarray) -> Candidate:
        return Candidate(kind, tuple(self.names[i] for i in parents), parents, params, coef, self.space.keys,
                         self.space.blocks)

    def block_inner(self, a: int, b: int) -> np.ndarray:
        """Per block ⟨member a, member b⟩_b = a_bᵀ K_b b_b (exact, from K)."""
        return np.einsum("bi,bij,bj->b", self.coefs[a], self.space.by_block, self.coefs[b])


OperatorFn = Callable[[OperatorInput], list[Candidate]]
OPERATORS: Registry[Entry[OperatorFn]] = evolve_registry("operator", "lib_stylemix.pool.operators")
register = registrar(OPERATORS)


def get(name: str) -> Entry[OperatorFn]:
    return OPERATORS.get(name)


def names() -> tuple[str, ...]:
    return OPERATORS.names()
