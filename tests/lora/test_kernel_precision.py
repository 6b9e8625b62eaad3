"""The float32 kernel (panelled upper-triangle products, torch conversion) against a float64 dense reference."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from lib_stylemix.lora import cross_kernel, kernel, make_lora_file, open_lora
from tests.lora.conftest import SD1_CONV3, SD1_SMALL, dense_oracle, frob_inner

kernel_module = importlib.import_module("lib_stylemix.lora.kernel")

# Mixed ranks and storage dtypes; the largest rank (16) makes the default 64-column panels hold 4 files.
POOL = ((4, "fp16"), (8, "bf16"), (2, "fp32"), (16, "fp16"), (8, "fp16"), (4, "bf16"), (6, "fp32"))
MODULES = [*SD1_SMALL, SD1_CONV3]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision")
    paths = [make_lora_file(folder / f"p{i}.safetensors", rank=rank, seed=10 + i, modules=MODULES, dtype=dtype,
                            alpha=rank / 2) for i, (rank, dtype) in enumerate(POOL)]
    dense = [dense_oracle(p) for p in paths]
    reference = np.array([[frob_inner(a, b) for b in dense] for a in dense])
    return paths, reference


@pytest.mark.parametrize("panel", [1, 64, 10_000])  # one file per panel, several files, one panel for all
def test_float32_kernel_matches_float64_dense(pool, monkeypatch, panel):
    """Error bound: |K32_ij − K_ij| ≤ 1e-5·√(K_ii K_jj) (float32 products of length ≤ 2880, float64 sums).

    Relative to the norms, not to K_ij itself: near-orthogonal files have K_ij ≪ √(K_ii K_jj), and an
    absolute error of float32 size in the products is all any float32 method can promise there.
    """
    paths, reference = pool
    monkeypatch.setattr(kernel_module, "_PANEL", panel)
    got = kernel([open_lora(p) for p in paths]).total
    scale = np.sqrt(np.outer(np.diag(reference), np.diag(reference)))
    assert np.all(np.abs(got - reference) <= 1e-5 * scale)
    assert np.array_equal(got, got.T)


def test_float64_kernel_and_cross_kernel_match_dense(pool):
    paths, reference = pool
    files = [open_lora(p) for p in paths]
    import torch

    np.testing.assert_allclose(kernel(files, dtype=torch.float64).total, reference, rtol=1e-10,
                               atol=1e-12 * np.abs(reference).max())
    cross = cross_kernel(files[:3], files[3:]).total
    scale = np.sqrt(np.outer(np.diag(reference)[:3], np.diag(reference)[3:]))
    assert np.all(np.abs(cross - reference[:3, 3:]) <= 1e-5 * scale)
