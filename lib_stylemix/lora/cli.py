"""`info`, `compare`, `merge` and `example`: the LoRA engine on the command line.

torch and numpy are imported inside the handlers so `python -m lib_stylemix --help` stays fast.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib_stylemix.console import emit_json, emit_text, say
from lib_stylemix.errors import StyleMixError


def register(subparsers: Any) -> None:
    _register_info(subparsers)
    _register_compare(subparsers)
    _register_merge(subparsers)
    _register_example(subparsers)


def _register_info(subparsers: Any) -> None:
    p = subparsers.add_parser("info", help="show architecture, rank, alpha and size of LoRA files",
                              description="Read LoRA headers (no tensor data unless --check) and describe them.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".safetensors (or tensors-only .pt/.ckpt) LoRA files, folders or glob patterns")
    p.add_argument("--check", action="store_true", help="also read every module and check for NaN/Inf")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    _add_strict(p)
    p.set_defaults(func=cmd_info)


def _register_compare(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare", help="pairwise distances between LoRAs (on their effect ΔW)",
        description="Pairwise distances between the LoRAs' weight changes ΔW = (alpha/r)·up·down, computed from "
                    "r×r products without forming ΔW. frobenius = ‖ΔW_i − ΔW_j‖ (summed over modules), cosine = "
                    "1 − cos(ΔW_i, ΔW_j); legacy = the original experiment's mean |a − b| over raw factors "
                    "(not a measure of the effect; kept to reproduce old numbers).")
    p.add_argument("files", nargs="+", metavar="FILE", help="LoRA files, folders or glob patterns")
    from lib_stylemix.lora import metrics

    p.add_argument("--metric", choices=(*metrics.names(), "legacy"), default="frobenius")
    p.add_argument("--by-block", action="store_true", help="also give one matrix per block-weight group")
    p.add_argument("--top", type=int, default=10, metavar="N", help="pairs to list in the ranking (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    _add_strict(p)
    p.set_defaults(func=cmd_compare)


def _register_merge(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "merge", help="weighted merge of LoRAs into a new LoRA file",
        description="Merge LoRAs as Σ w_i·ΔW_i. concat is exact (rank = Σ ranks); svd is the best rank-K "
                    "approximation of the exact sum (--rank K, or --energy E = smallest rank keeping E of the "
                    "squared singular values over all modules; default: the largest input rank); legacy "
                    "averages factors element-wise (equal ranks only; NOT effect-preserving). Negative "
                    "weights need '=': --weights=1,-0.5 (add-difference A + t(B − C) is --weights=1,t,-t).")
    p.add_argument("files", nargs="+", metavar="FILE", help="LoRA files, folders or glob patterns")
    p.add_argument("--weights", required=True, metavar="W1,W2,...",
                   help="one real weight per file, in the order the files are listed (a folder: by name)")
    from lib_stylemix.lora import merge_methods

    p.add_argument("--method", choices=merge_methods.names(), default="concat",
                   help="; ".join(merge_methods.describe().splitlines()).replace("%", "%%"))
    size = p.add_mutually_exclusive_group()
    size.add_argument("--rank", type=int, metavar="K", help="svd: keep K components per module")
    size.add_argument("--energy", type=float, metavar="E", help="svd: keep fraction E (0-1] of Σσ²")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .safetensors path")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default="fp16", help="saved dtype (default fp16)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    _add_method_params(p)
    _add_strict(p)
    p.set_defaults(func=cmd_merge)


def _add_method_params(p: Any) -> None:
    """One option per parameter a registered merge method declares (those not spelled out above)."""
    from lib_stylemix.lora import merge_methods

    for method in merge_methods.METHODS.entries():
        for param in method.params:
            try:
                p.add_argument(f"--{param.name.replace('_', '-')}", dest=param.name, type=param.type,
                               help=f"{method.name}: {param.help}".replace("%", "%%"))
            except argparse.ArgumentError:
                continue  # already an option (svd's --rank/--energy, or a parameter two methods share)


def _register_example(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "example", help="write a small synthetic example pool to try the commands on",
        description="Write synthetic LoRAs with the real module layout and correlated 'style' directions. They "
                    "are not trained (names and metadata say synthetic). Refuses a non-empty folder.")
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--count", type=int, default=6, metavar="N", help="number of files (default 6)")
    p.add_argument("--arch", choices=("sd1", "sd2", "sdxl"), default="sd1")
    p.add_argument("--rank", type=int, default=8, metavar="R", help="rank of every module (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=cmd_example)


def _add_strict(p: Any) -> None:
    p.add_argument("--strict", action="store_true",
                   help="stop with an error when any file cannot be read (default: skip it with a warning)")


def open_inputs(sources: Sequence[str | Path], *, strict: bool, check: bool = False) -> Any:
    """open_many + one line per skipped file or ignored keys on stderr; an error when nothing could be read."""
    from lib_stylemix.lora.batch_open import open_many

    batch = open_many(sources, strict=strict, check=check)
    if not batch.files and len(batch.skipped) == 1:
        only = batch.skipped[0]
        raise StyleMixError(f"{only.path}: {only.reason}")
    for line in batch.messages():
        say(f"warning: {line}")
    if not batch.files:
        raise StyleMixError(f"none of the {len(batch.skipped)} files could be read (see the warnings above)")
    return batch


def file_summary(lora: Any) -> dict[str, Any]:
    """The `info` record of one opened LoraFile."""
    alphas = {lora.alpha(m) for m in lora.module_names}
    alpha: float | str = alphas.pop() if len(alphas) == 1 else "Dynamic"
    return {"path": str(lora.path), "name": lora.name, "arch": lora.arch, "rank": lora.rank, "alpha": alpha,
            "modules": len(lora.module_names), "params": lora.params, "dtype": lora.dtype, "format": lora.format,
            "arch_source": lora.arch_source, "arch_note": lora.arch_note, "algo": lora.algo,
            "ignored_keys": len(lora.ignored), "bundled_embeddings": len(lora.bundle_keys)}


def cmd_info(args: argparse.Namespace) -> int:
    batch = open_inputs(args.files, strict=args.strict, check=args.check)
    records = []
    for lora in batch.files:
        records.append(file_summary(lora))
        lora.close()
    if args.json:
        emit_json({"files": records, "skipped": [s.to_json() for s in batch.skipped]})
        return 0
    rows = [("name", "arch", "rank", "alpha", "modules", "params", "dtype", "algo", "format")]
    rows += [(r["name"], r["arch"], str(r["rank"]), _fmt_alpha(r["alpha"]), str(r["modules"]),
              f"{r['params']:,}", r["dtype"], r["algo"], r["format"]) for r in records]
    emit_text(_table(rows))
    for r in records:
        if r["arch_note"]:
            say(f"note: {r['name']}: {r['arch_note']}")
    if args.check:
        say(f"checked {len(records)} file(s): no NaN/Inf")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from lib_stylemix.lora import distance_from_gram, kernel, legacy_distance_matrix, metrics

    if args.top < 0:
        raise StyleMixError("--top must be 0 or more")
    if args.metric == "legacy" and args.by_block:
        raise StyleMixError("--by-block needs --metric frobenius or cosine (legacy has no block breakdown)")
    batch = open_inputs(args.files, strict=args.strict)
    files = batch.files
    if len(files) < 2:
        raise StyleMixError(f"compare needs at least two readable LoRA files (got {len(files)})")
    if args.metric == "legacy":
        _legacy_needs_plain(files)
        matrix = legacy_distance_matrix(files)
        blocks: dict[str, Any] = {}
    else:
        k = kernel(files)
        matrix = distance_from_gram(k.total, args.metric)
        blocks = {b: distance_from_gram(g, args.metric) for b, g in _ordered_blocks(k.by_block, files[0].arch)}
    names = [f.name for f in files]
    document: dict[str, Any] = {"metric": args.metric, "names": names, "paths": [str(f.path) for f in files],
                                "matrix": matrix.tolist(), "skipped": [s.to_json() for s in batch.skipped]}
    if args.by_block:
        document["blocks"] = {b: m.tolist() for b, m in blocks.items()}
    if args.json:
        emit_json(document)
        return 0
    label = "LEGACY mean |a − b| over raw factors (not a measure of the effect)" if args.metric == "legacy" \
        else metrics.get(args.metric).label
    emit_text(label)
    emit_text(_matrix_table(names, matrix))
    if args.by_block:
        for block, m in blocks.items():
            emit_text(f"\n{block}")
            emit_text(_matrix_table(names, m))
    pairs = sorted(((matrix[i][j], names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))),
                   reverse=True)
    if pairs and args.top:
        emit_text("\nmost different pairs:")
        for rank, (value, a, b) in enumerate(pairs[: args.top], 1):
            emit_text(f"{rank:3d}. {a} ↔ {b}  {_fmt(value)}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from lib_stylemix.lora import MergeTerm, merge, merge_methods, write_lora
    from lib_stylemix.lora.paths import expand_lora_paths
    from lib_stylemix.lora.writer import check_target, estimate_bytes

    paths = expand_lora_paths(args.files)
    weights = dict(zip(paths, parse_weights(args.weights, len(paths)), strict=True))
    output = Path(args.output)
    if output.resolve() in {p.resolve() for p in paths}:
        raise StyleMixError(f"{output}: is one of the inputs (refusing to overwrite an input file)")
    check_target(output, overwrite=args.overwrite)
    batch = open_inputs(paths, strict=args.strict)
    files = batch.files
    params = {param.name for method in merge_methods.METHODS.entries() for param in method.params}
    options = {name: getattr(args, name) for name in params if getattr(args, name, None) is not None}
    rank = options.get("rank") if args.method == "svd" else None
    if args.method == "svd" and rank is None and options.get("energy") is None:
        rank = max(f.rank for f in files)
    check_target(output, overwrite=args.overwrite, estimated_bytes=estimate_bytes(files, args.dtype, rank))
    if args.method == "legacy":
        _legacy_needs_plain(files)
    merged = merge([MergeTerm(f, weights[f.path]) for f in files], method=args.method, options=options)
    written = write_lora(merged, output, dtype=args.dtype, overwrite=args.overwrite)
    for note in written.notes:
        say(f"note: {note}")
    if args.json:
        emit_json({"output": str(written.path), "method": merged.method, "method_label": merged.label,
                   "rank": merged.rank, "retained_energy": merged.retained_energy,
                   "sshs_model_hash": written.model_hash, "notes": list(written.notes),
                   "skipped": [s.to_json() for s in batch.skipped]})
        return 0
    energy = "" if merged.retained_energy is None else f", retained energy {merged.retained_energy:.6f}"
    emit_text(f"wrote {written.path} — {merged.label}, rank {merged.rank}{energy}")
    if merged.method == "legacy":
        say("warning: legacy averages factors, which adds cross terms; the result is not the weighted sum of "
            "the LoRAs' effects (use concat or svd for that)")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from lib_stylemix.lora import write_example_pool

    paths = write_example_pool(args.folder, count=args.count, arch=args.arch, rank=args.rank, seed=args.seed)
    if args.json:
        emit_json({"folder": str(Path(args.folder)), "files": [str(p) for p in paths], "synthetic": True})
        return 0
    emit_text(f"wrote {len(paths)} synthetic (untrained) {args.arch} LoRAs to {args.folder}:")
    for p in paths:
        emit_text(f"  {p.name}")
    return 0


def _legacy_needs_plain(files: Sequence[Any]) -> None:
    """legacy works on stored factors; LoHa/LoKr/PEFT-Tucker modules have none comparable to a LoRA's."""
    for f in files:
        if f.algo != "lora" or not all(f.is_plain(m) for m in f.module_names):
            raise StyleMixError(f"{f.path}: legacy works on plain kohya LoRA factors only and this file is "
                                f"{f.algo}; use frobenius/cosine or concat/svd, which are exact for every format")


def parse_weights(text: str, count: int) -> list[float]:
    """'1,-0.5,0.5' → floats; the count must match the files."""
    try:
        weights = [float(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise StyleMixError(f"--weights {text!r}: expected comma-separated numbers, e.g. 0.5,0.5") from None
    if len(weights) != count:
        raise StyleMixError(f"--weights gives {len(weights)} weight(s) for {count} file(s)")
    if not all(math.isfinite(w) for w in weights):
        raise StyleMixError(f"--weights {text!r}: weights must be finite numbers")
    return weights


def _ordered_blocks(by_block: dict[str, Any], arch: str) -> list[tuple[str, Any]]:
    from lib_stylemix.lora import block_names

    order = {b: i for i, b in enumerate(block_names(arch, full=True))}
    return sorted(by_block.items(), key=lambda item: order.get(item[0], len(order)))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _fmt_alpha(alpha: float | str) -> str:
    return alpha if isinstance(alpha, str) else f"{alpha:g}"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _matrix_table(names: Sequence[str], matrix: Any) -> str:
    rows = [("", *names)]
    rows += [(name, *(_fmt(float(v)) for v in row)) for name, row in zip(names, matrix, strict=True)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))).rstrip() for row in rows)
