"""The float32 kernel (batched triangle products, raw reads, numpy or torch conversion) vs a float64 dense reference."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from lib_stylemix.lora import cross_kernel, kernel, make_lora_file, open_lora
from tests.lora.conftest import SD1_CONV3, SD1_SMALL, dense_oracle, frob_inner

kernel_module = importlib.import_module("lib_stylemix.lora.kernel")

# Mixed ranks and storage dtypes (fp16, bf16 and fp32 raw reads in one batch).
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


@pytest.mark.parametrize(("batch_bytes", "convert"), [
    (1, "_convert_torch"),  # one module per batch
    (1 << 20, "_convert_numpy"),  # several modules per batch
    (1 << 40, "_convert_torch"),  # every module of a shape in one batch
])
def test_float32_kernel_matches_float64_dense(pool, monkeypatch, batch_bytes, convert):
    """Error bound: |K32_ij − K_ij| ≤ 1e-5·√(K_ii K_jj) (float32 products of length ≤ 2880, float64 sums).

    Relative to the norms, not to K_ij itself: near-orthogonal files have K_ij ≪ √(K_ii K_jj), and an
    absolute error of float32 size in the products is all any float32 method can promise there.
    """
    paths, reference = pool
    monkeypatch.setattr(kernel_module, "_BATCH_BYTES", batch_bytes)
    monkeypatch.setattr(kernel_module, "_converter", lambda _elements: getattr(kernel_module, convert))
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


def test_generic_path_mixes_with_raw_reads(pool, tmp_path):
    """A tensors-only .pt file is read through `factors` (not raw bytes); the kernel over the mix stays exact."""
    import torch
    from safetensors.torch import load_file

    paths, reference = pool
    pt = tmp_path / "p0.pt"
    torch.save(load_file(str(paths[0])), str(pt))
    files = [open_lora(pt), *(open_lora(p) for p in paths[1:])]
    assert files[0].plain_keys(MODULES[0]) is None and files[1].plain_keys(MODULES[0]) is not None
    got = kernel(files, dtype=torch.float64).total
    np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-12 * np.abs(reference).max())
    cross = cross_kernel(files[:2], files[2:], dtype=torch.float64).total
    np.testing.assert_allclose(cross, reference[:2, 2:], rtol=1e-10, atol=1e-12 * np.abs(reference).max())


def test_progress_counts_every_module_once_across_batches(pool, monkeypatch):
    paths, _ = pool
    monkeypatch.setattr(kernel_module, "_BATCH_BYTES", 1)
    seen: list[str] = []

    class Recorder:
        def begin(self, total, text=""):
            seen.append(f"begin {total}")

        def step(self, done, text=""):
            seen.append(text)

        def end(self, text=""):
            seen.append("end")

    kernel([open_lora(p) for p in paths], progress=Recorder())
    assert seen[0] == f"begin {len(MODULES)}" and seen[-1] == "end"
    assert sorted(seen[1:-1]) == sorted(MODULES)
