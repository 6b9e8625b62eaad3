"""The docs keep up with the code: docs/cli.md is generated from the parser, and relative links resolve."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_cli_reference_is_generated_from_the_parser():
    """docs/cli.md is what docs/make_cli_reference.py prints, so a new command or option shows up there."""
    spec = importlib.util.spec_from_file_location("make_cli_reference", REPO / "docs" / "make_cli_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == module.reference(), "regenerate: python docs/make_cli_reference.py > docs/cli.md"
    assert "### `stylemix merge`" in committed and "### `stylemix train queue run`" in committed


def test_relative_links_in_readme_and_docs_resolve():
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} → {target}")
    assert broken == []
