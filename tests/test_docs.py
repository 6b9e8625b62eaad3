"""The docs keep up with the code: every command has an entry in docs/cli.md, and relative links resolve."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from lib_stylemix.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += leaf_commands(sub, (*path, name))
    return found or [" ".join(path)]


def test_every_command_has_a_synopsis_in_the_cli_reference():
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in leaf_commands(build_parser()) if f"### `stylemix {c}`" not in text]
    assert missing == [], "add these to docs/cli.md (synopsis from `stylemix … --help`)"


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
