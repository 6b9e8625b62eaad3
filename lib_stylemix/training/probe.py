"""Asking sd-scripts' own Python whether training can really run there, and saying why not.

A version list is not enough: v0.9.1 installed with numpy 2 has every package yet `import cv2` fails; an
installed bitsandbytes without GPU support imports with a warning and AdamW8bit then dies at step 1; a CPU-only
torch makes the default fp16 fail after minutes of model loading. So the probe imports sd-scripts' own
`library.train_util` (deep check), asks torch for CUDA and runs one real 8-bit optimizer step on the GPU.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.locate import TRAIN_SCRIPTS, SdScripts

# Run by sd-scripts' Python with cwd = the sd-scripts folder. Prints one JSON line; never raises.
_PROBE = r"""
import json, os, sys
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except Exception:
        return None
def short(exc):
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
info = {"python": sys.version.split()[0]}
for key, dist in (("torch", "torch"), ("accelerate", "accelerate"), ("diffusers", "diffusers"),
                  ("transformers", "transformers"), ("bitsandbytes_version", "bitsandbytes"), ("numpy", "numpy"),
                  ("opencv", "opencv-python")):
    info[key] = version(dist)
if info["torch"]:
    try:
        import torch
        info["cuda"] = bool(torch.cuda.is_available())
        if info["cuda"]:
            info["cuda_device"] = torch.cuda.get_device_name(0)
    except Exception as exc:
        info["torch_error"] = short(exc)
if info["bitsandbytes_version"]:
    try:
        import bitsandbytes
        info["bitsandbytes"] = True
        if info.get("cuda"):
            import torch
            weight = torch.nn.Parameter(torch.zeros(8192, device="cuda"))
            weight.grad = torch.ones_like(weight)
            bitsandbytes.optim.AdamW8bit([weight]).step()
            torch.cuda.synchronize()
            info["bitsandbytes_gpu"] = True
    except Exception as exc:
        info["bitsandbytes_error"] = short(exc)
if "--deep" in sys.argv:
    sys.path.insert(0, os.getcwd())
    try:
        import library.train_util  # noqa: F401
        info["sd_scripts_import"] = True
    except BaseException as exc:
        info["sd_scripts_import"] = False
        info["sd_scripts_import_error"] = short(exc)
print("STYLEMIX_PROBE " + json.dumps(info))
"""

# Peak memory of a LoRA training at the default settings (512 px SD1/SD2, 1024 px SDXL, batch 1). On CPU the
# whole model is fp32 in RAM; the SD1.5 CPU figure was seen in a real run, the others are scaled by model size.
_RAM_GB = {"cpu": {"sd1": 6.5, "sd2": 7.5, "sdxl": 24.0}, "cuda": {"sd1": 4.0, "sd2": 5.0, "sdxl": 12.0}}
_VRAM_GB = {"sd1": 6.0, "sd2": 7.0, "sdxl": 12.0}


def memory_need(arch: str, cuda: bool | None) -> str:
    """One line stating the RAM (and VRAM) a training needs, shown before it starts."""
    gpu = f"about {_RAM_GB['cuda'][arch]:g} GB RAM and {_VRAM_GB[arch]:g} GB GPU memory"
    if cuda:
        return f"needs {gpu}"
    if cuda is None:
        return f"needs {gpu} with CUDA, or about {_RAM_GB['cpu'][arch]:g} GB free RAM on the CPU"
    return f"runs on the CPU (no CUDA): needs about {_RAM_GB['cpu'][arch]:g} GB free RAM and is very slow"


def ram_need_gb(arch: str, cuda: bool | None) -> float:
    return _RAM_GB["cuda" if cuda else "cpu"][arch]


@dataclass
class EnvInfo:
    """What sd-scripts' Python has (None = not installed / not known)."""

    python: str
    torch: str | None = None
    accelerate: str | None = None
    diffusers: str | None = None
    transformers: str | None = None
    numpy: str | None = None
    opencv: str | None = None
    cuda: bool | None = None
    cuda_device: str | None = None
    torch_error: str | None = None
    bitsandbytes: bool = False  # imports
    bitsandbytes_gpu: bool = False  # a real 8-bit optimizer step ran on the GPU
    bitsandbytes_version: str | None = None
    bitsandbytes_error: str | None = None
    sd_scripts_import: bool | None = None  # None: not tried
    sd_scripts_import_error: str | None = None


@dataclass
class CheckReport:
    """Result of `check_sd_scripts`: `problems` is empty when training can run."""

    root: str
    python: str
    source: str
    version: str = "unknown"
    family: str = ""
    env: EnvInfo | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def probe_environment(sd: SdScripts, *, deep: bool = False, timeout: float = 300.0) -> EnvInfo:
    """Ask sd-scripts' Python what it has; `deep` also imports sd-scripts' `library.train_util`."""
    command = [str(sd.python), "-c", _PROBE, *(["--deep"] if deep else [])]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            cwd=str(sd.root),
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise StyleMixError(f"{sd.python}: sd-scripts' Python does not exist") from None
    except PermissionError:
        raise StyleMixError(f"{sd.python}: sd-scripts' Python is not executable") from None
    except subprocess.TimeoutExpired:
        raise StyleMixError(f"{sd.python}: did not answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise StyleMixError(f"{sd.python}: cannot run ({exc})") from None
    for line in proc.stdout.splitlines():
        if line.startswith("STYLEMIX_PROBE "):
            data = json.loads(line[len("STYLEMIX_PROBE ") :])
            return EnvInfo(**{k: v for k, v in data.items() if k in EnvInfo.__dataclass_fields__})
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise StyleMixError(f"{sd.python}: failed to run (exit {proc.returncode}): {' | '.join(tail) or 'no output'}")


def import_hint(error: str, env: EnvInfo) -> str:
    """What to do about a failed `import library.train_util`."""
    major = (env.numpy or "0").split(".")[0]
    if ("cv2" in error or "numpy" in error.lower()) and major.isdigit() and int(major) >= 2:
        return f"numpy {env.numpy} is too new for opencv {env.opencv or '?'}: run pip install \"numpy<2\" in the venv"
    if "No module named" in error:
        return "a requirement is missing: run pip install -r requirements.txt in the sd-scripts folder"
    return "see the error; reinstall with `sd-scripts setup`"


def check_sd_scripts(sd: SdScripts, *, env: EnvInfo | None = None) -> CheckReport:
    """Verify the folder has both training scripts, its Python runs and imports sd-scripts, and what it can use."""
    report = CheckReport(root=str(sd.root), python=str(sd.python), source=sd.source, version=sd.version,
                         family=sd.family)  # fmt: skip
    for name in sorted(set(TRAIN_SCRIPTS.values())):
        if not (sd.root / name).is_file():
            report.problems.append(f"{sd.root / name}: missing (is this a kohya-ss/sd-scripts checkout?)")
    if not (sd.root / "library" / "train_util.py").is_file():
        report.problems.append(f"{sd.root / 'library' / 'train_util.py'}: missing (incomplete checkout)")
    try:
        report.env = env or probe_environment(sd, deep=True)
    except StyleMixError as exc:
        report.problems.append(str(exc))
        return report
    _judge_env(report, sd, report.env)
    return report


def _judge_env(report: CheckReport, sd: SdScripts, env: EnvInfo) -> None:
    if env.torch is None:
        report.problems.append(f"{sd.python}: torch is not installed in sd-scripts' venv")
    elif env.torch_error:
        report.problems.append(f"{sd.python}: torch fails to import ({env.torch_error})")
    missing = [name for name in ("diffusers", "transformers") if getattr(env, name) is None]
    if missing:
        report.problems.append(
            f"{sd.python}: {' and '.join(missing)} not installed (run: pip install -r requirements.txt in {sd.root})"
        )
    if env.sd_scripts_import is False and not missing:
        error = env.sd_scripts_import_error or "unknown error"
        report.problems.append(f"{sd.root}: `import library.train_util` fails: {error} ({import_hint(error, env)})")
    if env.accelerate is None:
        report.notes.append("accelerate not installed: training will run with plain python (single GPU)")
    if env.cuda:
        report.notes.append(f"CUDA available ({env.cuda_device or 'GPU'}): mixed precision fp16")
    elif env.torch is not None and not env.torch_error:
        report.notes.append("no CUDA: training runs on the CPU with mixed_precision=no (slow, needs a lot of RAM)")
    report.notes.append(_optimizer_note(env))


def _optimizer_note(env: EnvInfo) -> str:
    if env.bitsandbytes_gpu:
        return "bitsandbytes works on the GPU: default optimizer AdamW8bit"
    if env.bitsandbytes_error:
        return f"bitsandbytes has no working GPU support ({env.bitsandbytes_error}): default optimizer AdamW"
    if env.bitsandbytes:
        return "bitsandbytes imports but there is no GPU for it: default optimizer AdamW"
    return "bitsandbytes not installed: default optimizer AdamW"
