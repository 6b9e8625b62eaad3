"""Finding the sd-scripts checkout StyleMix drives as a separate program, its Python, and its release family.

sd-scripts runs in its own venv and is never imported into our process: its pins (torch, transformers,
diffusers, accelerate) clash with the webui's, and importing it in-process is the main failure mode of other
training extensions. So everything here works on paths and child processes.

Paths are made absolute once, here, against the current folder: the trainer runs with the sd-scripts folder as
its working directory, where a relative path (root or Python) would mean something else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.sd_args import DEFAULT_FAMILY

ENV_VAR = "STYLEMIX_SD_SCRIPTS"
DEFAULT_REF = "v0.9.1"
REPO_URL = "https://github.com/kohya-ss/sd-scripts.git"
TRAIN_SCRIPTS = {"sd1": "train_network.py", "sd2": "train_network.py", "sdxl": "sdxl_train_network.py"}
# The folder holding lib_stylemix/ (the extension folder inside the webui): lookup rule 4 and our data.
EXTENSION_DIR = Path(__file__).resolve().parents[2]
DEFAULT_TOKENIZER_DIR = EXTENSION_DIR / "data" / "tokenizer-cache"
SETUP_MARKER = ".stylemix-setup.json"
DEFAULT_HOW_TO_SET = (
    "pass --sd-scripts DIR, set ${env}, or install it with `python -m lib_stylemix sd-scripts setup DIR`"
)

_TE_LR_ARG = re.compile(r"""["']--text_encoder_lr["'](?P<body>[^)]*)\)""")
_WARMUP_RATIO = re.compile(r"""["']--lr_warmup_steps["']\s*,\s*type\s*=\s*int_or_float""")


@dataclass(frozen=True)
class SdScripts:
    """A located sd-scripts checkout and the Python that runs it; `source` says which rule found it.

    `family` (v0.8 | v0.9 | v0.10) picks the option table; `version` is a label for messages."""

    root: Path
    python: Path
    source: str
    version: str = "unknown"
    family: str = DEFAULT_FAMILY

    def script(self, arch: str) -> Path:
        return self.root / TRAIN_SCRIPTS[arch]


def venv_python(venv: Path, *, windows: bool = os.name == "nt") -> Path:
    """The interpreter inside a venv folder (`Scripts/python.exe` on Windows, `bin/python` elsewhere)."""
    return venv / "Scripts" / "python.exe" if windows else venv / "bin" / "python"


def absolute(path: str | os.PathLike[str]) -> Path:
    """Absolute against the current folder, symlinks kept (a venv's python is a symlink that must stay one)."""
    return Path(os.path.abspath(Path(path).expanduser()))


def locate_sd_scripts(
    explicit: str | os.PathLike[str] | None = None,
    setting: str | os.PathLike[str] | None = None,
    extension_dir: str | os.PathLike[str] | None = None,
    python_setting: str | os.PathLike[str] | None = None,
    how_to_set: str | None = None,
) -> SdScripts:
    """Find sd-scripts: explicit argument, then $STYLEMIX_SD_SCRIPTS, then the extension setting, then
    `<extension>/sd-scripts`. Its Python is `<sd-scripts>/venv` if present, else `python_setting`.

    `how_to_set` is the "not found" advice (the panel names its own field; the CLI its flag)."""
    ext = Path(extension_dir) if extension_dir else EXTENSION_DIR
    candidates: list[tuple[str, str | os.PathLike[str] | None]] = [
        ("argument", explicit),
        (f"${ENV_VAR}", os.environ.get(ENV_VAR) or None),
        ("setting", setting),
        ("extension folder", ext / "sd-scripts"),
    ]
    tried = []
    for source, value in candidates:
        if not value:
            continue
        root = absolute(value)
        if source != "extension folder" and not root.is_dir():
            raise StyleMixError(f"{root}: sd-scripts folder (from {source}) does not exist")
        if not root.is_dir():
            tried.append(str(root))
            continue
        root = root.resolve()
        version, family = detect_version(root)
        python = _pick_python(root, python_setting)
        return SdScripts(root=root, python=python, source=source, version=version, family=family)
    hint = f" (looked in {', '.join(tried)})" if tried else ""
    advice = how_to_set or DEFAULT_HOW_TO_SET.replace("{env}", ENV_VAR)
    raise StyleMixError(f"sd-scripts not found{hint}: {advice}")


def _pick_python(root: Path, python_setting: str | os.PathLike[str] | None) -> Path:
    for venv_name in ("venv", ".venv"):
        candidate = venv_python(root / venv_name)
        if candidate.exists():
            return candidate
    if python_setting:
        text = str(python_setting)
        if os.sep not in text and "/" not in text:
            found = shutil.which(text)  # a bare command name such as "python3.10"
            if found:
                return absolute(found)
        return absolute(text)
    raise StyleMixError(
        f"{root}: has no venv/ (expected {venv_python(root / 'venv')}); create it with "
        "`python -m lib_stylemix sd-scripts setup` or set the sd-scripts Python in the settings"
    )


def family_from_sources(train_network: str, train_util: str) -> str:
    """The release family from sd-scripts' own argument definitions (checkouts without git metadata too).

    v0.10 made `--text_encoder_lr` a list (`nargs`); v0.9.0 made `--lr_warmup_steps` an `int_or_float`."""
    match = _TE_LR_ARG.search(train_network)
    if match and "nargs" in match.group("body"):
        return "v0.10"
    if _WARMUP_RATIO.search(train_util):
        return "v0.9"
    if match and "--lr_warmup_steps" in train_util:
        return "v0.8"
    return DEFAULT_FAMILY


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def detect_version(root: Path) -> tuple[str, str]:
    """(label, family) of a checkout: label from git or our setup marker, family from the source."""
    family = family_from_sources(_read(root / "train_network.py"), _read(root / "library" / "train_util.py"))
    label = _git_describe(root) or _marker_ref(root) or "unknown"
    return label, family


def _marker_ref(root: Path) -> str | None:
    try:
        data = json.loads((root / SETUP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ref = data.get("ref") if isinstance(data, dict) else None
    return str(ref) if ref else None


def _git_describe(root: Path) -> str | None:
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "describe", "--tags", "--always"],
            capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None
