"""LyCORIS and diffusers/PEFT files: every module's ΔW, compare and merges equal the dense float64 reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lib_stylemix.lora import MergeTerm, kernel, merge, open_lora, write_lora
from lib_stylemix.lora.container import LoraFormatError
from lib_stylemix.lora.formats import KEY_LAYOUTS, MODULE_FORMATS, REFUSALS
from tests.lora import lyco

CASES = {
    "locon": lambda mods, seed: lyco.locon_tensors(mods, 4, seed),
    "locon_tucker": lambda mods, seed: lyco.locon_tensors(mods, 4, seed, tucker=True),
    "loha": lambda mods, seed: lyco.loha_tensors(mods, 4, seed),
    "loha_tucker": lambda mods, seed: lyco.loha_tensors(mods, 4, seed, tucker=True),
    "loha_dense_route": lambda mods, seed: lyco.loha_tensors(mods, 24, seed),  # 24² > min(m, n) for 320-wide
    "lokr": lambda mods, seed: lyco.lokr_tensors(mods, 4, seed),
    "lokr_both_full": lambda mods, seed: lyco.lokr_tensors(mods, 4, seed, variant="both_full", alpha=7.0),
    "lokr_w1_lowrank": lambda mods, seed: lyco.lokr_tensors(mods, 4, seed, variant="w1_lowrank"),
    "lokr_tucker": lambda mods, seed: lyco.lokr_tensors(mods, 4, seed, variant="tucker"),
}
ARCHES = {"sd1": (lyco.SD1_MODULES, lyco.SD1_META), "sdxl": (lyco.SDXL_MODULES, lyco.SDXL_META)}


def _file(tmp_path, case: str, arch: str, seed: int = 0):
    modules, meta = ARCHES[arch]
    tensors = CASES[case](modules, seed)
    path = lyco.write(tmp_path / f"{case}_{arch}_{seed}.safetensors", tensors, meta)
    return path, lyco.oracle(tensors)


@pytest.mark.parametrize("arch", sorted(ARCHES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_module_matches_the_dense_reference(tmp_path, case, arch):
    path, expected = _file(tmp_path, case, arch)
    lora = open_lora(path)
    assert lora.arch == arch
    assert set(lora.module_names) == set(expected)
    for name, dense in expected.items():
        got = lora.factors(name, dtype=torch.float64).dense()
        assert got.shape == dense.shape
        torch.testing.assert_close(got, dense, rtol=1e-10, atol=1e-12)
        info = lora.modules[name]
        assert got.shape[1] == info.in_features and info.rank == lora.factors(name).rank
    kinds = {lora.modules[n].kind for n in expected}
    assert "conv3x3" in kinds


def test_loha_route_is_factors_below_min_dim_and_dense_above(tmp_path):
    lora = open_lora(_file(tmp_path, "loha", "sd1")[0])
    assert all(m.rank == 16 for m in lora.modules.values())  # r₁·r₂ = 4·4
    dense = open_lora(_file(tmp_path, "loha_dense_route", "sd1")[0])
    conv = dense.modules["lora_unet_down_blocks_0_resnets_0_conv1"]
    assert conv.rank == 320  # 24² = 576 > min(320, 2880): ΔW·I / I·ΔW of rank 320
    assert dense.modules["lora_te_text_model_encoder_layers_0_self_attn_q_proj"].rank == 576  # 576 ≤ 768


def test_float32_factors_agree_with_float64(tmp_path):
    path, expected = _file(tmp_path, "loha_tucker", "sd1")
    lora = open_lora(path)
    for name, dense in expected.items():
        torch.testing.assert_close(lora.factors(name).dense().double(), dense, rtol=2e-4, atol=1e-6)


def _all_formats(tmp_path, arch: str):
    paths, dense = [], []
    for i, case in enumerate(("locon", "loha", "lokr", "loha_tucker", "lokr_tucker")):
        path, expected = _file(tmp_path, case, arch, seed=10 + i)
        paths.append(path)
        dense.append(expected)
    return paths, dense


def _inner(a: dict, b: dict) -> float:
    return math.fsum(float((a[k] * b[k]).sum()) for k in set(a) & set(b))


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_compare_across_formats_equals_dense(tmp_path, arch):
    paths, dense = _all_formats(tmp_path, arch)
    files = [open_lora(p) for p in paths]
    k = kernel(files, dtype=torch.float64)
    expected = np.array([[_inner(a, b) for b in dense] for a in dense])
    np.testing.assert_allclose(k.total, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_concat_and_svd_merges_across_formats_equal_dense(tmp_path, arch):
    paths, dense = _all_formats(tmp_path, arch)
    weights = (0.7, -0.4, 1.3, 0.5, -0.2)
    terms = [MergeTerm(open_lora(p), w) for p, w in zip(paths, weights, strict=True)]
    want = {name: sum(w * d[name] for w, d in zip(weights, dense, strict=True)) for name in dense[0]}
    concat = merge(terms, method="concat")
    for name, target in want.items():
        torch.testing.assert_close(concat.modules[name].dense().double(), target, rtol=1e-4, atol=1e-6)
    svd = merge(terms, method="svd", rank=8)
    for name, target in want.items():
        u, s, vh = torch.linalg.svd(target, full_matrices=False)
        best = (u[:, :8] * s[:8]) @ vh[:8]
        torch.testing.assert_close(svd.modules[name].dense().double(), best, rtol=1e-3, atol=1e-5)
    out = write_lora(concat, tmp_path / "merged.safetensors", dtype="fp32")
    _assert_plain_kohya(out.path, want)


def _assert_plain_kohya(path, want):
    """The merged file has only kohya keys and shapes the webui's network_lora reads, and the same ΔW."""
    stored = load_file(str(path))
    for key, value in stored.items():
        module, param = key.split(".", 1)
        assert param in ("lora_down.weight", "lora_up.weight", "alpha"), key
        if param == "lora_down.weight":
            up = stored[f"{module}.lora_up.weight"]
            assert up.dim() == value.dim() and (value.dim() == 2 or up.shape[2:] == (1, 1))
    again = open_lora(path)
    assert again.algo == "lora" and all(again.is_plain(m) for m in again.module_names)
    for name, target in want.items():
        torch.testing.assert_close(again.factors(name, dtype=torch.float64).dense(), target, rtol=1e-4, atol=1e-6)


def test_kernel_is_invariant_to_loha_factor_order(tmp_path):
    """Swapping the two Hadamard halves changes every stored tensor but not ΔW: distances must not move."""
    modules, meta = ARCHES["sd1"]
    tensors = lyco.loha_tensors(modules, 4, 3)
    swapped = {}
    for key, value in tensors.items():
        swapped[key.replace("_w1_", "_wX_").replace("_w2_", "_w1_").replace("_wX_", "_w2_")] = value
    a = lyco.write(tmp_path / "a.safetensors", tensors, meta)
    b = lyco.write(tmp_path / "b.safetensors", swapped, meta)
    total = kernel([open_lora(a), open_lora(b)], dtype=torch.float64).total
    assert total[0, 0] == pytest.approx(total[1, 1], rel=1e-12)
    assert total[0, 1] == pytest.approx(total[0, 0], rel=1e-12)


def test_registry_lists_every_format_with_help():
    assert [f.name for f in MODULE_FORMATS] == ["lora", "loha", "lokr"]
    assert [k.name for k in KEY_LAYOUTS] == ["peft"]
    assert all(f.help for f in (*MODULE_FORMATS, *KEY_LAYOUTS)) and all(r.why for r in REFUSALS)


def test_info_fields_name_the_algorithm(tmp_path):
    lora = open_lora(_file(tmp_path, "lokr", "sd1")[0])
    assert lora.algo == "lokr"
    assert lora.params == sum(v.numel() for k, v in load_file(str(lora.path)).items() if not k.endswith("alpha"))


def test_nan_in_a_loha_factor_is_named(tmp_path):
    modules, meta = ARCHES["sd1"]
    tensors = lyco.loha_tensors(modules, 4, 0)
    name = modules[0][0]
    tensors[f"{name}.hada_w2_b"][0, 0] = float("nan")
    lora = open_lora(lyco.write(tmp_path / "nan.safetensors", tensors, meta))
    with pytest.raises(LoraFormatError, match=f"module {name} contains NaN"):
        lora.factors(name)


def test_loha_with_mismatched_halves_is_refused(tmp_path):
    modules, meta = ARCHES["sd1"]
    tensors = lyco.loha_tensors(modules[:1], 4, 0)
    name = modules[0][0]
    tensors[f"{name}.hada_w2_a"] = torch.zeros(320, 4)
    with pytest.raises(LoraFormatError, match="LoHa halves have different shapes"):
        open_lora(lyco.write(tmp_path / "bad.safetensors", tensors, meta))
