"""The wheel `pip install .` builds: only the library plus its data, and a `stylemix` console script.

Built offline (`--no-deps --no-build-isolation`, with the setuptools requirements-dev.txt installs) from a copy of the
source tree, so the repository gets no build/ or egg-info litter.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "lib_stylemix", src / "lib_stylemix",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("tests", "bench", "scripts", "docs", "javascript"):  # present in a clone; must stay out
        (src / name).mkdir()
        (src / name / "__init__.py").write_text("")
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(out.glob("stylemix-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_every_library_module_and_nothing_else(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "lib_stylemix").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources <= names, sorted(sources - names)
    tops = {name.split("/")[0] for name in names}
    assert "lib_stylemix" in tops
    assert all(top.endswith(".dist-info") for top in tops - {"lib_stylemix"}), tops
    assert "lib_stylemix/lora/data/sd15_lora_modules.json" in names
    assert "lib_stylemix/lora/data/sdxl_lora_modules.json" in names


def test_wheel_declares_the_console_script_and_no_torch(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
    entry_points = configparser.ConfigParser()
    entry_points.read_string(archive.read(info).decode())
    assert entry_points["console_scripts"]["stylemix"] == "lib_stylemix.cli:main"
    metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any(r.startswith("numpy") for r in requires)
    # torch only behind an extra: a bare torch requirement would pull a multi-GB CUDA build
    assert all("extra ==" in r for r in requires if r.startswith("torch")), requires


def test_console_script_target_runs_help() -> None:
    """What the `stylemix` script calls: `lib_stylemix.cli:main`, exiting 0 on --help with usage on stdout."""
    result = subprocess.run([sys.executable, "-c", "import sys; from lib_stylemix.cli import main; "
                             "sys.exit(main(['--help']))"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and "merge" in result.stdout
