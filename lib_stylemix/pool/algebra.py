"""Exact ΔW geometry of recipes from the root-file kernel alone (lora_math.md §5).

With K_b the Gram matrix ⟨ΔWᵢ, ΔWⱼ⟩ of the root files restricted to block b, and a recipe x given as one
coefficient vector x_b per block, every inner product of two recipes is

    ⟨x, y⟩ = Σ_b x_bᵀ K_b y_b ,    ‖x − y‖² = ⟨x,x⟩ + ⟨y,y⟩ − 2⟨x,y⟩

so scoring thousands of candidates costs a few small matrix products and no tensor is ever materialised.
Everything runs in float64 and squared distances are clamped at 0 against rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lib_stylemix.errors import StyleMixError

# Name of the block that absorbs any part of the total kernel the per-block kernels do not cover.
REST_BLOCK = "(other)"


@dataclass(frozen=True)
class KernelSpace:
    """Root files (by key) × blocks, with K per block: `by_block[b, i, j] = ⟨ΔWᵢ, ΔWⱼ⟩` within block b."""

    keys: tuple[str, ...]
    blocks: tuple[str, ...]
    by_block: np.ndarray

    @staticmethod
    def build(
        keys: tuple[str, ...],
        total: np.ndarray,
        by_block: Mapping[str, np.ndarray],
        block_order: tuple[str, ...] = (),
    ) -> KernelSpace:
        """Assemble from a total kernel and per-block kernels; a residual block keeps Σ_b K_b equal to K."""
        n = len(keys)
        total = np.asarray(total, dtype=np.float64)
        if total.shape != (n, n):
            raise StyleMixError(f"kernel has shape {total.shape}, expected {(n, n)} for {n} files")
        order = [b for b in block_order if b in by_block] + sorted(b for b in by_block if b not in block_order)
        stack = [np.asarray(by_block[b], dtype=np.float64) for b in order]
        rest = total - (np.sum(stack, axis=0) if stack else 0.0)
        scale = max(float(np.max(np.abs(total))) if n else 0.0, 1e-300)
        if not stack or float(np.max(np.abs(rest))) > 1e-9 * scale:
            order.append(REST_BLOCK)
            stack.append(rest)
        return KernelSpace(tuple(keys), tuple(order), np.stack(stack) if stack else np.zeros((1, n, n)))

    @property
    def total(self) -> np.ndarray:
        return self.by_block.sum(axis=0)

    def gram(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Inner products ⟨xₐ, y_c⟩ for stacks x (a × B × n) and y (c × B × n) of recipes → a × c."""
        if _uniform(x) and _uniform(y):
            return x[:, 0, :] @ self.total @ y[:, 0, :].T
        ky = np.matmul(y.transpose(1, 0, 2), self.by_block)  # B × c × n (K_b symmetric)
        return x.reshape(len(x), -1) @ ky.transpose(1, 0, 2).reshape(len(y), -1).T

    def sq_norms(self, x: np.ndarray) -> np.ndarray:
        """‖xₐ‖² for a stack of recipes (a × B × n)."""
        if _uniform(x):
            c = x[:, 0, :]
            return np.maximum(np.einsum("ai,ij,aj->a", c, self.total, c), 0.0)
        xb = x.transpose(1, 0, 2)  # B × a × n
        kx = np.matmul(xb, self.by_block)
        return np.maximum((kx * xb).sum(axis=(0, 2)), 0.0)

    @cached_property
    def _roots(self) -> np.ndarray:
        """Per block, √Λ·Vᵀ from K_b = V Λ Vᵀ (negative rounding eigenvalues clipped), so K_b = RᵀR."""
        values, vectors = np.linalg.eigh(self.by_block)
        return np.sqrt(np.maximum(values, 0.0))[:, :, None] * np.swapaxes(vectors, 1, 2)

    def features(self, x: np.ndarray) -> np.ndarray:
        """Euclidean embedding of recipes (a × B·n): ‖features(x) − features(y)‖ = ‖ΔW_x − ΔW_y‖ up to rounding.

        Turns many pairwise comparisons into one matrix product; exact scores still use `gram`.
        """
        n = len(self.keys)
        out = np.empty((len(x), len(self.blocks) * n))
        for b, root in enumerate(self._roots):
            np.matmul(x[:, b, :], root.T, out=out[:, b * n:(b + 1) * n])
        return out

    def sq_distances(self, x: np.ndarray, y: np.ndarray, x_sq: np.ndarray | None = None,
                     y_sq: np.ndarray | None = None) -> np.ndarray:
        """‖xₐ − y_c‖² (a × c), clamped at 0; pass precomputed squared norms to save work."""
        xs = self.sq_norms(x) if x_sq is None else x_sq
        ys = self.sq_norms(y) if y_sq is None else y_sq
        return np.maximum(xs[:, None] + ys[None, :] - 2.0 * self.gram(x, y), 0.0)


def _uniform(x: np.ndarray) -> bool:
    """True when every recipe in the stack has the same coefficients in all blocks (then K_total suffices)."""
    return bool(np.all(x == x[:, :1, :]))
