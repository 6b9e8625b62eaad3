"""Installing sd-scripts into its own venv: from git, or from a local checkout or archive (`--from`).

requirements.txt leaves torch to the user, so torch comes first. On Linux the PyPI torch wheel *is* the CUDA
build (a multi-GB download with the NVIDIA libraries); `torch="cpu"` takes the CPU-only index instead, and
`torch="existing"` builds the venv on top of a Python that already has torch (no torch download).
v0.8/v0.9 pin opencv-python 4.8.1.78, which breaks on numpy 2, and nothing caps numpy: we pin numpy<2 there.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib_stylemix.errors import StyleMixError
from lib_stylemix.training.locate import DEFAULT_REF, REPO_URL, SETUP_MARKER, family_from_sources, venv_python

# torch builds matching each pinned ref's README (requirements.txt leaves torch to the user).
TORCH_FOR_FAMILY = {
    "v0.8": ("torch==2.1.2", "torchvision==0.16.2"),
    "v0.9": ("torch==2.1.2", "torchvision==0.16.2"),
    "v0.10": ("torch>=2.6.0", "torchvision"),
}
EXTRA_PINS = {"v0.8": ("numpy<2",), "v0.9": ("numpy<2",), "v0.10": ()}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CHOICES = ("pypi", "cpu", "existing")
_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class SetupPlan:
    """What `sd-scripts setup` will do; `source` is a local folder/archive, else git clone of `ref`."""

    target: Path
    ref: str = DEFAULT_REF
    source: Path | None = None
    base_python: str | None = None
    torch: str = "pypi"  # pypi | cpu | existing
    torch_index: str | None = None
    family: str = "v0.9"


def family_of_ref(ref: str) -> str:
    """Release family of a git ref name (branches such as `main` are the newest)."""
    parts = ref.lstrip("v").split(".")
    if len(parts) >= 2 and parts[0] == "0" and parts[1].isdigit():
        minor = int(parts[1])
        return "v0.8" if minor <= 8 else "v0.9" if minor == 9 else "v0.10"
    return "v0.10"


def family_of_source(source: Path) -> str:
    """Release family of a local checkout or archive, read from its argument definitions."""
    texts = {"train_network.py": "", "library/train_util.py": ""}
    if source.is_dir():
        for name in texts:
            path = source / name
            texts[name] = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    else:
        for member, data in _archive_members(source, set(texts)):
            texts[member] = data.decode("utf-8", errors="replace")
    if not texts["train_network.py"]:
        raise StyleMixError(f"{source}: has no train_network.py (not a kohya-ss/sd-scripts checkout or archive)")
    return family_from_sources(texts["train_network.py"], texts["library/train_util.py"])


def _strip_top(name: str) -> str:
    parts = name.replace("\\", "/").split("/", 1)
    return parts[1] if len(parts) == 2 else parts[0]


def _archive_members(archive: Path, wanted: set[str]) -> list[tuple[str, bytes]]:
    """(relative name, bytes) of `wanted` files, whether or not the archive has one top folder."""
    found: list[tuple[str, bytes]] = []
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                for name in handle.namelist():
                    rel = name if name in wanted else _strip_top(name)
                    if rel in wanted:
                        found.append((rel, handle.read(name)))
        else:
            with tarfile.open(archive) as handle:
                for member in handle.getmembers():
                    rel = member.name if member.name in wanted else _strip_top(member.name)
                    extracted = handle.extractfile(member) if member.isfile() and rel in wanted else None
                    if extracted is not None:
                        found.append((rel, extracted.read()))
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise StyleMixError(f"{archive}: not a readable .zip/.tar.gz archive ({exc})") from None
    return found


def torch_notice(plan: SetupPlan) -> str:
    """Say plainly what the torch step downloads."""
    wanted = " ".join(TORCH_FOR_FAMILY[plan.family])
    if plan.torch == "existing":
        return f"torch: not installed; the venv uses the torch of {plan.base_python or sys.executable}"
    if plan.torch == "cpu" or plan.torch_index == CPU_INDEX:
        return f"torch: {wanted} CPU-only build from {CPU_INDEX} (about 200 MB; training on the CPU is slow)"
    if plan.torch_index:
        return f"torch: {wanted} from {plan.torch_index}"
    return (
        f"torch: {wanted} from PyPI. On Linux this is the CUDA build: a multi-GB download (torch plus the NVIDIA "
        "CUDA libraries, about 2.5-4 GB). Use --torch cpu for the small CPU-only build or --torch existing to reuse "
        "an installed torch."
    )


def setup_commands(plan: SetupPlan) -> list[list[str]]:
    """The commands `sd-scripts setup` runs after the files are in place (pure, so tests need no network)."""
    if plan.torch not in TORCH_CHOICES:
        raise StyleMixError(f"--torch {plan.torch!r}: must be one of {', '.join(TORCH_CHOICES)}")
    python = str(venv_python(plan.target / "venv"))
    pins = list(EXTRA_PINS[plan.family])
    venv = [plan.base_python or sys.executable, "-m", "venv", str(plan.target / "venv")]
    if plan.torch == "existing":
        venv.append("--system-site-packages")
    commands = [venv, [python, "-m", "pip", "install", "--upgrade", "pip"]]
    if plan.torch != "existing":
        torch_install = [python, "-m", "pip", "install", *TORCH_FOR_FAMILY[plan.family], *pins]
        index = plan.torch_index or (CPU_INDEX if plan.torch == "cpu" else None)
        if index:
            torch_install += ["--index-url", index]
            if pins:
                torch_install += ["--extra-index-url", "https://pypi.org/simple"]
        commands.append(torch_install)
    commands.append([python, "-m", "pip", "install", "-r", "requirements.txt", *pins])
    commands.append([python, "-m", "pip", "install", "accelerate"])
    return commands


def fetch_step(plan: SetupPlan) -> list[str]:
    """The first step as a display line: git clone, or copy/extract of the local source."""
    if plan.source is None:
        return ["git", "clone", "--depth", "1", "--branch", plan.ref, REPO_URL, str(plan.target)]
    verb = "copy" if plan.source.is_dir() else "extract"
    return [verb, str(plan.source), str(plan.target)]


def place_source(source: Path, target: Path) -> None:
    """Copy a checkout folder, or extract an archive, into `target` (one top folder is stripped)."""
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("venv", ".venv", "__pycache__"))
        return
    if not source.is_file() or not source.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise StyleMixError(f"{source}: --from needs an sd-scripts folder or a .zip/.tar.gz archive")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        unpacked = Path(tmp) / "unpacked"
        try:
            _unpack(source, unpacked)
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
            raise StyleMixError(f"{source}: cannot extract ({exc})") from None
        entries = list(unpacked.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        if not (top / "train_network.py").is_file():
            raise StyleMixError(f"{source}: has no train_network.py (not an sd-scripts archive)")
        shutil.move(str(top), str(target))


def _unpack(archive: Path, into: Path) -> None:
    """Extract without letting a member escape `into` (absolute names, `..`, links, devices)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(into)  # zipfile drops absolute and `..` parts itself
        return
    with tarfile.open(archive) as handle:
        members = handle.getmembers()
        for member in members:
            parts = Path(member.name).parts
            if Path(member.name).is_absolute() or ".." in parts or not (member.isfile() or member.isdir()):
                raise StyleMixError(f"{archive}: unsafe archive member {member.name!r} (refusing to extract)")
        handle.extractall(into, members=members)  # members checked above


# torch 2.1.2 (pinned for v0.8/v0.9) has wheels for CPython 3.8-3.11 only.
MAX_PYTHON = {"v0.8": (3, 11), "v0.9": (3, 11), "v0.10": (3, 13)}


def check_base_python(plan: SetupPlan) -> None:
    """Refuse a venv Python the pinned torch has no wheels for (pip would fail minutes later)."""
    python = plan.base_python or sys.executable
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL).stdout.split()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StyleMixError(f"{python}: cannot run it to create the venv ({exc})") from None
    version = tuple(int(part) for part in out[:2]) if len(out) >= 2 and all(p.isdigit() for p in out[:2]) else None
    limit = MAX_PYTHON[plan.family]
    if version is None:
        raise StyleMixError(f"{python}: did not report its version (is it a Python interpreter?)")
    if version > limit and plan.torch != "existing":
        raise StyleMixError(
            f"{python} is Python {version[0]}.{version[1]}, but the torch that sd-scripts {plan.family}.x needs has "
            f"wheels up to Python {limit[0]}.{limit[1]}: pass --python with an older Python (e.g. python3.10)"
        )


def run_setup(plan: SetupPlan, *, echo: Callable[[str], None] = print) -> None:
    """Fetch or place the sources, then run the install commands (pip needs the network or a local index)."""
    target = plan.target
    if target.exists() and any(target.iterdir()):
        raise StyleMixError(f"{target}: already exists and is not empty (choose a new folder)")
    check_base_python(plan)
    echo(torch_notice(plan))
    first = fetch_step(plan)
    echo("$ " + shlex.join(first))
    if plan.source is None:
        _call(first, None)
    else:
        if target.exists():
            target.rmdir()
        target.parent.mkdir(parents=True, exist_ok=True)
        place_source(plan.source, target)
    marker = {"ref": plan.ref if plan.source is None else f"local:{plan.source.name}", "family": plan.family}
    (target / SETUP_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    for command in setup_commands(plan):
        echo("$ " + shlex.join(command))
        _call(command, target)


def _call(command: list[str], cwd: Path | None) -> None:
    try:
        code = subprocess.call(command, cwd=str(cwd) if cwd else None)
    except FileNotFoundError:
        raise StyleMixError(f"{command[0]}: not found (needed for sd-scripts setup)") from None
    if code != 0:
        raise StyleMixError(f"sd-scripts setup step failed (exit {code}): {' '.join(command)}")
