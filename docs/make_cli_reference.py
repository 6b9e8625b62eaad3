"""Regenerate docs/cli.md from the argparse parser: `python docs/make_cli_reference.py > docs/cli.md`.

The command table and the synopses come from the commands' own help, so the reference cannot drift from the
code; `tests/test_docs.py` fails when the committed page differs from what this prints.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_stylemix.cli import build_parser

# The docs page that explains each top-level command.
AREA = {
    "info": "lora.md", "compare": "lora.md", "merge": "lora.md", "example": "lora.md",
    "evolve": "pool.md", "demo": "pool.md",
    "dataset": "dataset.md", "canny": "dataset.md", "restyle": "restyle.md",
    "sd-scripts": "training.md", "train": "training.md",
    "science": "science.md", "ui": "ui.md",
}  # fmt: skip

HEAD = """# Command-line reference

Every command is available as `stylemix COMMAND …` (the console script `pip install .` installs) and as
`python -m lib_stylemix COMMAND …` (from a clone, or inside the webui's Python). `stylemix COMMAND --help` is the
authoritative, complete description of a command's options; this page lists the commands and their synopses and
links to the page that explains each area.

## Conventions shared by every command

- **stdout carries the result**, so `> file` and pipes capture it: tables and lists (`info`, `compare`,
  `dataset list`, `train queue status`), the paths a command wrote and its closing summary.
- **stderr carries messages**: progress, warnings, notes and errors. A run that shows only progress on the
  terminal has written its result to stdout.
- **`--json`**: exactly one JSON document on stdout (NaN/Inf are refused, they are not JSON); the human summary
  lines then go to stderr, so `stylemix compare *.safetensors --json > compare.json` is always parseable.
- **Exit codes**: 0 success; 1 a user error (a `StyleMixError`: one line `error: <file>: <problem>` on stderr,
  never a traceback), a cancelled run, or a check that found problems (`sd-scripts check`, a failed training);
  2 a usage error (argparse); 130 interrupted by Ctrl+C.
- Inputs are never modified; outputs are written atomically and never overwrite an existing file unless the
  command has `--overwrite` and you pass it. LoRA arguments accept files, folders and glob patterns.
- Heavy libraries (torch, OpenCV, gradio) are imported inside the commands that need them, so `--help` and the
  torch-free commands (`dataset`, `canny`, `restyle`, `sd-scripts`, `train`) work without torch.

## Commands

"""


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def page(name: str) -> str:
    if name not in AREA:
        raise SystemExit(f"docs/make_cli_reference.py: add the docs page of command {name!r} to AREA")
    return AREA[name]


def synopses(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help_text: str = "") -> list[str]:
    children = list(subcommands(parser))
    if not children:
        usage = re.sub(r"\s+", " ", parser.format_usage().strip())
        usage = usage.replace("usage: python -m lib_stylemix", "stylemix").replace(" [-h]", "")
        wrapped = textwrap.fill(usage, width=112, subsequent_indent="    ", break_on_hyphens=False,
                                break_long_words=False)
        sentence = help_text[:1].upper() + help_text[1:]
        return [f"### `stylemix {' '.join(path)}`\n\n{sentence}. See [{page(path[0])}]({page(path[0])}).\n\n"
                f"```\n{wrapped}\n```\n"]
    return [s for name, text, sub in children for s in synopses(sub, (*path, name), text)]


def reference() -> str:
    parser = build_parser()
    rows = [f"| `{name}` | {text} | [{page(name)}]({page(name)}) |" for name, text, _ in subcommands(parser)]
    return HEAD + "| command | what it does | page |\n|---|---|---|\n" + "\n".join(rows) + "\n\n## Synopses\n\n" \
        + "\n".join(synopses(parser))


if __name__ == "__main__":
    sys.stdout.write(reference())
