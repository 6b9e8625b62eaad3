"""The ΔW algebra against an independent dense oracle: kernels, invariance, concat, svd (Eckart–Young), legacy."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import (
    MergeTerm,
    cosine_similarity,
    cross_kernel,
    distances,
    kernel,
    legacy_distance_matrix,
    make_lora_file,
    merge,
    open_lora,
)
from tests.lora.conftest import SD1_CONV3, SD1_SMALL, dense_oracle, frob_inner, refactorised

# Small real modules (320-wide) so dense SVDs in the oracle stay cheap.
TINY = (
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q",
    "lora_unet_down_blocks_0_attentions_0_proj_in",
    "lora_unet_down_blocks_0_attentions_1_transformer_blocks_0_attn2_to_k",
    SD1_CONV3,
)
FAST = settings(max_examples=12, deadline=None)


def _make(folder: Path, name: str, rank: int, seed: int, modules=TINY, alpha: float | None = None) -> Path:
    return make_lora_file(folder / f"{name}.safetensors", rank=rank, seed=seed, modules=list(modules), dtype="fp32",
                          alpha=alpha)


def _dense_sum(paths_weights) -> dict[str, torch.Tensor]:
    total: dict[str, torch.Tensor] = {}
    for path, weight in paths_weights:
        for name, dw in dense_oracle(path).items():
            total[name] = total.get(name, 0) + weight * dw
    return total


def test_kernel_equals_dense_inner_products_total_and_by_block(tmp_path):
    paths = [_make(tmp_path, "a", 4, 1), _make(tmp_path, "b", 2, 2), _make(tmp_path, "c", 6, 3, modules=TINY[:2])]
    files = [open_lora(p) for p in paths]
    k = kernel(files, dtype=torch.float64)
    dense = [dense_oracle(p) for p in paths]
    for i in range(3):
        for j in range(3):
            assert k.total[i, j] == pytest.approx(frob_inner(dense[i], dense[j]), rel=1e-10)
    assert np.allclose(sum(k.by_block.values()), k.total, rtol=1e-12)
    block = files[0].block_of(TINY[3])
    inner = sum(float((dense[0][n] * dense[1][n]).sum()) for n in TINY if files[0].block_of(n) == block)
    assert k.by_block[block][0, 1] == pytest.approx(inner, rel=1e-10)
    fro = distances(k)
    diff = {n: dense[0][n] - dense[1].get(n, 0) for n in dense[0]}
    assert fro[0, 1] == pytest.approx(math.sqrt(frob_inner(diff, diff)), rel=1e-8)
    cos = cosine_similarity(k)
    assert cos[0, 2] == pytest.approx(k.total[0, 2] / math.sqrt(k.total[0, 0] * k.total[2, 2]))
    assert np.allclose(distances(k, "cosine"), 1 - cos, atol=1e-12)
    k32 = kernel(files)
    assert np.allclose(k32.total, k.total, rtol=1e-5)


def test_cross_kernel_matches_kernel(tmp_path):
    paths = [_make(tmp_path, f"f{i}", 3 + i, i) for i in range(4)]
    files = [open_lora(p) for p in paths]
    full = kernel(files)
    cross = cross_kernel(files[:1], files[1:])
    assert cross.total.shape == (1, 3)
    assert np.allclose(cross.total, full.total[:1, 1:], rtol=1e-6)
    for block, matrix in cross.by_block.items():
        assert np.allclose(matrix, full.by_block[block][:1, 1:], rtol=1e-6)


@FAST
@given(seed=st.integers(0, 2**16), rank=st.integers(1, 6))
def test_distances_invariant_under_random_refactorisation(seed, rank):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a = _make(folder, "a", rank, seed)
        b = _make(folder, "b", rank, seed + 1)
        a_g = refactorised(a, folder / "a_g.safetensors", seed + 2)
        files = [open_lora(p) for p in (a, b, a_g)]
        k = kernel(files, dtype=torch.float64)
        d = distances(k)
        scale = math.sqrt(k.total[0, 0])
        assert d[0, 2] <= 1e-6 * scale  # same ΔW
        assert d[1, 2] == pytest.approx(d[0, 1], rel=1e-6)
        legacy = legacy_distance_matrix(files)
        assert legacy[0, 2] > 1e-4  # the legacy metric sees a "difference" that has no effect
        m1 = merge([MergeTerm(files[0], 0.7), MergeTerm(files[1], -0.3)], method="svd", rank=2 * rank)
        m2 = merge([MergeTerm(files[2], 0.7), MergeTerm(files[1], -0.3)], method="svd", rank=2 * rank)
        for name in m1.modules:
            d1, d2 = m1.modules[name].dense().double(), m2.modules[name].dense().double()
            assert float((d1 - d2).norm()) <= 1e-5 * float(d1.norm())


@FAST
@given(
    weights=st.lists(st.floats(-3, 3, allow_nan=False).filter(lambda w: abs(w) > 1e-3), min_size=1, max_size=3),
    ranks=st.lists(st.integers(1, 5), min_size=3, max_size=3),
    drop=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    seed=st.integers(0, 1000),
)
def test_concat_equals_dense_weighted_sum(weights, ranks, drop, seed):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = []
        for i in range(len(weights)):
            modules = [m for j, m in enumerate(TINY) if j != drop[i] or i == 0]  # some modules missing
            paths.append(_make(folder, f"p{i}", ranks[i], seed + i, modules=modules, alpha=ranks[i] * 0.75))
        files = [open_lora(p) for p in paths]
        merged = merge([MergeTerm(f, w) for f, w in zip(files, weights, strict=True)], method="concat")
        expected = _dense_sum(zip(paths, weights, strict=True))
        assert set(merged.modules) == set(expected)
        for name, out in merged.modules.items():
            assert out.rank == sum(f.modules[name].rank for f in files if name in f.modules)
            err = float((out.dense().double() - expected[name]).norm())
            assert err <= 1e-5 * float(expected[name].norm())
        assert merged.retained_energy is None


def _singular_values(m: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.linalg.svd(m.double().numpy(), compute_uv=False))


@FAST
@given(
    w=st.tuples(st.floats(-2, 2), st.floats(-2, 2)).filter(lambda t: min(abs(t[0]), abs(t[1])) > 0.05),
    k=st.integers(1, 7),
    seed=st.integers(0, 1000),
)
def test_svd_is_best_rank_k_of_dense_sum(w, k, seed):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = [_make(folder, "a", 4, seed, modules=TINY[:3]), _make(folder, "b", 3, seed + 7, modules=TINY[:3])]
        files = [open_lora(p) for p in paths]
        merged = merge([MergeTerm(files[0], w[0]), MergeTerm(files[1], w[1])], method="svd", rank=k)
        expected = _dense_sum(zip(paths, w, strict=True))
        kept_all = total_all = 0.0
        for name, out in merged.modules.items():
            dense = expected[name]
            sigma = _singular_values(dense)
            assert out.rank == min(k, 7)
            got = _singular_values(out.dense().double())[: out.rank]
            assert torch.allclose(got, sigma[: out.rank], rtol=1e-5, atol=1e-7 * float(sigma[0]))
            kept, total = float(sigma[: out.rank].square().sum()), float(sigma.square().sum())
            assert out.energy == pytest.approx(kept / total, rel=1e-6)
            assert merged.module_energy[name] == pytest.approx(kept / total, rel=1e-6)
            kept_all += kept
            total_all += total
            gap = float(sigma[out.rank - 1] - sigma[out.rank]) if out.rank < len(sigma) else float(sigma[0])
            if gap > 1e-3 * float(sigma[0]):  # best rank-k is unique: compare the matrices themselves
                u, s, vh = (torch.from_numpy(x) for x in np.linalg.svd(dense.numpy(), full_matrices=False))
                best = (u[:, : out.rank] * s[: out.rank]) @ vh[: out.rank]
                err = float((out.dense().double() - best).norm() / best.norm())
                assert err <= 1e-5
        assert merged.retained_energy == pytest.approx(kept_all / total_all, rel=1e-6)


def test_svd_energy_picks_smallest_sufficient_rank(tmp_path):
    paths = [_make(tmp_path, "a", 6, 1), _make(tmp_path, "b", 6, 2)]
    files = [open_lora(p) for p in paths]
    terms = [MergeTerm(files[0], 1.0), MergeTerm(files[1], 0.6)]
    spectra = [_singular_values(d).square() for d in _dense_sum(zip(paths, (1.0, 0.6), strict=True)).values()]
    total = float(sum(s.sum() for s in spectra))

    def energy_at(k: int) -> float:
        return float(sum(s[:k].sum() for s in spectra)) / total

    target = 0.8
    merged = merge(terms, method="svd", energy=target)
    k = merged.rank
    assert energy_at(k) >= target - 1e-9
    assert k == 1 or energy_at(k - 1) < target
    assert merged.retained_energy == pytest.approx(energy_at(k), rel=1e-6)
    full = merge(terms, method="svd", energy=1.0)
    assert full.retained_energy == pytest.approx(1.0, abs=1e-9)


def test_svd_default_rank_is_largest_input_rank(tmp_path):
    files = [open_lora(_make(tmp_path, "a", 3, 1)), open_lora(_make(tmp_path, "b", 5, 2))]
    assert merge([MergeTerm(f, 1.0) for f in files], method="svd").rank == 5


def test_svd_conv3x3_keeps_4d_shapes(tmp_path):
    files = [open_lora(_make(tmp_path, "a", 3, 1, modules=(SD1_CONV3,)))]
    out = merge([MergeTerm(files[0], 1.0)], method="svd", rank=2).modules[SD1_CONV3]
    assert out.up_shape == (320, 2, 1, 1) and out.down_shape == (2, 320, 3, 3)


def test_legacy_metric_reproduces_seed_numbers(tmp_path):
    paths = [make_lora_file(tmp_path / f"s{i}.safetensors", rank=4, seed=i, modules=list(SD1_SMALL))
             for i in range(3)]
    # the seed: flatten every factor tensor of each file (same key order) and take mean |a − b|
    flat = []
    for p in paths:
        sd = load_file(str(p))
        keys = sorted(k for k in sd if k.endswith(("lora_up.weight", "lora_down.weight")))
        flat.append(torch.cat([sd[k].double().flatten() for k in keys]))
    got = legacy_distance_matrix([open_lora(p) for p in paths])
    for i in range(3):
        for j in range(3):
            assert got[i, j] == pytest.approx(float((flat[i] - flat[j]).abs().mean()), rel=1e-5, abs=1e-12)


def test_legacy_metric_needs_common_shapes(tmp_path):
    files = [open_lora(_make(tmp_path, "a", 2, 1)), open_lora(_make(tmp_path, "b", 3, 2))]
    with pytest.raises(StyleMixError, match="share no factor tensors"):
        legacy_distance_matrix(files)


def test_legacy_merge_is_factor_average_with_missing_as_zero(tmp_path):
    a = _make(tmp_path, "a", 3, 1)
    b = _make(tmp_path, "b", 3, 2, modules=TINY[:2])
    files = [open_lora(a), open_lora(b)]
    merged = merge([MergeTerm(files[0], 0.5), MergeTerm(files[1], 0.5)], method="legacy")
    assert merged.label == "legacy (not effect-preserving)"
    sa, sb = load_file(str(a)), load_file(str(b))
    name = TINY[0]
    scale = 0.5  # make_lora_file default alpha = rank/2
    up = 0.5 * scale * sa[f"{name}.lora_up.weight"] + 0.5 * scale * sb[f"{name}.lora_up.weight"]
    down = 0.5 * sa[f"{name}.lora_down.weight"] + 0.5 * sb[f"{name}.lora_down.weight"]
    torch.testing.assert_close(merged.modules[name].dense(), up @ down)
    only_a = TINY[2]  # missing in b: b counts as zero factors → (0.5 Û)(0.5 D)
    expected = 0.25 * dense_oracle(a)[only_a]
    torch.testing.assert_close(merged.modules[only_a].dense().double(), expected, rtol=1e-5, atol=1e-9)


def test_legacy_merge_refuses_unequal_ranks(tmp_path):
    files = [open_lora(_make(tmp_path, "a", 2, 1)), open_lora(_make(tmp_path, "b", 3, 2))]
    with pytest.raises(StyleMixError, match=r"equal ranks.*a rank 2, b rank 3"):
        merge([MergeTerm(f, 0.5) for f in files], method="legacy")


def test_block_weights_override_per_block(tmp_path):
    a = _make(tmp_path, "a", 3, 1)
    file = open_lora(a)
    in01 = {n for n in TINY if file.block_of(n) == "IN01"}
    assert in01 and in01 != set(TINY)
    merged = merge([MergeTerm(file, 1.0, block_weights={"IN01": -2.0})], method="concat")
    oracle = dense_oracle(a)
    for name, out in merged.modules.items():
        factor = -2.0 if name in in01 else 1.0
        torch.testing.assert_close(out.dense().double(), factor * oracle[name], rtol=1e-5, atol=1e-9)


def test_merge_argument_errors(tmp_path):
    f = open_lora(_make(tmp_path, "a", 2, 1))
    g = open_lora(make_lora_file(tmp_path / "xl.safetensors", arch="sdxl", rank=1,
                                 modules=["lora_te1_text_model_encoder_layers_0_mlp_fc1"]))
    with pytest.raises(StyleMixError, match="every weight is zero"):
        merge([MergeTerm(f, 0.0)])
    with pytest.raises(StyleMixError, match="cannot mix"):
        merge([MergeTerm(f, 1.0), MergeTerm(g, 1.0)])
    with pytest.raises(StyleMixError, match="only apply to the svd"):
        merge([MergeTerm(f, 1.0)], method="concat", rank=2)
    with pytest.raises(StyleMixError, match="either a rank or an energy"):
        merge([MergeTerm(f, 1.0)], method="svd", rank=2, energy=0.5)
    with pytest.raises(StyleMixError, match="energy must be"):
        merge([MergeTerm(f, 1.0)], method="svd", energy=1.5)
    with pytest.raises(StyleMixError, match="finite"):
        merge([MergeTerm(f, float("nan"))])
    with pytest.raises(StyleMixError, match="unknown merge method"):
        merge([MergeTerm(f, 1.0)], method="ties")


def test_cancel_and_progress(tmp_path):
    from lib_stylemix.errors import CancelledError
    from lib_stylemix.seams import CancelFlag

    files = [open_lora(_make(tmp_path, "a", 2, 1))]
    steps: list[int] = []

    class Recorder:
        def begin(self, total, text=""):
            steps.append(-total)

        def step(self, done, text=""):
            steps.append(done)

        def end(self, text=""):
            steps.append(0)

    kernel(files, progress=Recorder())
    assert steps == [-len(TINY), *range(1, len(TINY) + 1), 0]
    flag = CancelFlag()
    flag.cancel()
    with pytest.raises(CancelledError):
        kernel(files, cancel=flag)
    with pytest.raises(CancelledError):
        merge([MergeTerm(files[0], 1.0)], cancel=flag)


def test_kernel_names_the_file_with_nan(tmp_path):
    from lib_stylemix.lora import LoraFormatError
    from tests.lora.conftest import write_tensors

    good = [_make(tmp_path, f"g{i}", 2, i) for i in range(2)]
    raw = load_file(str(_make(tmp_path, "src", 2, 9)))
    raw[f"{TINY[1]}.lora_down.weight"].view(-1)[5] = float("nan")
    bad = write_tensors(tmp_path / "bad.safetensors", raw)
    files = [open_lora(p) for p in (*good, bad)]
    with pytest.raises(LoraFormatError, match=rf"bad\.safetensors: module {TINY[1]} contains NaN"):
        kernel(files)
    with pytest.raises(LoraFormatError, match=r"bad\.safetensors"):
        cross_kernel(files[:2], files[2:])


def test_svd_with_dependent_columns_uses_exact_fallback(tmp_path):
    """The same file twice makes the stacked factors rank-deficient: the Cholesky shortcut must not be used."""
    from lib_stylemix.lora.merge_methods.svd import _Basis

    a = _make(tmp_path, "a", 4, 3, modules=TINY[:2])
    file = open_lora(a)
    merged = merge([MergeTerm(file, 1.0), MergeTerm(file, 0.5)], method="svd", rank=4)
    oracle = dense_oracle(a)
    for name, out in merged.modules.items():
        torch.testing.assert_close(out.dense().double(), 1.5 * oracle[name], rtol=1e-5, atol=1e-9)
        assert out.energy == pytest.approx(1.0, abs=1e-9)
    stacked = np.concatenate([file.factors(TINY[0], dtype=torch.float64).up.numpy()] * 2, axis=1)
    assert _Basis(stacked).q is not None  # fell back to QR
    well = _Basis(file.factors(TINY[0], dtype=torch.float64).up.numpy())
    assert well.q is None  # fast path for a well-conditioned stack
    np.testing.assert_allclose(well.r.T @ well.r, well.a.T @ well.a, rtol=1e-10, atol=1e-14)
