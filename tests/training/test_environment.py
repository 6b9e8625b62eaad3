"""Issue 12 items 1 and 5: `check` imports sd-scripts' own modules, and the probe tells whether training can run
(CUDA, bitsandbytes on the GPU); CPU-only runs get mixed_precision=no, no AdamW8bit and a stated RAM need."""

from __future__ import annotations

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.probe import EnvInfo, check_sd_scripts, import_hint, memory_need, probe_environment
from tests.training.conftest import add_dist_info, add_stub_bitsandbytes


def test_check_reports_the_real_import_error_of_sd_scripts(fake_sd, fake_env):
    """v0.9.1 with numpy 2: every package is there, but `import cv2` inside library.train_util fails."""
    fake_env()
    add_dist_info(fake_sd.root / "venv" / "fake-site", "numpy", "2.1.3")
    add_dist_info(fake_sd.root / "venv" / "fake-site", "opencv-python", "4.8.1.78")
    (fake_sd.root / "library" / "train_util.py").write_text(
        'raise ImportError("numpy.core.multiarray failed to import (cv2 built against numpy 1.x)")\n'
    )
    report = check_sd_scripts(fake_sd)
    assert not report.ok
    assert report.env.sd_scripts_import is False and report.env.numpy == "2.1.3"
    (problem,) = report.problems
    assert "`import library.train_util` fails: ImportError: numpy.core.multiarray failed to import" in problem
    assert 'pip install "numpy<2"' in problem and "opencv 4.8.1.78" in problem


def test_check_imports_from_the_sd_scripts_folder(fake_sd, fake_env):
    fake_env()
    (fake_sd.root / "library" / "train_util.py").write_text("import library.strategy_base\n")
    assert "No module named 'library.strategy_base'" in check_sd_scripts(fake_sd).problems[0]
    (fake_sd.root / "library" / "strategy_base.py").write_text("VALUE = 1\n")  # found via the checkout's path
    assert check_sd_scripts(fake_sd).ok


def test_import_hint_only_blames_numpy_when_it_is_2x():
    env = EnvInfo(python="3.10", numpy="1.26.4", opencv="4.8.1.78")
    assert "requirements.txt" in import_hint("ModuleNotFoundError: No module named 'voluptuous'", env)
    assert "numpy<2" not in import_hint("ImportError: cv2", env)


@pytest.mark.parametrize(
    ("cuda", "bnb_gpu", "note"),
    [
        ("0", "0", "bitsandbytes imports but there is no GPU for it"),
        ("1", "0", "bitsandbytes has no working GPU support (RuntimeError: bitsandbytes was compiled without GPU"),
        ("1", "1", "bitsandbytes works on the GPU: default optimizer AdamW8bit"),
    ],
)
def test_probe_reports_cuda_and_whether_bitsandbytes_really_runs(fake_sd, fake_env, cuda, bnb_gpu, note):
    fake_env(FAKE_CUDA=cuda, FAKE_BNB_GPU=bnb_gpu)
    add_stub_bitsandbytes(fake_sd)
    env = probe_environment(fake_sd)
    assert env.cuda is (cuda == "1") and env.bitsandbytes is True and env.bitsandbytes_gpu is (bnb_gpu == "1")
    report = check_sd_scripts(fake_sd)
    assert report.ok and any(n.startswith(note) for n in report.notes), report.notes
    assert any(("CUDA available (Stand-in GPU)" if cuda == "1" else "no CUDA: training runs on the CPU") in n
               for n in report.notes)  # fmt: skip


def test_cpu_only_plan_picks_no_mixed_precision_and_plain_adamw(fake_sd, fake_env, dataset, sd15, tmp_path):
    fake_env(FAKE_CUDA="0")
    add_stub_bitsandbytes(fake_sd)  # imports with a warning, like a bitsandbytes without GPU support
    job = plan_training(dataset, sd15, sd=fake_sd, output_root=tmp_path / "o")
    assert job.toml_args["mixed_precision"] == "no" and job.toml_args["optimizer_type"] == "AdamW"
    assert job.device == "cpu"
    assert job.notes[0] == "SD1 training runs on the CPU (no CUDA): needs about 6.5 GB free RAM and is very slow"
    fake_env(FAKE_CUDA="1", FAKE_BNB_GPU="1")
    job = plan_training(dataset, sd15, sd=fake_sd, output_root=tmp_path / "o")
    assert job.toml_args["mixed_precision"] == "fp16" and job.toml_args["optimizer_type"] == "AdamW8bit"
    assert job.device == "cuda" and "GB GPU memory" in job.notes[0]
    if "--mixed_precision" in job.command:
        assert job.command[job.command.index("--mixed_precision") + 1] == "fp16"


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("mixed_precision=fp16", "mixed_precision=fp16 needs a CUDA GPU"),
        ("optimizer_type=AdamW8bit", "optimizer_type=AdamW8bit: there is no CUDA GPU; use AdamW"),
    ],
)
def test_cpu_only_refuses_what_cannot_run_there(fake_sd, env_cpu, dataset, sd15, tmp_path, pair, message):
    settings = apply_overrides(TrainSettings(), [pair])
    with pytest.raises(StyleMixError, match=message):
        plan_training(dataset, sd15, sd=fake_sd, env=env_cpu, settings=settings, output_root=tmp_path / "o")


def test_cpu_plan_with_accelerate_passes_no_to_the_launcher(fake_sd, env_cpu, dataset, sd15, tmp_path):
    job = plan_training(dataset, sd15, sd=fake_sd, env=env_cpu, output_root=tmp_path / "o")
    assert job.command[job.command.index("--mixed_precision") + 1] == "no"
    assert job.toml_args["mixed_precision"] == "no"


def test_memory_need_is_stated_per_architecture():
    assert memory_need("sd1", False).endswith("needs about 6.5 GB free RAM and is very slow")
    assert "24 GB" in memory_need("sdxl", False)
    assert "with CUDA, or about 6.5 GB free RAM on the CPU" in memory_need("sd1", None)
