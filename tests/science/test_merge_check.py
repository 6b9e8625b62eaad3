import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from lib_stylemix.errors import StyleMixError
from lib_stylemix.lora import MergeTerm, merge, open_lora, write_lora
from lib_stylemix.lora.synthetic import make_lora_file
from lib_stylemix.science.merge_check import (
    RecipeTerm,
    check_dw,
    check_pixels,
    pixel_difference,
    recipe_from_metadata,
)

MODULES = [
    "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
    "lora_unet_down_blocks_0_attentions_0_proj_in",
    "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn1_to_out_0",
]


def dense(path) -> dict[str, torch.Tensor]:
    """Independent float64 oracle: ΔW per module straight from the tensors."""
    sd = load_file(str(path))
    out = {}
    for key in sd:
        if key.endswith(".lora_down.weight"):
            name = key[: -len(".lora_down.weight")]
            down, up = sd[key].double(), sd[f"{name}.lora_up.weight"].double()
            rank = down.shape[0]
            alpha = float(sd[f"{name}.alpha"]) if f"{name}.alpha" in sd else rank
            out[name] = (alpha / rank) * up.reshape(up.shape[0], rank) @ down.reshape(rank, -1)
    return out


def dense_rel_error(saved, parents, weights) -> float:
    got = dense(saved)
    want: dict[str, torch.Tensor] = {}
    for p, w in zip(parents, weights, strict=True):
        for k, v in dense(p).items():
            want[k] = want.get(k, 0) + w * v
    err = sum(float(((got.get(k, 0) - v) ** 2).sum()) for k, v in want.items())
    return math.sqrt(err / sum(float((v**2).sum()) for v in want.values()))


@pytest.fixture
def parents(tmp_path):
    a = make_lora_file(tmp_path / "a.safetensors", modules=MODULES, rank=4, seed=1, dtype="fp32")
    b = make_lora_file(tmp_path / "b.safetensors", modules=MODULES[:2], rank=2, seed=2, dtype="fp32")
    return a, b


def _save(parents, tmp_path, method, dtype, rank=None):
    files = [open_lora(p) for p in parents]
    merged = merge([MergeTerm(files[0], 0.7), MergeTerm(files[1], -0.4)], method=method, rank=rank)
    return write_lora(merged, tmp_path / f"m_{method}_{dtype}.safetensors", dtype=dtype).path


@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
def test_concat_merge_is_exact_in_fp32_and_close_when_stored(parents, tmp_path, dtype):
    saved = _save(parents, tmp_path, "concat", dtype)
    recipe = [RecipeTerm(parents[0], 0.7), RecipeTerm(parents[1], -0.4)]
    check = check_dw(saved, recipe)
    assert check.method == "concat"
    assert check.fp32_error is not None and check.fp32_error < 1e-6
    if dtype == "fp16":
        assert 1e-6 < check.stored_error < 5e-3 and check.stored_dtype == "fp16"
        assert check.stored_error == pytest.approx(dense_rel_error(saved, parents, [0.7, -0.4]), rel=1e-6)
    else:  # both only float32 rounding
        assert check.stored_error < 1e-6 and dense_rel_error(saved, parents, [0.7, -0.4]) < 1e-6


def test_svd_merge_error_is_the_discarded_energy(parents, tmp_path):
    saved = _save(parents, tmp_path, "svd", "fp32", rank=2)
    check = check_dw(saved, [RecipeTerm(parents[0], 0.7), RecipeTerm(parents[1], -0.4)])
    energy = float(open_lora(saved).metadata["stylemix_retained_energy"])
    assert check.fp32_error == pytest.approx(math.sqrt(1 - energy), rel=1e-4)
    assert check.stored_error == pytest.approx(dense_rel_error(saved, parents, [0.7, -0.4]), rel=1e-6)


def test_legacy_average_is_not_the_stack(tmp_path):
    a = make_lora_file(tmp_path / "a.safetensors", modules=MODULES, rank=4, seed=1, dtype="fp32")
    b = make_lora_file(tmp_path / "b.safetensors", modules=MODULES, rank=4, seed=2, dtype="fp32")
    files = [open_lora(a), open_lora(b)]
    merged = merge([MergeTerm(files[0], 0.5), MergeTerm(files[1], 0.5)], method="legacy")
    saved = write_lora(merged, tmp_path / "legacy.safetensors", dtype="fp32").path
    check = check_dw(saved, [RecipeTerm(a, 0.5), RecipeTerm(b, 0.5)])
    assert check.stored_error > 0.3
    assert check.stored_error == pytest.approx(dense_rel_error(saved, [a, b], [0.5, 0.5]), rel=1e-6)


def test_recipe_from_metadata_finds_the_parents(parents, tmp_path):
    saved = _save(parents, tmp_path, "concat", "fp16")
    recipe = recipe_from_metadata(saved, tmp_path)
    assert [(t.path.name, t.weight) for t in recipe] == [("a.safetensors", 0.7), ("b.safetensors", -0.4)]
    with pytest.raises(StyleMixError, match="no StyleMix recipe"):
        recipe_from_metadata(parents[0], tmp_path)


def test_pixel_difference_on_constructed_images():
    a = Image.new("RGB", (8, 8), (100, 100, 100))
    b = Image.new("RGB", (8, 8), (110, 100, 100))
    mad, psnr = pixel_difference(a, b)
    assert mad == pytest.approx(10 / 3)
    assert psnr == pytest.approx(10 * math.log10(255**2 / (100 / 3)))
    assert pixel_difference(a, a) == (0.0, math.inf)
    check = check_pixels([a, a], [a, b])
    assert check.mean_abs == [0.0, pytest.approx(10 / 3)]
    assert check.to_json()["psnr_per_image"][0] == "inf"
    with pytest.raises(StyleMixError, match="same number"):
        check_pixels([a], [a, b])
    with pytest.raises(StyleMixError, match="size"):
        pixel_difference(a, Image.new("RGB", (4, 4)))
    assert np.isfinite(check.overall_psnr)


def test_pixel_check_renders_merge_and_stack_at_the_same_seeds(parents, tmp_path):
    from lib_stylemix.science.merge_check import PixelJob, render_pair, stack_tags
    from lib_stylemix.science.render import RenderSpec
    from tests.science.drawing import DrawingGenerator

    recipe = [RecipeTerm(parents[0], 0.7), RecipeTerm(parents[1], -0.4)]
    stack = stack_tags(recipe)
    assert stack == [("a", 0.7), ("b", -0.4)]
    generator = DrawingGenerator()
    spec = RenderSpec(("a cat",), (1, 2), width=32, height=32)
    merged, stacked = render_pair(PixelJob(spec, "a", tuple(stack)), generator)
    assert [c[1] for c in generator.calls] == [1, 1, 2, 2]
    assert generator.calls[0][0] == "a cat <lora:a:1>" and generator.calls[1][0].endswith("<lora:b:-0.4>")
    check = check_pixels(merged, stacked)
    assert len(check.mean_abs) == 2 and check.overall_mean_abs > 0  # drawn styles differ: a ≠ 0.7a − 0.4b
    with pytest.raises(StyleMixError, match="per-block"):
        stack_tags([RecipeTerm(parents[0], 1.0, {"unet": 0.5})])
