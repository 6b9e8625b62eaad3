"""Written files: what A1111/Forge/sd-scripts expect (keys, shapes, dtypes, metadata), hashes, atomic writes."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import torch
from safetensors import safe_open

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import MergeTerm, make_lora_file, merge, open_lora, write_lora
from tests.lora.conftest import SD1_CONV3, SD1_SMALL, dense_oracle

MODULES = (*SD1_SMALL, SD1_CONV3)


@pytest.fixture
def parents(tmp_path):
    a = make_lora_file(tmp_path / "in" / "alpha.safetensors", rank=4, seed=1, modules=list(MODULES))
    b = make_lora_file(tmp_path / "in" / "beta.safetensors", rank=2, seed=2, modules=list(MODULES[:3]))
    return open_lora(a), open_lora(b)


def _file_hashes(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + n:]).hexdigest(), hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


@pytest.mark.parametrize(("dtype", "torch_dtype"), [("fp16", torch.float16), ("bf16", torch.bfloat16),
                                                     ("fp32", torch.float32)])
def test_written_file_has_what_webui_loaders_expect(tmp_path, parents, dtype, torch_dtype):
    a, b = parents
    merged = merge([MergeTerm(a, 1.0), MergeTerm(b, -0.5)], method="concat")
    out = write_lora(merged, tmp_path / "out" / "mix.safetensors", dtype=dtype)
    with safe_open(str(out.path), framework="pt") as fh:
        meta = fh.metadata()
        keys = set(fh.keys())
        tensors = {k: fh.get_tensor(k) for k in keys}
    assert keys == {f"{m}.{p}" for m in MODULES for p in ("lora_down.weight", "lora_up.weight", "alpha")}
    for m in MODULES:
        down, up, alpha = (tensors[f"{m}.{p}"] for p in ("lora_down.weight", "lora_up.weight", "alpha"))
        assert down.dtype == torch_dtype and up.dtype == torch_dtype
        assert alpha.dim() == 0 and float(alpha) == down.shape[0]  # alpha = rank → scale 1
        assert up.shape[1] == down.shape[0]
    conv_down = tensors[f"{SD1_CONV3}.lora_down.weight"]
    assert tuple(conv_down.shape) == (4, 320, 3, 3)
    assert tuple(tensors[f"{SD1_CONV3}.lora_up.weight"].shape) == (320, 4, 1, 1)
    assert tuple(tensors[f"{SD1_SMALL[2]}.lora_down.weight"].shape) == (6, 320, 1, 1)  # conv1x1 stays 4-D
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    assert meta["ss_network_module"] == "networks.lora"
    assert meta["ss_network_dim"] == "Dynamic" and meta["ss_network_alpha"] == "Dynamic"  # ranks 6 and 4
    assert meta["ss_base_model_version"] == "sd_v1" and meta["ss_v2"] == "False"
    assert meta["ss_output_name"] == "mix" and meta["modelspec.title"] == "mix"
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert meta["modelspec.sai_model_spec"] == "1.0.1"
    assert meta["modelspec.merged_from"] == "alpha, beta"
    assert json.loads(meta["ss_network_args"]) == {"conv_dim": "4", "conv_alpha": "4"}
    parents_meta = json.loads(meta["stylemix_parents"])
    assert parents_meta == [{"name": "alpha", "sshs_model_hash": a.model_hash},
                            {"name": "beta", "sshs_model_hash": b.model_hash}]
    assert json.loads(meta["stylemix_weights"]) == [{"name": "alpha", "weight": 1.0},
                                                    {"name": "beta", "weight": -0.5}]
    assert meta["stylemix_method"].startswith("concat") and meta["stylemix_rank"] == "6"
    model_hash, legacy = _file_hashes(out.path)
    assert meta["sshs_model_hash"] == model_hash == out.model_hash
    assert meta["sshs_legacy_hash"] == legacy


def test_written_file_reads_back_with_same_delta(tmp_path, parents):
    a, b = parents
    merged = merge([MergeTerm(a, 0.8), MergeTerm(b, 0.4)], method="svd", rank=3)
    out = write_lora(merged, tmp_path / "svd.safetensors", dtype="fp32")
    back = open_lora(out.path)
    assert back.arch == "sd1" and back.rank == 3
    assert back.model_hash == back.compute_model_hash() == out.model_hash
    assert float(back.metadata["stylemix_retained_energy"]) == pytest.approx(merged.retained_energy, abs=1e-6)
    oracle = dense_oracle(out.path)
    for name, module in merged.modules.items():
        torch.testing.assert_close(oracle[name].float(), module.dense(), rtol=1e-5, atol=1e-8)


def test_sdxl_metadata(tmp_path):
    src = make_lora_file(tmp_path / "x.safetensors", arch="sdxl", rank=2,
                         modules=["lora_te2_text_model_encoder_layers_0_mlp_fc1"])
    merged = merge([MergeTerm(open_lora(src), 1.0)])
    meta = open_lora(write_lora(merged, tmp_path / "xl.safetensors").path).metadata
    assert meta["ss_base_model_version"] == "sdxl_base_v1-0"
    assert meta["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"


def test_never_overwrites_without_flag_and_leaves_no_temp_files(tmp_path, parents):
    merged = merge([MergeTerm(parents[0], 1.0)])
    target = tmp_path / "o" / "keep.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"user data")
    with pytest.raises(StyleMixError, match="already exists"):
        write_lora(merged, target)
    assert target.read_bytes() == b"user data"
    assert sorted(p.name for p in target.parent.iterdir()) == ["keep.safetensors"]
    write_lora(merged, target, overwrite=True)
    assert open_lora(target).rank == 4


def test_refuses_names_escaping_the_folder_and_wrong_suffix(tmp_path, parents):
    merged = merge([MergeTerm(parents[0], 1.0)])
    folder = tmp_path / "loras"
    folder.mkdir()
    for bad in ("../escape.safetensors", "sub/x.safetensors", "/abs.safetensors"):
        with pytest.raises(StyleMixError):
            write_lora(merged, bad, within=folder)
    assert not (tmp_path / "escape.safetensors").exists()
    assert write_lora(merged, "ok.safetensors", within=folder).path == (folder / "ok.safetensors").resolve()
    with pytest.raises(StyleMixError, match=r"must end in \.safetensors"):
        write_lora(merged, tmp_path / "x.ckpt")


def test_extra_metadata_must_be_strings(tmp_path, parents):
    merged = merge([MergeTerm(parents[0], 1.0)])
    out = write_lora(merged, tmp_path / "m.safetensors", extra_metadata={"modelspec.author": "me"})
    assert open_lora(out.path).metadata["modelspec.author"] == "me"
    with pytest.raises(StyleMixError, match="strings"):
        write_lora(merged, tmp_path / "n.safetensors", extra_metadata={"x": 1})  # type: ignore[dict-item]


def test_legacy_is_labelled_in_metadata(tmp_path, parents):
    a, _ = parents
    merged = merge([MergeTerm(a, 0.5), MergeTerm(a, 0.5)], method="legacy")
    meta = open_lora(write_lora(merged, tmp_path / "l.safetensors").path).metadata
    assert meta["stylemix_method"] == "legacy (not effect-preserving)"


def test_large_file_legacy_hash_region(tmp_path):
    """Files over 1 MiB: the legacy hash covers real tensor bytes at 0x100000 and matches the final file."""
    src = make_lora_file(tmp_path / "big.safetensors", rank=32, modules=[
        "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_ff_net_0_proj"])
    merged = merge([MergeTerm(open_lora(src), 1.0)])
    out = write_lora(merged, tmp_path / "bigout.safetensors", dtype="fp32")
    assert out.path.stat().st_size > 0x110000
    meta = open_lora(out.path).metadata
    assert (meta["sshs_model_hash"], meta["sshs_legacy_hash"]) == _file_hashes(out.path)


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_numpy_and_torch_factors_write_the_same_tensors(tmp_path, parents, dtype):
    """An `OutModule` of numpy arrays (the pool's save path, torch-free) writes the very bytes torch tensors do."""
    from dataclasses import replace

    a, b = parents
    merged = merge([MergeTerm(a, 1.0), MergeTerm(b, -0.5)], method="concat")
    as_numpy = replace(merged, modules={n: replace(m, up=m.up.numpy(), down=m.down.numpy())
                                        for n, m in merged.modules.items()})
    from_torch = write_lora(merged, tmp_path / "t.safetensors", dtype=dtype)
    from_numpy = write_lora(as_numpy, tmp_path / "n.safetensors", dtype=dtype)
    assert from_numpy.model_hash == from_torch.model_hash
    assert _file_hashes(from_numpy.path) == _file_hashes(from_torch.path)
