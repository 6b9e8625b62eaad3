"""`evolve` and `demo` commands. Heavy modules (torch, matplotlib) are imported inside the handlers."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lib_stylemix.console import emit_json, emit_text, say
from lib_stylemix.errors import CancelledError, StyleMixError

STATE_NAME = "evolve-state.json"
REPORT_NAME = "evolve-report.json"
FIGURE_DIR = "figures"
CACHE_DIR = ".stylemix-cache"


def register(subparsers: Any) -> None:
    evolve = subparsers.add_parser(
        "evolve", help="evolve a pool of LoRAs: generate recipes, score them from the kernel, keep the top k",
        description="Each iteration generates candidate recipes from the pool (pair mixes, optionally "
                    "extrapolation, add-difference and per-block crossover), scores them from the pool kernel "
                    "K without materialising them, keeps the best K, and writes the kept ones into --out.")
    evolve.add_argument("files", nargs="*", metavar="FILE", help="LoRA files, folders or glob patterns")
    evolve.add_argument("--out", required=True, type=Path, help="folder for kept LoRAs, report, figures, state")
    evolve.add_argument("--iterations", type=int, default=1, help="generations to run (default 1)")
    evolve.add_argument("--ratios", type=int, help="R pair ratios k/(R+1), k=1..R (default 1: just 0.5)")
    evolve.add_argument("--keep", type=int, help="candidates kept per generation (default 1)")
    evolve.add_argument("--score", choices=("novelty", "legacy-average"), help="ranking score (default novelty)")
    evolve.add_argument("--extrapolate", type=float, metavar="T",
                        help="also ratios beyond the parents, up to T outside [0, 1] (default off)")
    evolve.add_argument("--add-difference", action="store_true", default=None,
                        help="also A + t·(B − C) for t in 0.5, 1")
    evolve.add_argument("--crossover", action="store_true", default=None,
                        help="also per-block crossovers (blocks from one parent, the rest from another)")
    evolve.add_argument("--max-rank", type=int, help="rank of written LoRAs (default: largest parent rank)")
    evolve.add_argument("--max-pool-size", type=int, help="evict the least novel members beyond this size")
    evolve.add_argument("--strength-band", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="keep candidates with LOW·min ≤ ‖ΔW‖/parent norm ≤ HIGH·max (default 0.5 2)")
    evolve.add_argument("--seed", type=int, help="random seed (default 0)")
    evolve.add_argument("--resume", type=Path, metavar="STATE", help=f"continue from a saved {STATE_NAME}")
    evolve.add_argument("--cache-dir", type=Path, help=f"kernel cache folder (default: OUT/{CACHE_DIR})")
    evolve.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    evolve.set_defaults(func=_evolve)

    demo = subparsers.add_parser(
        "demo", help="the main job in one command: compare a pool, evolve it, write report and figures",
        description="Runs compare and a short evolve on --lora-dir, or on a synthetic example pool it creates "
                    "in --out when no folder is given, and prints where the report and figures are.")
    demo.add_argument("--lora-dir", type=Path, help="folder of LoRA files (default: create an example pool)")
    demo.add_argument("--out", type=Path, default=Path("stylemix-demo"), help="output folder (default ./stylemix-demo)")
    demo.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    demo.set_defaults(func=_demo)


# ----- shared helpers ----------------------------------------------------------------------------------------


class StderrProgress:
    """Progress as occasional one-line messages on stderr (at most one every `interval` seconds)."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._last = 0.0
        self._stage = ""
        self._total = 0

    def begin(self, total: int, text: str = "") -> None:
        self._last = time.monotonic()
        self._stage, self._total = text, total

    def step(self, done: int, text: str = "") -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            detail = text if text.startswith(self._stage) else f"{self._stage} {done}/{self._total}"
            say(f"  {detail}")

    def end(self, text: str = "") -> None:
        pass


@contextlib.contextmanager
def _sigint_cancels(flag: Any) -> Iterator[None]:
    """First Ctrl-C asks the job to stop cleanly (state and report are still written); a second one aborts."""
    if not hasattr(signal, "SIGINT") or sys.platform == "emscripten":
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.cancelled():
            raise KeyboardInterrupt
        say("stopping after the current step (Ctrl-C again to abort)")
        flag.cancel()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _kept_json(gen: Any, pool: Any) -> list[dict[str, Any]]:
    names = pool.root_names()
    return [{"name": m.name, "path": str(m.path) if m.path else None, "recipe": m.recipe.to_json(names),
             "score": m.score, "retained_energy": m.retained_energy} for m in gen.kept]


def _check_outputs(out: Path, resuming_here: bool) -> None:
    """Refuse to mix a new run into a folder that holds another run's state, report or figures."""
    if resuming_here:
        return
    clash = [p for p in (out / STATE_NAME, out / REPORT_NAME, out / FIGURE_DIR) if p.exists()]
    if clash:
        raise StyleMixError(f"{clash[0]}: already exists; pass --resume {out / STATE_NAME} to continue that run, "
                            "or choose another --out")


def _check_not_an_input(out: Path, sources: list[str]) -> None:
    """Input folders are never written to: refuse an --out that holds any of the input files."""
    from lib_stylemix.lora.paths import expand_lora_paths

    target = out.resolve()
    if out.exists() and any(p.resolve().parent == target for p in expand_lora_paths(sources)):
        raise StyleMixError(f"{out}: is an input folder; choose another --out (input folders are never written to)")


# ----- evolve --------------------------------------------------------------------------------------------------


def _evolve(args: argparse.Namespace) -> int:
    from lib_stylemix.pool.evolve import evolve
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.report import build_report, write_figures, write_report
    from lib_stylemix.pool.settings import EvolveSettings
    from lib_stylemix.seams import CancelFlag

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise StyleMixError(f"{out}: exists and is not a folder")
    _check_not_an_input(out, args.files)
    state_path = out / STATE_NAME
    resuming_here = args.resume is not None and args.resume.resolve() == state_path.resolve()
    _check_outputs(out, resuming_here)
    cache_dir = args.cache_dir or out / CACHE_DIR
    progress = StderrProgress()
    overrides = {
        "iterations": args.iterations, "ratios": args.ratios, "keep": args.keep, "score": args.score,
        "extrapolate": args.extrapolate, "add_difference": args.add_difference, "crossover": args.crossover,
        "max_rank": args.max_rank, "max_pool_size": args.max_pool_size, "seed": args.seed,
        "strength_band": tuple(args.strength_band) if args.strength_band else None,
    }
    if args.resume is not None:
        pool, doc = Pool.resume(args.resume, cache_dir=cache_dir, progress=progress)
        settings = EvolveSettings.from_json(doc.get("settings") or {}, **overrides)
        if args.files:
            pool.add(args.files, progress=progress)
        say(f"resumed {args.resume} at generation {pool.generation} with {len(pool)} members")
    else:
        if not args.files:
            raise StyleMixError("evolve needs LoRA files (or --resume STATE)")
        settings = EvolveSettings.from_json({}, **overrides)
        pool = Pool.load(args.files, cache_dir=cache_dir, progress=progress)
    if len(pool) < 2:
        raise StyleMixError("evolve needs at least two different LoRA files in the pool")
    out.mkdir(parents=True, exist_ok=True)
    extra = {"settings": settings.to_json(), "seed": settings.seed}

    def on_generation(gen: Any) -> None:
        kept = ", ".join(f"{m.name} ({m.score:.3f})" for m in gen.kept) or "nothing"
        say(f"generation {gen.index}: {len(gen.candidates)} candidates, kept {kept} [{gen.seconds:.1f}s]")
        pool.snapshot(state_path, extra)

    flag = CancelFlag()
    with _sigint_cancels(flag):
        # Kept recipes an interrupted run had not written yet are written first.
        for member in [m for m in pool.members if m.kind == "recipe" and m.path is None]:
            pool.save_recipe(member.name, out, max_rank=settings.max_rank, score_kind=settings.score,
                             progress=progress, cancel=flag)
        result = evolve(pool, settings, progress, flag, save_to=out, on_generation=on_generation)
    pool.snapshot(state_path, extra)
    report = write_report(out / REPORT_NAME, build_report(pool, result, extra), overwrite=resuming_here)
    figures = write_figures(pool, out / FIGURE_DIR, overwrite=resuming_here)
    if result.cancelled:
        raise CancelledError(f"stopped after generation {pool.generation}; resume with --resume {state_path}")
    emit_text(f"report: {report}\nfigures: {out / FIGURE_DIR}", json_mode=args.json)
    if args.json:
        emit_json({
            "iterations": [{"candidates": len(g.candidates), "kept": _kept_json(g, pool)} for g in result.generations],
            "pool": pool.names,
            "report": str(report),
            "state": str(state_path),
            "figures": {k: str(v) for k, v in figures.items()},
        })
    return 0


# ----- demo ----------------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from lib_stylemix.pool.demo import run_demo

    summary = run_demo(args.out, lora_dir=args.lora_dir, progress=StderrProgress())
    far = summary["most_different"]
    emit_text(f"compared {len(summary['compared'])} LoRAs from {summary['source']}; most different pair: "
        f"{far['a']} ↔ {far['b']} (‖ΔW_a − ΔW_b‖ = {far['distance']:.4g})", json_mode=args.json)
    for kept in summary["kept"]:
        emit_text(f"kept {kept['name']} (novelty {kept['score']:.3f})", json_mode=args.json)
    emit_text(f"compare heatmap: {summary['compare_heatmap']}", json_mode=args.json)
    emit_text(f"evolve report:   {summary['report']}", json_mode=args.json)
    emit_text(f"figures:         {', '.join(summary['figures'].values())}", json_mode=args.json)
    emit_text(f"kept LoRAs in:   {summary['evolved_dir']}", json_mode=args.json)
    if args.json:
        emit_json(summary)
    return 0
