"""Reading kohya LoRAs: round trip, formats, and every refusal path with real files."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import LoraFormatError, default_modules, make_lora_file, open_lora
from tests.lora.conftest import SD1_CONV3, SD1_SMALL, dense_oracle, write_tensors


def test_round_trip_factors_match_stored_tensors(small_sd1):
    path = small_sd1("a", rank=6, alpha=3.0)
    lora = open_lora(path)
    raw = load_file(str(path))
    oracle = dense_oracle(path)
    assert lora.module_names == tuple(sorted(SD1_SMALL))
    assert lora.rank == 6 and lora.name == "a" and lora.dtype == "fp32" and lora.format == "safetensors"
    for module in SD1_SMALL:
        fac = lora.factors(module)
        assert fac.rank == 6
        assert lora.alpha(module) == 3.0
        torch.testing.assert_close(fac.down, raw[f"{module}.lora_down.weight"].reshape(6, -1))
        torch.testing.assert_close(fac.up, raw[f"{module}.lora_up.weight"].reshape(-1, 6) * 0.5)
        torch.testing.assert_close(fac.dense().double(), oracle[module], rtol=1e-5, atol=1e-9)
    assert lora.factors(SD1_SMALL[2]).kind == "conv1x1"
    assert lora.factors(SD1_SMALL[0]).kind == "linear"


def test_full_sd15_layout_reads_lazily(tmp_path):
    path = make_lora_file(tmp_path / "full.safetensors", rank=2)
    lora = open_lora(path)
    assert len(lora.module_names) == 264
    assert lora.params == 2 * 589_824  # sd_scripts.md §5.5: 589,824 params per rank unit
    assert lora.arch == "sd1" and lora.arch_source == "shapes"
    assert lora.nbytes == path.stat().st_size
    lora.validate()


def test_conv3x3_is_flattened_and_keeps_shapes(small_sd1):
    path = small_sd1("c", rank=3, modules=(SD1_CONV3,))
    fac = open_lora(path).factors(SD1_CONV3)
    assert fac.kind == "conv3x3"
    assert tuple(fac.down.shape) == (3, 320 * 9) and tuple(fac.up.shape) == (320, 3)
    assert fac.down_shape == (3, 320, 3, 3) and fac.up_shape == (320, 3, 1, 1)


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_dtypes_are_read_as_float32(tmp_path, dtype):
    path = make_lora_file(tmp_path / "d.safetensors", modules=list(SD1_SMALL), dtype=dtype)
    lora = open_lora(path)
    assert lora.dtype == dtype
    assert lora.factors(SD1_SMALL[0]).up.dtype == torch.float32


def test_missing_and_zero_alpha_mean_rank(tmp_path, small_sd1):
    raw = load_file(str(small_sd1("a", rank=4)))
    without = {k: v for k, v in raw.items() if not k.endswith(".alpha")}
    zero = {k: (torch.tensor(0.0) if k.endswith(".alpha") else v) for k, v in raw.items()}
    for name, tensors in (("noalpha", without), ("zeroalpha", zero)):
        lora = open_lora(write_tensors(tmp_path / f"{name}.safetensors", tensors))
        module = SD1_SMALL[0]
        assert lora.alpha(module) == 4.0
        torch.testing.assert_close(lora.factors(module).up, raw[f"{module}.lora_up.weight"])


def test_int64_alpha_like_svd_merge_lora(tmp_path, small_sd1):
    raw = load_file(str(small_sd1("a", rank=4)))
    tensors = {k: (torch.tensor(2, dtype=torch.int64) if k.endswith(".alpha") else v) for k, v in raw.items()}
    lora = open_lora(write_tensors(tmp_path / "i.safetensors", tensors))
    assert lora.alpha(SD1_SMALL[0]) == 2.0


def test_tensors_only_pt_is_accepted(tmp_path, small_sd1):
    raw = load_file(str(small_sd1("a")))
    pt = tmp_path / "a.pt"
    torch.save(raw, pt)
    wrapped = tmp_path / "wrapped.ckpt"
    torch.save({"state_dict": raw}, wrapped)
    for path in (pt, wrapped):
        lora = open_lora(path)
        assert lora.format == "torch" and lora.arch == "sd1"
        torch.testing.assert_close(lora.factors(SD1_SMALL[1]).down, raw[f"{SD1_SMALL[1]}.lora_down.weight"])
        assert len(lora.model_hash) == 64


class Payload:
    """A pickled object that would run code when unpickled without weights_only."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as fh:
        pickle.dump({"lora_te_x.lora_down.weight": Payload()}, fh)
    with pytest.raises(LoraFormatError, match="weights_only"):
        open_lora(path)
    assert "pwned" not in capsys.readouterr().out


def test_pickle_with_non_tensor_value_is_refused(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"lora_te_x.lora_down.weight": [1, 2, 3]}, path)
    with pytest.raises(LoraFormatError, match="not a tensor"):
        open_lora(path)


def _header_bytes(path: Path) -> tuple[int, dict, bytes]:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8:8 + n]), data[8 + n:]


def _rewrite(path: Path, header: dict, body: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    return path


def test_truncated_file(small_sd1):
    path = small_sd1("t")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(LoraFormatError, match=r"t\.safetensors.*(truncated|outside)"):
        open_lora(path)


def test_truncated_inside_header(small_sd1):
    path = small_sd1("h")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(LoraFormatError, match="header claims"):
        open_lora(path)


def test_tiny_file(tmp_path):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"abc")
    with pytest.raises(LoraFormatError, match="truncated"):
        open_lora(path)


def test_header_lies_about_offsets(small_sd1):
    path = small_sd1("l")
    _, header, body = _header_bytes(path)
    key = next(k for k in header if k.endswith("lora_down.weight"))
    begin, end = header[key]["data_offsets"]
    header[key]["data_offsets"] = [begin, end + 10**9]
    with pytest.raises(LoraFormatError, match=r"outside the file|needs"):
        open_lora(_rewrite(path, header, body))


def test_header_lies_about_shape(small_sd1):
    path = small_sd1("s")
    _, header, body = _header_bytes(path)
    key = next(k for k in header if k.endswith("lora_down.weight"))
    header[key]["shape"] = [header[key]["shape"][0], header[key]["shape"][1] * 2]
    with pytest.raises(LoraFormatError, match=r"needs .* bytes"):
        open_lora(_rewrite(path, header, body))


def test_header_not_json(small_sd1):
    path = small_sd1("j")
    n, _, body = _header_bytes(path)
    path.write_bytes(struct.pack("<Q", n) + b"{" * n + body)
    with pytest.raises(LoraFormatError, match="not valid JSON"):
        open_lora(path)


def test_overlapping_tensors(small_sd1):
    path = small_sd1("o")
    _, header, body = _header_bytes(path)
    keys = [k for k in header if k != "__metadata__"]
    a, b = keys[0], keys[1]
    if header[a]["data_offsets"] == header[b]["data_offsets"]:
        pytest.fail("fixture has identical offsets")
    header[b] = dict(header[a])
    with pytest.raises(LoraFormatError, match=r"overlaps|cover"):
        open_lora(_rewrite(path, header, body))


def test_non_string_metadata(small_sd1):
    path = small_sd1("m")
    _, header, body = _header_bytes(path)
    header["__metadata__"] = {"ss_network_dim": 4}
    with pytest.raises(LoraFormatError, match="metadata"):
        open_lora(_rewrite(path, header, body))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_named_at_read_and_by_validate(tmp_path, small_sd1, bad):
    raw = load_file(str(small_sd1("a")))
    module = SD1_SMALL[1]
    raw[f"{module}.lora_up.weight"][3, 1] = bad
    lora = open_lora(write_tensors(tmp_path / "nan.safetensors", raw))
    with pytest.raises(LoraFormatError, match=f"nan.safetensors: module {module} contains NaN or Inf"):
        lora.factors(module)
    lora.factors(SD1_SMALL[0])  # other modules stay readable
    with pytest.raises(LoraFormatError, match=module):
        lora.validate()


def test_wrong_rank_between_up_and_down(tmp_path, small_sd1):
    raw = load_file(str(small_sd1("a", rank=4)))
    module = SD1_SMALL[0]
    raw[f"{module}.lora_up.weight"] = torch.zeros(768, 3)
    with pytest.raises(LoraFormatError, match=f"{module}: rank mismatch"):
        open_lora(write_tensors(tmp_path / "rank.safetensors", raw))


def test_missing_up(tmp_path, small_sd1):
    raw = load_file(str(small_sd1("a")))
    del raw[f"{SD1_SMALL[0]}.lora_up.weight"]
    with pytest.raises(LoraFormatError, match=r"no lora_up\.weight"):
        open_lora(write_tensors(tmp_path / "noup.safetensors", raw))


def test_integer_factor_refused(tmp_path, small_sd1):
    raw = load_file(str(small_sd1("a")))
    raw[f"{SD1_SMALL[0]}.lora_down.weight"] = raw[f"{SD1_SMALL[0]}.lora_down.weight"].to(torch.int32)
    with pytest.raises(LoraFormatError, match="expected a float type"):
        open_lora(write_tensors(tmp_path / "int.safetensors", raw))


M = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"


@pytest.mark.parametrize(("keys", "expected"), [
    ({f"{M}.hada_w1_a": (320, 4), f"{M}.hada_w1_b": (4, 320), f"{M}.alpha": ()}, "incomplete LoHa"),
    ({f"{M}.lokr_w1": (4, 4)}, "LoKr needs lokr_w2"),
    ({f"{M}.diff": (320, 320)}, "full weight difference.*cannot carry"),
    ({f"{M}.oft_blocks": (4, 80, 80), f"{M}.alpha": ()}, "OFT.*depends on the base weights"),
    ({"oft_unet_x.oft_blocks": (4, 80, 80)}, "OFT"),
    ({f"{M}.lora_down.weight": (4, 320), f"{M}.lora_up.weight": (320, 4), f"{M}.dora_scale": (1, 320)},
     "DoRA.*not linear in ΔW"),
    ({f"{M}.weight": (320,), f"{M}.on_input": ()}, "IA"),
    ({f"{M}.a1.weight": (4, 320), f"{M}.a2.weight": (320, 4)}, "GLoRA.*depends on the base weights"),
    ({f"{M}.w_norm": (320,)}, "norm-layer"),
    ({"model.diffusion_model.input_blocks.0.0.weight": (4, 4)}, "full Stable Diffusion checkpoint"),
    ({"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": (4, 3072)}, "this is a Flux LoRA; StyleMix"),
    ({"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight": (4, 3072)}, "Flux"),
    ({"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight": (4, 1536)}, "an SD3 LoRA"),
    ({"something_else": (2, 2)}, "no usable LoRA module.*something_else"),
    ({"lora_unet_conv_in.lora_down.weight": (4, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": (320, 4, 1, 1)},
     "no usable LoRA module"),
])
def test_foreign_formats_are_refused_by_name(tmp_path, keys, expected):
    tensors = {k: torch.zeros(shape) for k, shape in keys.items()}
    path = write_tensors(tmp_path / "foreign.safetensors", tensors)
    with pytest.raises(LoraFormatError, match=expected) as info:
        open_lora(path)
    assert "foreign.safetensors" in str(info.value)


def test_unsupported_suffix_and_missing_file(tmp_path):
    other = tmp_path / "x.onnx"
    other.write_bytes(b"0" * 16)
    with pytest.raises(LoraFormatError, match="unsupported file type"):
        open_lora(other)
    with pytest.raises(LoraFormatError, match="no such file"):
        open_lora(tmp_path / "missing.safetensors")


def test_errors_are_stylemix_errors(tmp_path):
    assert issubclass(LoraFormatError, StyleMixError)


def test_model_hash_is_tensor_region_sha256(small_sd1):
    import hashlib

    path = small_sd1("h")
    _, _, body = _header_bytes(path)
    lora = open_lora(path)
    assert lora.model_hash == hashlib.sha256(body).hexdigest()


def test_keeping_many_files_open_reads_no_tensor_data(tmp_path):
    paths = [make_lora_file(tmp_path / f"p{i}.safetensors", rank=1, seed=i, modules=default_modules("sd1")[:3])
             for i in range(50)]
    files = [open_lora(p) for p in paths]
    assert all(f._source._handle is None and f._raw is None for f in files)  # header only until a module is read
    files[7].factors(files[7].module_names[0])
    assert files[7]._raw is not None  # the read opened this file's handle only
    assert all(f._raw is None for i, f in enumerate(files) if i != 7)
    files[7].close()
    assert files[7]._raw is None
