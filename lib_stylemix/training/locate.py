"""Finding, checking and installing the pinned sd-scripts that StyleMix drives as a separate program.

sd-scripts runs in its own venv and is never imported into our process: its pins (torch, transformers,
diffusers, accelerate) clash with the webui's, and importing it in-process is the main failure mode of other
training extensions. So everything here works on paths and child processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lib_stylemix.errors import StyleMixError

ENV_VAR = "STYLEMIX_SD_SCRIPTS"
DEFAULT_REF = "v0.9.1"
REPO_URL = "https://github.com/kohya-ss/sd-scripts.git"
# torch builds matching each pinned ref's README (requirements.txt leaves torch to the user).
TORCH_FOR_REF = {"v0.9.1": ("torch==2.1.2", "torchvision==0.16.2"), "v0.8.7": ("torch==2.1.2", "torchvision==0.16.2")}
TRAIN_SCRIPTS = {"sd1": "train_network.py", "sd2": "train_network.py", "sdxl": "sdxl_train_network.py"}

# Run by sd-scripts' own Python: versions come from package metadata (cheap); bitsandbytes is really imported,
# because an installed-but-broken bitsandbytes (no CUDA libs) is common and AdamW8bit would then crash.
_PROBE = r"""
import json, sys
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except Exception:
        return None
info = {"python": sys.version.split()[0], "torch": version("torch"), "accelerate": version("accelerate"),
        "diffusers": version("diffusers"), "transformers": version("transformers"),
        "bitsandbytes_version": version("bitsandbytes"), "bitsandbytes": False}
if info["bitsandbytes_version"]:
    try:
        import bitsandbytes  # noqa: F401
        info["bitsandbytes"] = True
    except Exception as exc:
        info["bitsandbytes_error"] = f"{type(exc).__name__}: {exc}"[:300]
print("STYLEMIX_PROBE " + json.dumps(info))
"""


@dataclass(frozen=True)
class SdScripts:
    """A located sd-scripts checkout and the Python that runs it; `source` says which rule found it."""

    root: Path
    python: Path
    source: str

    def script(self, arch: str) -> Path:
        return self.root / TRAIN_SCRIPTS[arch]


@dataclass
class EnvInfo:
    """What sd-scripts' Python has installed (None = not installed)."""

    python: str
    torch: str | None = None
    accelerate: str | None = None
    diffusers: str | None = None
    transformers: str | None = None
    bitsandbytes: bool = False
    bitsandbytes_version: str | None = None
    bitsandbytes_error: str | None = None


@dataclass
class CheckReport:
    """Result of `check_sd_scripts`: `problems` is empty when training can run."""

    root: str
    python: str
    source: str
    env: EnvInfo | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def venv_python(venv: Path, *, windows: bool = os.name == "nt") -> Path:
    """The interpreter inside a venv folder (`Scripts/python.exe` on Windows, `bin/python` elsewhere)."""
    return venv / "Scripts" / "python.exe" if windows else venv / "bin" / "python"


def locate_sd_scripts(
    explicit: str | os.PathLike[str] | None = None,
    setting: str | os.PathLike[str] | None = None,
    extension_dir: str | os.PathLike[str] | None = None,
    python_setting: str | os.PathLike[str] | None = None,
) -> SdScripts:
    """Find sd-scripts: explicit argument, then $STYLEMIX_SD_SCRIPTS, then the extension setting, then
    `<extension>/sd-scripts`. Its Python is `<sd-scripts>/venv` if present, else `python_setting`."""
    candidates: list[tuple[str, str | os.PathLike[str] | None]] = [
        ("argument", explicit),
        (f"${ENV_VAR}", os.environ.get(ENV_VAR) or None),
        ("setting", setting),
        ("extension folder", Path(extension_dir) / "sd-scripts" if extension_dir else None),
    ]
    tried = []
    for source, value in candidates:
        if not value:
            continue
        root = Path(value).expanduser()
        if source != "extension folder" and not root.is_dir():
            raise StyleMixError(f"{root}: sd-scripts folder (from {source}) does not exist")
        if not root.is_dir():
            tried.append(str(root))
            continue
        return SdScripts(root=root.resolve(), python=_pick_python(root, python_setting), source=source)
    hint = f" (looked in {', '.join(tried)})" if tried else ""
    raise StyleMixError(
        f"sd-scripts not found{hint}: pass --sd-scripts DIR, set ${ENV_VAR}, "
        "or install it with `python -m lib_stylemix sd-scripts setup DIR`"
    )


def _pick_python(root: Path, python_setting: str | os.PathLike[str] | None) -> Path:
    for venv_name in ("venv", ".venv"):
        candidate = venv_python(root / venv_name)
        if candidate.exists():
            return candidate
    if python_setting:
        return Path(python_setting)
    raise StyleMixError(
        f"{root}: has no venv/ (expected {venv_python(root / 'venv')}); create it with "
        "`python -m lib_stylemix sd-scripts setup` or set the sd-scripts Python in the settings"
    )


def probe_environment(sd: SdScripts, *, timeout: float = 180.0) -> EnvInfo:
    """Ask sd-scripts' Python what it has; raises StyleMixError with the reason when it does not run."""
    try:
        proc = subprocess.run(
            [str(sd.python), "-c", _PROBE],
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


def check_sd_scripts(sd: SdScripts, *, env: EnvInfo | None = None) -> CheckReport:
    """Verify the folder has both training scripts, its Python runs, and what it can use."""
    report = CheckReport(root=str(sd.root), python=str(sd.python), source=sd.source)
    for name in sorted(set(TRAIN_SCRIPTS.values())):
        if not (sd.root / name).is_file():
            report.problems.append(f"{sd.root / name}: missing (is this a kohya-ss/sd-scripts checkout?)")
    if not (sd.root / "library" / "train_util.py").is_file():
        report.problems.append(f"{sd.root / 'library' / 'train_util.py'}: missing (incomplete checkout)")
    try:
        report.env = env or probe_environment(sd)
    except StyleMixError as exc:
        report.problems.append(str(exc))
        return report
    if report.env.torch is None:
        report.problems.append(f"{sd.python}: torch is not installed in sd-scripts' venv")
    missing = [name for name in ("diffusers", "transformers") if getattr(report.env, name) is None]
    if missing:
        report.problems.append(
            f"{sd.python}: {' and '.join(missing)} not installed (run: pip install -r requirements.txt in {sd.root})"
        )
    if report.env.accelerate is None:
        report.notes.append("accelerate not installed: training will run with plain python (single GPU)")
    if report.env.bitsandbytes:
        report.notes.append("bitsandbytes works: default optimizer AdamW8bit")
    elif report.env.bitsandbytes_error:
        report.notes.append(f"bitsandbytes fails to import ({report.env.bitsandbytes_error}): optimizer AdamW")
    else:
        report.notes.append("bitsandbytes not installed: default optimizer AdamW")
    return report


def setup_commands(
    target: Path, *, ref: str = DEFAULT_REF, base_python: str | None = None, torch_index: str | None = None
) -> list[list[str]]:
    """The commands `sd-scripts setup` runs, in order (kept pure so tests can check them without a network).

    requirements.txt does not pin torch, so torch/torchvision come first (from `torch_index` when given, for a
    CUDA build); requirements.txt itself installs accelerate, bitsandbytes and sd-scripts' `library` (`-e .`).
    """
    python = str(venv_python(target / "venv"))
    torch_install = [python, "-m", "pip", "install", *TORCH_FOR_REF.get(ref, ("torch", "torchvision"))]
    if torch_index:
        torch_install += ["--index-url", torch_index]
    return [
        ["git", "clone", "--depth", "1", "--branch", ref, REPO_URL, str(target)],
        [base_python or sys.executable, "-m", "venv", str(target / "venv")],
        [python, "-m", "pip", "install", "--upgrade", "pip"],
        torch_install,
        [python, "-m", "pip", "install", "-r", "requirements.txt"],
        [python, "-m", "pip", "install", "accelerate"],
    ]


def run_setup(target: Path, commands: list[list[str]], *, echo=print) -> None:
    """Run the setup commands (network needed); pip runs with cwd=target so `-r requirements.txt` resolves."""
    if target.exists() and any(target.iterdir()):
        raise StyleMixError(f"{target}: already exists and is not empty (choose a new folder)")
    for index, command in enumerate(commands):
        echo("$ " + " ".join(command))
        cwd = str(target) if index >= 2 else None
        try:
            code = subprocess.call(command, cwd=cwd)
        except FileNotFoundError:
            raise StyleMixError(f"{command[0]}: not found (needed for sd-scripts setup)") from None
        if code != 0:
            raise StyleMixError(f"sd-scripts setup step failed (exit {code}): {' '.join(command)}")
