"""`science` commands that need no image generation: the correlation report from saved distance matrices,
and the agreement statistics of a blind A/B answers file. (Rendering needs the webui: Style science panel.)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lib_stylemix.console import emit_json, say
from lib_stylemix.errors import StyleMixError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("science", help="style science: ΔW vs image distance, blind A/B statistics",
                                   description="Style science without generation (the renders come from the webui).")
    sub = parser.add_subparsers(dest="science_command", metavar="SUBCOMMAND")
    sub.required = True
    report = sub.add_parser("report", help="Spearman ρ (bootstrap CI) between a ΔW and an image distance matrix",
                            description="Correlate two saved distance matrices (JSON: rows, or "
                                        "{\"names\": [...], \"matrix\": rows}); writes JSON + PNG.")
    report.add_argument("--dw", type=Path, required=True, help="ΔW distance matrix (JSON)")
    report.add_argument("--image", type=Path, required=True, help="image-space distance matrix (JSON)")
    report.add_argument("--block", action="append", default=[], metavar="NAME=K.json",
                        help="per-block member kernel K_b (JSON rows) for the per-block ρ; repeatable")
    report.add_argument("--out", type=Path, default=Path("."), help="folder for style_correlation.json/.png")
    report.add_argument("--samples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    report.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")
    report.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    report.set_defaults(func=run_report)
    stats = sub.add_parser("ab-stats", help="agreement of ΔW and image distance with a person's A/B answers")
    stats.add_argument("answers", type=Path, help="the answers file (JSON lines) the A/B panel writes")
    stats.add_argument("--min", type=int, default=20, dest="min_answers",
                       help="answers needed before statistics are shown (default 20)")
    stats.add_argument("--json", action="store_true", help="print the statistics as JSON on stdout")
    stats.set_defaults(func=run_ab_stats)
    check = sub.add_parser("merge-check", help="ΔW relative error of a saved StyleMix merge vs its recipe",
                           description="Exact ΔW relative error of a merge against the weighted sum of its parents "
                                       "(as stored and recomputed in fp32). The recipe comes from the file's "
                                       "StyleMix metadata; the parents are looked up by name in --lora-dir.")
    check.add_argument("merged", type=Path, help="the merged .safetensors file")
    check.add_argument("--lora-dir", type=Path, default=None, help="folder of the parents (default: the merge's)")
    check.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    check.set_defaults(func=run_merge_check)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StyleMixError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StyleMixError(f"{path}: not readable JSON ({exc})") from None


def _blocks(specs: list[str]) -> dict[str, Any]:
    from lib_stylemix.science.correlation import load_matrix

    out = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise StyleMixError(f"--block {spec!r}: expected NAME=K.json")
        out[name] = load_matrix(_read_json(Path(file)), file)[1]
    return out


def run_report(args: argparse.Namespace) -> int:
    from lib_stylemix.science.correlation import CorrelationSettings, correlate, load_matrix
    from lib_stylemix.science.report import write_report

    names_dw, dw = load_matrix(_read_json(args.dw), str(args.dw))
    names_img, image = load_matrix(_read_json(args.image), str(args.image))
    if names_dw and names_img and names_dw != names_img:
        raise StyleMixError(f"{args.dw} and {args.image} list different members (or in another order)")
    names = names_dw or names_img or [f"#{i + 1}" for i in range(len(dw))]
    if args.samples < 0:
        raise StyleMixError("--samples must be 0 or more")
    report = correlate(names, dw, image, by_block=_blocks(args.block),
                       settings=CorrelationSettings(samples=args.samples, seed=args.seed))
    json_path, png_path = write_report(report, args.out, overwrite=args.overwrite)
    ci = f"[{report.ci_low:.3f}, {report.ci_high:.3f}]" if report.bootstrap_samples else "n/a"
    say(f"Spearman ρ = {report.rho:.3f}, 95% CI {ci} over {len(names)} members; wrote {json_path} and {png_path}")
    if args.json:
        emit_json(report.to_json())
    return 0


def run_ab_stats(args: argparse.Namespace) -> int:
    from lib_stylemix.science.abtest import KINDS, AnswerStore, agreement

    if not args.answers.is_file():
        raise StyleMixError(f"{args.answers}: file not found")
    store = AnswerStore(args.answers)
    answers = store.read()
    for warning in store.warnings:
        say(f"warning: {warning}")
    stats = [agreement(answers, kind, args.min_answers) for kind in KINDS]
    for item in stats:
        say(item.summary())
    if args.json:
        emit_json([{"question": s.kind, "answers": s.answers, "ready": s.ready,
                    "metrics": [{"metric": m.metric, "agree": m.agree, "total": m.total,
                                 "ci": [m.low, m.high] if s.ready and m.total else None} for m in s.metrics]}
                   for s in stats])
    return 0


def run_merge_check(args: argparse.Namespace) -> int:
    from lib_stylemix.science.merge_check import check_dw, recipe_from_metadata

    if not args.merged.is_file():
        raise StyleMixError(f"{args.merged}: file not found")
    recipe = recipe_from_metadata(args.merged, args.lora_dir or args.merged.parent)
    result = check_dw(args.merged, recipe)
    fp32 = "n/a" if result.fp32_error is None else f"{result.fp32_error:.2e}"
    say(f"{args.merged.name}: ΔW relative error {result.stored_error:.2e} as stored ({result.stored_dtype}), "
        f"{fp32} in fp32 ({result.method or 'unknown method'}) against {len(recipe)} parent(s)")
    if args.json:
        emit_json(result.to_json())
    return 0
