"""`evolve` and `demo` commands. Heavy modules (torch, matplotlib) are imported inside the handlers."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lib_stylemix.console import ConsoleProgress, emit_json, emit_text, say
from lib_stylemix.errors import CancelledError, StyleMixError

STATE_NAME = "evolve-state.json"
REPORT_NAME = "evolve-report.json"
FIGURE_DIR = "figures"
CACHE_DIR = ".stylemix-cache"


def register(subparsers: Any) -> None:
    from lib_stylemix.pool import operators, scores, selection

    evolve = subparsers.add_parser(
        "evolve", help="evolve a pool of LoRAs: generate recipes, score them from the kernel, keep a diverse set",
        description="Each iteration generates candidate recipes from the pool with the chosen operators, scores "
                    "them from the pool kernel K without materialising them, keeps a diverse set (or fills a "
                    "quality-diversity archive), and writes the kept ones into --out. See docs/evolve.md.")
    evolve.add_argument("files", nargs="*", metavar="FILE", help="LoRA files, folders or glob patterns")
    evolve.add_argument("--out", required=True, type=Path, help="folder for kept LoRAs, report, figures, state")
    evolve.add_argument("--iterations", type=int, default=1, help="generations to run (default 1)")
    evolve.add_argument("--ratios", type=int, help="R pair ratios k/(R+1), k=1..R (default 1: just 0.5)")
    evolve.add_argument("--keep", type=int, help="candidates kept per generation (default 1)")
    evolve.add_argument("--score", choices=scores.names(),
                        help="; ".join(f"{e.name}: {e.help}" for e in scores.SCORES.entries())
                        + f" (default {scores.DEFAULT})")
    evolve.add_argument("--select", choices=selection.names(),
                        help="; ".join(f"{e.name}: {e.help}" for e in selection.SELECTIONS.entries())
                        + f" (default {selection.DEFAULT})")
    evolve.add_argument("--per-parents", type=int, metavar="N",
                        help="at most N kept children per parent set and generation (default 1; 0: no limit)")
    evolve.add_argument("--operators", metavar="LIST",
                        help="comma-separated operators or 'all': " + "; ".join(
                            f"{e.name}: {e.help}" for e in operators.OPERATORS.entries())
                        + f" (default {','.join(operators.DEFAULT)})")
    _add_param_options(evolve)
    evolve.add_argument("--archive", action="store_true", default=None,
                        help="quality-diversity mode: a MAP-Elites grid on two pool-map axes; keeps new cell elites")
    evolve.add_argument("--archive-bins", type=int, metavar="N", help="cells per archive axis (default 6)")
    evolve.add_argument("--archive-poles", nargs=2, metavar=("A", "B"),
                        help="archive axes: how much of member A's and of member B's style (default: pool map)")
    evolve.add_argument("--extrapolate", type=float, metavar="T",
                        help="also ratios beyond the parents, up to T outside [0, 1] (default off)")
    evolve.add_argument("--add-difference", action="store_true", default=None,
                        help="also A + t·(B − C) for t in 0.5, 1")
    evolve.add_argument("--crossover", action="store_true", default=None,
                        help="also per-block crossovers (blocks from one parent, the rest from another)")
    evolve.add_argument("--max-rank", type=int,
                        help="fixed rank of written LoRAs (default: as large as needed to keep --energy)")
    evolve.add_argument("--energy", type=float, help="share of ‖ΔW‖² a written child keeps at least (default 0.99)")
    evolve.add_argument("--rank-cap", type=int, help="never write a rank above this (warns with the resulting error)")
    evolve.add_argument("--max-file-mb", type=float, help="never write a file above this size (warns likewise)")
    evolve.add_argument("--max-pool-size", type=int, help="evict the least novel members beyond this size")
    evolve.add_argument("--strength-band", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="keep candidates with LOW·min ≤ ‖ΔW‖/parent norm ≤ HIGH·max (default 0.5 2)")
    evolve.add_argument("--seed", type=int, help="random seed (default 0)")
    evolve.add_argument("--resume", type=Path, metavar="STATE", help=f"continue from a saved {STATE_NAME}")
    evolve.add_argument("--cache-dir", type=Path, help=f"kernel cache folder (default: OUT/{CACHE_DIR})")
    evolve.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    evolve.add_argument("--strict", action="store_true",
                        help="stop with an error when any file cannot be read (default: skip it with a warning)")
    evolve.set_defaults(func=_evolve)

    demo = subparsers.add_parser(
        "demo", help="the main job in one command: compare a pool, evolve it, write report and figures",
        description="Runs compare and a short evolve on --lora-dir, or on a synthetic example pool it creates "
                    "in --out when no folder is given, and prints where the report and figures are.")
    demo.add_argument("--lora-dir", type=Path, help="folder of LoRA files (default: create an example pool)")
    demo.add_argument("--out", type=Path, default=Path("stylemix-demo"), help="output folder (default ./stylemix-demo)")
    demo.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    demo.add_argument("--strict", action="store_true",
                      help="stop with an error when any file in --lora-dir cannot be read (default: skip it)")
    demo.set_defaults(func=_demo)


# ----- shared helpers ----------------------------------------------------------------------------------------

# Registry parameters that already have an option of their own above.
_OWN_OPTIONS = {"ratios", "extrapolate", "knn"}


def _add_param_options(parser: Any) -> None:
    """One option per parameter the registries declare (`--orthogonal-scales 1 1.5`, `--spectral-sigma 0.7`…)."""
    from lib_stylemix.pool import operators, scores, selection
    from lib_stylemix.pool.settings import TUPLE_FIELDS, EvolveSettings

    defaults = EvolveSettings()
    seen = set(_OWN_OPTIONS)
    for registry in (scores.SCORES, selection.SELECTIONS, operators.OPERATORS):
        for entry in registry.entries():
            for p in entry.params:
                if p.name in seen:
                    continue
                seen.add(p.name)
                default = getattr(defaults, p.name)
                kind = int if isinstance(default, int) else float
                parser.add_argument(f"--{p.name.replace('_', '-')}", type=kind, dest=p.name,
                                    nargs="+" if p.name in TUPLE_FIELDS else None,
                                    help=f"{entry.name}: {p.help}, in [{p.low:g}, {p.high:g}] (default {default})")
    parser.add_argument("--knn", type=int, help="knn-novelty: k nearest archive entries (default 3)")


def _param_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from lib_stylemix.pool import operators, scores, selection
    from lib_stylemix.pool.settings import TUPLE_FIELDS

    out: dict[str, Any] = {}
    for registry in (scores.SCORES, selection.SELECTIONS, operators.OPERATORS):
        for entry in registry.entries():
            for p in entry.params:
                value = getattr(args, p.name, None)
                if p.name not in _OWN_OPTIONS | {"knn"} and value is not None:
                    out[p.name] = tuple(value) if p.name in TUPLE_FIELDS else value
    return out


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
             "score": m.score, "retained_energy": m.retained_energy, "operator": m.origin.get("operator"),
             "parents": list(m.parents), "relative_error": m.origin.get("relative_error")} for m in gen.kept]


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
    from lib_stylemix.pool.report import build_report, write_figures, write_report
    from lib_stylemix.seams import CancelFlag

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise StyleMixError(f"{out}: exists and is not a folder")
    _check_not_an_input(out, args.files)
    state_path = out / STATE_NAME
    resuming_here = args.resume is not None and args.resume.resolve() == state_path.resolve()
    _check_outputs(out, resuming_here)
    cache_dir = args.cache_dir or out / CACHE_DIR
    progress = ConsoleProgress(interval=2.0, headlines=False)
    pool, settings, archive = _open_run(args, cache_dir, progress)
    out.mkdir(parents=True, exist_ok=True)
    extra = {"settings": settings.to_json(), "seed": settings.seed}

    def snapshot() -> None:
        """The state a --resume continues from: pool, settings and the archive (grid and elites)."""
        pool.snapshot(state_path, {**extra, **({"archive": archive.to_state()} if archive is not None else {})})

    def on_generation(gen: Any) -> None:
        kept = ", ".join(f"{m.name} ({m.origin.get('operator', '?')}, {settings.score} {_fmt(m)})"
                         for m in gen.kept) or "nothing"
        say(f"generation {gen.index}: {len(gen.candidates)} candidates, kept {kept} [{gen.seconds:.1f}s]")
        snapshot()

    flag = CancelFlag()
    with _sigint_cancels(flag):
        # Kept recipes an interrupted run had not written yet are written first.
        for member in [m for m in pool.members if m.kind == "recipe" and m.path is None]:
            pool.save_recipe(member.name, out, settings=settings, progress=progress, cancel=flag, on_plan=_say_plan)
        result = evolve(pool, settings, progress, flag, save_to=out, on_generation=on_generation, on_save=_say_plan,
                        archive=archive)
    snapshot()
    report = write_report(out / REPORT_NAME, build_report(pool, result, extra), overwrite=resuming_here)
    figures = write_figures(pool, out / FIGURE_DIR, overwrite=resuming_here, archive=result.archive)
    if result.cancelled:
        raise CancelledError(f"stopped after generation {pool.generation}; resume with --resume {state_path}")
    if result.archive is not None:
        emit_text(f"archive: {len(result.archive.cells)} of {settings.archive_bins ** 2} cells filled",
                  json_mode=args.json)
    emit_text(f"report: {report}\nfigures: {out / FIGURE_DIR}", json_mode=args.json)
    if args.json:
        emit_json({
            "iterations": [{"candidates": len(g.candidates), "kept": _kept_json(g, pool)} for g in result.generations],
            "pool": pool.names,
            "report": str(report),
            "state": str(state_path),
            "figures": {k: str(v) for k, v in figures.items()},
            "skipped": [s.to_json() for s in pool.skipped],
        })
    return 0


def _settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """EvolveSettings values given on the command line (None: not given, the default or the resumed value)."""
    from lib_stylemix.pool.settings import parse_operators

    return {
        "iterations": args.iterations, "ratios": args.ratios, "keep": args.keep, "score": args.score,
        "select": args.select, "per_parents": args.per_parents, "knn": args.knn,
        "operators": parse_operators(args.operators) if args.operators else None,
        "extrapolate": args.extrapolate, "add_difference": args.add_difference, "crossover": args.crossover,
        "archive": args.archive, "archive_bins": args.archive_bins,
        "archive_poles": tuple(args.archive_poles) if args.archive_poles else None,
        "max_rank": args.max_rank, "energy": args.energy, "rank_cap": args.rank_cap, "max_file_mb": args.max_file_mb,
        "max_pool_size": args.max_pool_size, "seed": args.seed,
        "strength_band": tuple(args.strength_band) if args.strength_band else None,
        **_param_overrides(args),
    }


def _open_run(args: argparse.Namespace, cache_dir: Path, progress: Any) -> tuple[Any, Any, Any]:
    """The pool, settings and archive of a new run, or of the resumed one (its archive continues)."""
    from lib_stylemix.pool.evolve import new_archive
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.settings import EvolveSettings

    overrides = _settings_overrides(args)
    archive = None
    if args.resume is not None:
        pool, doc = Pool.resume(args.resume, cache_dir=cache_dir, progress=progress)
        settings = EvolveSettings.from_json(doc.get("settings") or {}, **overrides)
        archive = _resumed_archive(doc, settings, args.resume)
        if args.files:
            pool.add(args.files, progress=progress, strict=args.strict)
        say(f"resumed {args.resume} at generation {pool.generation} with {len(pool)} members")
    else:
        if not args.files:
            raise StyleMixError("evolve needs LoRA files (or --resume STATE)")
        settings = EvolveSettings.from_json({}, **overrides)
        pool = Pool.load(args.files, cache_dir=cache_dir, progress=progress, strict=args.strict)
    for skipped in pool.skipped:
        say(f"warning: {skipped.line}")
    if len(pool) < 2:
        raise StyleMixError("evolve needs at least two different LoRA files in the pool")
    return pool, settings, archive or new_archive(pool, settings)


def _resumed_archive(doc: dict[str, Any], settings: Any, where: Path) -> Any:
    """The archive stored in a resumed run's state, when the run is in archive mode and asks for the same grid."""
    from lib_stylemix.pool.archive import Archive

    stored = doc.get("archive")
    if not settings.archive or not stored:
        return None
    archive = Archive.from_state(stored, str(where))
    if not archive.matches(settings.archive_bins, settings.archive_poles):
        say(f"warning: --archive-bins/--archive-poles differ from {where}; starting a new archive")
        return None
    return archive


def _fmt(member: Any) -> str:
    """A kept member's score with the decimals its resolution supports."""
    from lib_stylemix.pool.scores import digits

    if member.score is None:
        return "?"
    return f"{member.score:.{digits(float(member.origin.get('resolution') or 0.0))}f}"


def _say_plan(plan: Any) -> None:
    """Before a child is written: its rank, retained energy and relative ΔW error (and any size-cap warning)."""
    say(f"saving {plan.describe()}")


# ----- demo ----------------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from lib_stylemix.lora.batch_open import open_many
    from lib_stylemix.pool.demo import run_demo

    skipped = []
    if args.lora_dir is not None:  # headers only: name the files the pool will leave out, before the long run
        skipped = open_many([args.lora_dir], strict=args.strict).skipped
        for s in skipped:
            say(f"warning: {s.line}")
    summary = run_demo(args.out, lora_dir=args.lora_dir, progress=ConsoleProgress(interval=2.0, headlines=False))
    summary["skipped"] = [s.to_json() for s in skipped]
    far = summary["most_different"]
    emit_text(f"compared {len(summary['compared'])} LoRAs from {summary['source']}; most different pair: "
        f"{far['a']} ↔ {far['b']} (‖ΔW_a − ΔW_b‖ = {far['distance']:.4g})", json_mode=args.json)
    for kept in summary["kept"]:
        score = f"{kept['score']:.{kept['digits']}f}"
        emit_text(f"kept {kept['name']} ({kept['operator']}, {summary['score']} {score})", json_mode=args.json)
    for cell in summary["archive"]["cells"]:
        who = cell["name"] or "(not kept)"
        emit_text(f"archive cell {tuple(cell['cell'])}: {cell['operator']} of {' + '.join(cell['parents'])} "
                  f"score {cell['score']:.3g} → {who}", json_mode=args.json)
    emit_text(f"compare heatmap: {summary['compare_heatmap']}", json_mode=args.json)
    emit_text(f"evolve report:   {summary['report']}", json_mode=args.json)
    emit_text(f"figures:         {', '.join(summary['figures'].values())}", json_mode=args.json)
    emit_text(f"kept LoRAs in:   {summary['evolved_dir']}", json_mode=args.json)
    if args.json:
        emit_json(summary)
    return 0
