"""`python -m lib_stylemix`: the headless front end over the same core the webui uses.

Each feature package contributes its sub-commands through a `register(subparsers)` function in its own
`cli.py`, so this file only wires them together and owns the conventions every command shares:
exit code 0 on success, 1 on a user error (a `StyleMixError`, printed as one line on stderr), 2 on a usage
error (argparse); with `--json` exactly one JSON document goes to stdout and human messages go to stderr.
Command modules import heavy libraries (torch, cv2, gradio) inside their handlers, so `--help` stays fast
and torch-free commands work without torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lib_stylemix import __version__, threads
from lib_stylemix.console import say
from lib_stylemix.errors import CancelledError, StyleMixError

COMMAND_MODULES = (
    "lib_stylemix.lora.cli",
    "lib_stylemix.pool.cli",
    "lib_stylemix.dataset.cli",
    "lib_stylemix.restyle.cli",
    "lib_stylemix.training.cli",
    "lib_stylemix.ui.cli",
    "lib_stylemix.science.cli",
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; with `argv` naming a command, only the command modules up to the one that registers
    it are imported (so `info` does not load the pool, training or UI packages)."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="StyleMix: compare, merge and evolve style LoRAs; prepare, restyle and train datasets.",
    )
    parser.add_argument("--version", action="version", version=f"StyleMix {__version__}")
    parser.add_argument("--threads", type=_threads_arg, default=threads.AUTO, metavar="N|auto",
                        help="compute threads for numpy/BLAS and torch (default auto: the cores not already busy; "
                             "never more than the cores)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    wanted = _command_name(argv)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
        if wanted is not None and wanted in subparsers.choices:
            break
    return parser


def _prog() -> str:
    """How the user called us: the `stylemix` console script, or the module from a clone."""
    return "stylemix" if Path(sys.argv[0]).stem == "stylemix" else "python -m lib_stylemix"


def _command_name(argv: Sequence[str] | None) -> str | None:
    """The sub-command in `argv` (the first word that is not a global option or its value)."""
    words = iter(argv or ())
    for word in words:
        if word == "--threads":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _threads_arg(text: str) -> str | int:
    try:
        return threads.parse_threads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    threads.configure(args.threads)
    try:
        with threads.compute_threads():
            return int(args.func(args) or 0)
    except CancelledError as exc:
        say(f"cancelled: {exc}")
        return 1
    except StyleMixError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except BrokenPipeError:
        # `stylemix info … | head`: the reader has gone, which is not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
