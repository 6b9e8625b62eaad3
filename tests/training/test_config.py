"""Golden tests of the planned command and TOML (SD1.5, SD2, SDXL) and of the settings surface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.config import (
    TrainJob,
    TrainSettings,
    apply_overrides,
    build_sample_prompts,
    expected_outputs,
    plan_training,
    slugify,
)
from lib_stylemix.training.locate import DEFAULT_TOKENIZER_DIR
from lib_stylemix.training.sd_args import FAMILY_ARGS
from tests.training.conftest import make_checkpoint

DESTS = json.loads((Path(__file__).parent / "data" / "sd_scripts_dests.json").read_text(encoding="utf-8"))
NOW = 1_700_000_000.0


def known_dests(sdxl: bool) -> dict[str, str]:
    merged: dict[str, str] = {}
    for group in DESTS["train_network"].values():
        merged.update(group)
    if sdxl:
        for group in DESTS["sdxl_train_network_extra"].values():
            merged.update(group)
    return merged


def assert_real_sd_scripts_args(toml_args: dict, sdxl: bool, family: str = "v0.10") -> None:
    """The dests file was read from main (v0.10); older families differ only where FAMILY_ARGS says so."""
    dests = known_dests(sdxl)
    if family != "v0.10":
        dests.update({k: spec.kind for k, spec in FAMILY_ARGS[family].items() if spec is not None})
    python_type = {"str": str, "int": int, "float": float, "flag": bool, "str_list": list, "float_list": list,
                   "int_or_ratio": (int, float)}  # fmt: skip
    for key, value in toml_args.items():
        assert key in dests, f"{key} is not an argparse dest of the sd-scripts training parser"
        expected = python_type[dests[key]]
        assert isinstance(value, expected) and (expected is bool or not isinstance(value, bool)), (key, value)
        if key in DESTS["choices"]:
            assert value in DESTS["choices"][key], (key, value)


def test_sd15_golden(fake_sd, env_full, dataset, sd15, tmp_path):
    job = plan_training(dataset, sd15, sd=fake_sd, env=env_full, output_root=tmp_path / "loras", now=NOW)
    out = (tmp_path / "loras" / "inkwash").resolve()
    stamp = Path(job.config_path).stem.split("-", 1)[1]
    assert job.toml_args == {
        "pretrained_model_name_or_path": str(sd15.resolve()),
        "train_data_dir": str((dataset / "img").resolve()),
        "output_dir": str(out),
        "output_name": "inkwash",
        "save_model_as": "safetensors",
        "save_precision": "fp16",
        "mixed_precision": "fp16",
        "network_module": "networks.lora",
        "network_dim": 32,
        "network_alpha": 16.0,
        "learning_rate": 1e-4,
        "lr_scheduler": "constant",
        "optimizer_type": "AdamW8bit",
        "train_batch_size": 1,
        "max_train_epochs": 20,
        "save_every_n_epochs": 1,
        "resolution": "512,512",
        "caption_extension": ".txt",
        "seed": 42,
        "max_data_loader_n_workers": 1,
        "tokenizer_cache_dir": str(DEFAULT_TOKENIZER_DIR.resolve()),
        "console_log_simple": True,
        "training_comment": "StyleMix style 'inkwash'",
        "cache_latents": True,
        "enable_bucket": True,
        "bucket_no_upscale": True,
        "sdpa": True,
    }
    assert job.command == [
        str(fake_sd.python), "-m", "accelerate.commands.launch",
        "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "fp16",
        "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1",
        str(fake_sd.root / "train_network.py"), "--config_file", str(out / "config" / f"inkwash-{stamp}.toml"),
    ]  # fmt: skip
    assert job.cwd == str(fake_sd.root)
    assert job.env == {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "ACCELERATE_DISABLE_RICH": "1"}
    assert tomllib.loads(job.config_text) == job.toml_args
    assert job.final_file == str(out / "inkwash.safetensors")
    assert len(job.expected_files) == 20 and job.expected_files[0] == str(out / "inkwash-000001.safetensors")
    assert job.log_path == str(out / "logs" / f"inkwash-{stamp}.log")
    assert_real_sd_scripts_args(job.toml_args, sdxl=False)
    launcher_flags = [part for part in job.command if part.startswith("--") and part != "--config_file"]
    assert launcher_flags == DESTS["accelerate_launch_flags"]["flags"]


def test_sdxl_golden(fake_sd, env_plain, dataset, sdxl, tmp_path):
    job = plan_training(dataset, sdxl, sd=fake_sd, env=env_plain, output_root=tmp_path / "loras", style="Ink Wash!")
    assert job.arch == "sdxl" and job.slug == "ink_wash"
    assert job.script == str(fake_sd.root / "sdxl_train_network.py")
    assert job.command == [str(fake_sd.python), job.script, "--config_file", job.config_path]
    args = job.toml_args
    assert args["resolution"] == "1024,1024"
    assert args["optimizer_type"] == "AdamW"
    for flag in ("gradient_checkpointing", "network_train_unet_only", "cache_text_encoder_outputs", "no_half_vae"):
        assert args[flag] is True
    assert "v2" not in args
    assert_real_sd_scripts_args(args, sdxl=True)
    # unet-only fp16 rank 32: 2,659,840 params per rank * 32 * 2 bytes (+1 MiB) per file, 20 files
    assert job.estimated_bytes == 20 * (2_659_840 * 32 * 2 + 1024 * 1024)
    assert job.bytes_per_file == 2_659_840 * 32 * 2 + 1024 * 1024


def test_sd2_sets_v2_and_sdxl_only_keys_are_refused_for_sd1(fake_sd, env_plain, dataset, tmp_path):
    sd2 = make_checkpoint(tmp_path / "sd21.safetensors", "sd2")
    job = plan_training(dataset, sd2, sd=fake_sd, env=env_plain, output_root=tmp_path / "o")
    assert job.toml_args["v2"] is True and job.script.endswith("/train_network.py")
    assert_real_sd_scripts_args(job.toml_args, sdxl=False)
    settings = apply_overrides(TrainSettings(), ["cache_text_encoder_outputs=true"])
    with pytest.raises(StyleMixError, match=r"only exists in sdxl_train_network\.py"):
        plan_training(dataset, sd2, sd=fake_sd, env=env_plain, output_root=tmp_path / "o", settings=settings)


def test_overrides_reach_the_toml_with_argparse_types(fake_sd, env_plain, dataset, sd15, tmp_path):
    settings = apply_overrides(
        TrainSettings(),
        [
            "max_train_epochs=10",
            "save_every_n_epochs=5",
            "resolution=768",
            "network_alpha=8",
            "optimizer_type=Prodigy",
            "--noise-offset=0.05",
            "network_args=conv_dim=8 conv_alpha=4",
            "text_encoder_lr=5e-5",
            "use_accelerate=true",
            "shuffle_caption=yes",
        ],
    )
    job = plan_training(dataset, sd15, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "o")
    args = job.toml_args
    assert args["max_train_epochs"] == 10 and args["resolution"] == "768,768" and args["network_alpha"] == 8.0
    assert args["optimizer_type"] == "Prodigy" and args["noise_offset"] == 0.05 and args["shuffle_caption"] is True
    # the stand-in checkout reads as the default family, v0.9.x: one float (a list kills v0.9.1 at step 1)
    assert args["network_args"] == ["conv_dim=8", "conv_alpha=4"] and args["text_encoder_lr"] == 5e-5
    assert job.command[1:3] == ["-m", "accelerate.commands.launch"]
    assert [Path(p).name for p in job.expected_files] == ["inkwash-000005.safetensors", "inkwash.safetensors"]
    assert_real_sd_scripts_args(args, sdxl=False, family="v0.9")


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("max_train_epocs=3", "not a StyleMix setting or a known sd-scripts option"),
        ("output_dir=/tmp/x", "set by StyleMix itself"),
        ("network_dim=big", "expected int"),
        ("cache_latents=maybe", "expected true or false"),
        ("novalue", "expected key=value"),
    ],
)
def test_bad_overrides_are_refused(pair, message):
    with pytest.raises(StyleMixError, match=message):
        apply_overrides(TrainSettings(), [pair])


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["mixed_precision=fp32"], "must be one of no, fp16, bf16"),
        (["color_aug=true"], "cache_latents cannot be combined with color_aug"),
        (["max_train_epochs=0"], "max_train_epochs must be at least 1"),
        (["network_train_unet_only=true", "network_train_text_encoder_only=true"], "exclude each other"),
    ],
)
def test_impossible_combinations_fail_at_plan_time(fake_sd, env_plain, dataset, sd15, tmp_path, pairs, message):
    settings = apply_overrides(TrainSettings(), pairs)
    with pytest.raises(StyleMixError, match=message):
        plan_training(dataset, sd15, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "o")


def test_sdxl_caption_shuffle_drops_text_encoder_caching(fake_sd, env_plain, dataset, sdxl, tmp_path):
    settings = apply_overrides(TrainSettings(), ["shuffle_caption=true"])
    job = plan_training(dataset, sdxl, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "o")
    assert "cache_text_encoder_outputs" not in job.toml_args and job.toml_args["shuffle_caption"] is True


def test_sample_prompts_from_descriptions(fake_sd, env_plain, dataset, sd15, tmp_path):
    settings = apply_overrides(TrainSettings(), ["sample_count=2"])
    job = plan_training(dataset, sd15, sd=fake_sd, env=env_plain, settings=settings, output_root=tmp_path / "o")
    assert job.toml_args["sample_prompts"] == job.sample_prompts_path
    assert job.toml_args["sample_every_n_epochs"] == 1 and job.toml_args["sample_sampler"] == "euler_a"
    lines = job.sample_prompts_text.splitlines()
    assert lines[0].startswith("a small square number 0, inkwash style --n ")
    assert "--w 512 --h 512 --d 42" in lines[0] and "--d 43" in lines[1]
    text = build_sample_prompts(["# odd -- caption"], 1, 512, 1)
    assert text.startswith("odd - caption --n")


def test_expected_outputs_follow_sd_scripts_naming(tmp_path):
    names = [p.name for p in expected_outputs(tmp_path, "s", "safetensors", 4, 1)]
    assert names == ["s-000001.safetensors", "s-000002.safetensors", "s-000003.safetensors", "s.safetensors"]
    assert [p.name for p in expected_outputs(tmp_path, "s", "safetensors", 4, None)] == ["s.safetensors"]


def test_job_roundtrips_through_json(fake_sd, env_plain, dataset, sd15, tmp_path):
    job = plan_training(dataset, sd15, sd=fake_sd, env=env_plain, output_root=tmp_path / "o")
    again = TrainJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job
    with pytest.raises(StyleMixError, match="missing"):
        TrainJob.from_dict({"style": "x"})


def test_slugify():
    assert slugify("  Ink Wash / Sumi-e ") == "ink_wash_sumi_e"
    assert slugify("Hokusai (北斎)") == "hokusai" and slugify("claude_monet") == "claude_monet"
    with pytest.raises(StyleMixError, match="no ASCII letters or digits"):
        slugify("北斎")


def test_optimizer_and_launcher_follow_the_probe(fake_sd, dataset, sd15, tmp_path):
    """Without an explicit env the plan asks sd-scripts' Python (here: ours, which has no accelerate)."""
    job = plan_training(dataset, sd15, sd=fake_sd, output_root=tmp_path / "o")
    assert job.command[1] == str(fake_sd.root / "train_network.py")  # plain python: accelerate not installed
    assert job.toml_args["optimizer_type"] == "AdamW"
