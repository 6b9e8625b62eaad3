"""Fixtures for pool tests: synthetic "files" given as dense per-block ΔW matrices, so every K-based number
can be checked against the same number computed from materialised tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.recipe import Recipe


@dataclass
class DensePool:
    """Root ΔW per block: `w[i][b]` is an (m × n) matrix; K per block is their Frobenius inner products."""

    names: list[str]
    blocks: tuple[str, ...]
    w: list[list[np.ndarray]]

    def kernels(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        by_block = {}
        for b, block in enumerate(self.blocks):
            flat = np.stack([self.w[i][b].ravel() for i in range(len(self.names))])
            by_block[block] = flat @ flat.T
        return sum(by_block.values()), by_block

    def pool(self) -> Pool:
        total, by_block = self.kernels()
        return Pool.from_kernel(list(self.names), total, by_block, keys=list(self.names))

    def materialise(self, recipe: Recipe) -> np.ndarray:
        """The recipe's ΔW, all blocks flattened into one vector, computed from the dense matrices."""
        coef = recipe.dense(tuple(self.names), self.blocks)
        parts = []
        for b in range(len(self.blocks)):
            parts.append(sum(coef[b, i] * self.w[i][b] for i in range(len(self.names))).ravel())
        return np.concatenate(parts)


def make_dense_pool(n: int = 5, blocks: int = 3, seed: int = 0, shape: tuple[int, int] = (6, 5)) -> DensePool:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(n)]
    block_names = tuple(f"B{b}" for b in range(blocks))
    w = [[rng.standard_normal((shape[0], 2)) @ rng.standard_normal((2, shape[1])) for _ in block_names]
         for _ in names]
    return DensePool(names, block_names, w)


@pytest.fixture
def dense_pool() -> DensePool:
    return make_dense_pool()


# Two small modules from each of four blocks: enough for per-block crossover, small enough to be fast.
SMALL_MODULES = (
    "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
    "lora_te_text_model_encoder_layers_0_self_attn_v_proj",
    "lora_unet_down_blocks_0_attentions_0_proj_in",
    "lora_unet_down_blocks_0_attentions_0_proj_out",
    "lora_unet_mid_block_attentions_0_proj_in",
    "lora_unet_mid_block_attentions_0_proj_out",
    "lora_unet_up_blocks_3_attentions_2_proj_in",
    "lora_unet_up_blocks_3_attentions_2_proj_out",
)


def make_small_files(folder, count=4, ranks=(4, 4, 2, 4)):
    from lib_stylemix.lora import make_lora_file

    folder.mkdir(parents=True, exist_ok=True)
    return [make_lora_file(folder / f"style_{i}.safetensors", rank=ranks[i % len(ranks)], modules=SMALL_MODULES,
                           seed=100 + i) for i in range(count)]


@pytest.fixture
def small_files(tmp_path):
    return make_small_files(tmp_path / "loras")


def dense_delta(path_or_file) -> dict[str, np.ndarray]:
    """ΔW per module of a LoRA file, in float64 (test oracle: materialises everything)."""
    import torch

    from lib_stylemix.lora import open_lora

    f = open_lora(path_or_file) if not hasattr(path_or_file, "factors") else path_or_file
    return {m: f.factors(m, dtype=torch.float64).dense().numpy() for m in f.module_names}


@pytest.fixture(scope="session")
def cluster_files(tmp_path_factory):
    """The issue-10 pool shape (3 clusters + 1 outlier, rank 32) on the small module subset: fast to write."""
    from lib_stylemix.pool.example_pools import write_cluster_pool

    return write_cluster_pool(tmp_path_factory.mktemp("clusters") / "pool", modules=SMALL_MODULES, rank=32)
