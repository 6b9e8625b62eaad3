"""Issue 12 items 3, 6 and 7: options written the way the detected sd-scripts release takes them, warmup
ratios, and resolution vs bucket limits refused at plan time."""

from __future__ import annotations

import dataclasses

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.locate import detect_version, family_from_sources, locate_sd_scripts
from lib_stylemix.training.sd_args import adapt_value, parse_int_or_ratio
from lib_stylemix.training.toml_flat import dumps_flat

# The argument definitions as they read in each release (facts the detection keys on, shortened).
TE_LR_SCALAR = 'parser.add_argument("--text_encoder_lr", type=float, default=None, help="learning rate")\n'
TE_LR_LIST = 'parser.add_argument(\n    "--text_encoder_lr",\n    type=float,\n    default=None,\n    nargs="*",\n)\n'
WARMUP_INT = 'parser.add_argument(\n    "--lr_warmup_steps",\n    type=int,\n    default=0,\n)\n'
WARMUP_RATIO = 'parser.add_argument(\n    "--lr_warmup_steps",\n    type=int_or_float,\n    default=0,\n)\n'


@pytest.mark.parametrize(
    ("train_network", "train_util", "family"),
    [(TE_LR_SCALAR, WARMUP_INT, "v0.8"), (TE_LR_SCALAR, WARMUP_RATIO, "v0.9"), (TE_LR_LIST, WARMUP_RATIO, "v0.10"),
     ("", "", "v0.9")],
)  # fmt: skip
def test_family_from_the_argument_definitions(train_network, train_util, family):
    assert family_from_sources(train_network, train_util) == family


def test_located_checkout_carries_its_family_and_label(tmp_path):
    root = tmp_path / "sd"
    (root / "library").mkdir(parents=True)
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "python").write_text("")
    (root / "train_network.py").write_text(TE_LR_LIST)
    (root / "library" / "train_util.py").write_text(WARMUP_RATIO)
    (root / ".stylemix-setup.json").write_text('{"ref": "main"}')
    found = locate_sd_scripts(root)
    assert (found.version, found.family) == ("main", "v0.10") and detect_version(root) == ("main", "v0.10")


def plan(fake_sd, env, dataset, sd15, tmp_path, pairs, family="v0.9"):
    settings = apply_overrides(TrainSettings(), pairs)
    sd = dataclasses.replace(fake_sd, family=family)
    return plan_training(dataset, sd15, sd=sd, env=env, settings=settings, output_root=tmp_path / "o")


def test_text_encoder_lr_is_a_float_for_v09_and_a_list_for_v010(fake_sd, env_plain, dataset, sd15, tmp_path):
    v09 = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["text_encoder_lr=5e-5"])
    assert v09.toml_args["text_encoder_lr"] == 5e-5 and "text_encoder_lr = 5e-05\n" in v09.config_text
    assert v09.sd_version == "unknown (v0.9.x options)"
    v010 = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["text_encoder_lr=5e-5"], family="v0.10")
    assert v010.toml_args["text_encoder_lr"] == [5e-5] and "text_encoder_lr = [5e-05]\n" in v010.config_text
    two = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["text_encoder_lr=5e-5,1e-5"], family="v0.10")
    assert two.toml_args["text_encoder_lr"] == [5e-5, 1e-5]
    with pytest.raises(StyleMixError, match=r"text_encoder_lr=\[5e-05, 1e-05\]: sd-scripts v0.9.x takes one value"):
        plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["text_encoder_lr=5e-5,1e-5"])


@pytest.mark.parametrize(("text", "value"), [("0.05", 0.05), ("5%", 0.05), ("100", 100), ("0", 0), ("1", 1)])
def test_warmup_takes_steps_or_a_ratio_like_sd_scripts(text, value):
    parsed = parse_int_or_ratio(text)
    assert parsed == value and type(parsed) is type(value)


def test_warmup_ratio_reaches_the_toml_where_supported(fake_sd, env_plain, dataset, sd15, tmp_path):
    job = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["lr_warmup_steps=0.05", "lr_scheduler=cosine"])
    assert job.toml_args["lr_warmup_steps"] == 0.05 and "lr_warmup_steps = 0.05\n" in job.config_text
    job = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["lr_warmup_steps=5%"], family="v0.10")
    assert job.toml_args["lr_warmup_steps"] == 0.05
    with pytest.raises(StyleMixError, match=r"a ratio needs v0\.9\.0 or later"):
        plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["lr_warmup_steps=0.05"], family="v0.8")
    assert plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["lr_warmup_steps=20"], family="v0.8").toml_args[
        "lr_warmup_steps"] == 20  # fmt: skip
    with pytest.raises(StyleMixError, match=r"lr_decay_steps: not an option of sd-scripts v0\.8\.x"):
        plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["lr_decay_steps=10"], family="v0.8")
    with pytest.raises(StyleMixError, match="expected int or ratio"):
        apply_overrides(TrainSettings(), ["lr_warmup_steps=1.5"])


def test_adapt_value_leaves_other_options_alone():
    assert adapt_value("network_args", ["conv_dim=4"], "v0.9") == ["conv_dim=4"]
    assert adapt_value("text_encoder_lr", 1e-5, "v0.10") == [1e-5]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["resolution=64"], r"resolution 64 is below min_bucket_reso 256 \(buckets on\).*min_bucket_reso=64"),
        (["resolution=128", "min_bucket_reso=200"], "resolution 128 is below min_bucket_reso 192"),
        (["resolution=1536"], "resolution 1536 is above max_bucket_reso 1024"),
    ],
)
def test_resolution_outside_the_bucket_limits_is_refused(fake_sd, env_plain, dataset, sd15, tmp_path, pairs, message):
    with pytest.raises(StyleMixError, match=message):
        plan(fake_sd, env_plain, dataset, sd15, tmp_path, pairs)


def test_small_resolution_passes_with_matching_limits_or_without_buckets(fake_sd, env_plain, dataset, sd15, tmp_path):
    ok = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["resolution=64", "min_bucket_reso=64"])
    assert ok.toml_args["min_bucket_reso"] == 64
    # sd-scripts rounds min_bucket_reso down to bucket_reso_steps first: 100 -> 64 <= 64
    plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["resolution=64", "min_bucket_reso=100"])
    no_buckets = plan(fake_sd, env_plain, dataset, sd15, tmp_path, ["resolution=64", "enable_bucket=false"])
    assert "enable_bucket" not in no_buckets.toml_args


def test_flat_toml_is_written_without_tomli_w():
    assert dumps_flat({"a": 1, "b": None, "c": "x"}) == 'a = 1\nc = "x"\n'
