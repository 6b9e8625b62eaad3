"""The one-command tour: compare a pool, evolve it briefly, write the report and figures.

With no LoRA folder it writes a synthetic example pool (the engine's `write_example_pool`) inside the output
folder. The output folder is marked as a demo folder; a non-empty folder without that mark is refused, so
the demo never writes into somebody's files. Re-running the demo in its own folder reuses what is there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.seams import NullProgress, Progress

DEMO_MARKER = ".stylemix-demo"
EXAMPLE_DIR = "example-pool"
EVOLVED_DIR = "evolved"
# The linear operators (spectral reads every file each generation: too slow for a few-second tour) and the
# QD archive.
DEMO_SETTINGS: dict[str, Any] = {"iterations": 2, "ratios": 3, "keep": 2, "seed": 0, "extrapolate": 0.25,
                                 "archive": True, "operators": ("blend", "orthogonal", "split", "crossover")}


def run_demo(out: str | Path, *, lora_dir: str | Path | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Compare + short evolve into `out`; returns where everything was written (the CLI prints it)."""
    from lib_stylemix.pool.evolve import evolve
    from lib_stylemix.pool.figures import heatmap_figure, save_png
    from lib_stylemix.pool.pool import Pool
    from lib_stylemix.pool.report import build_report, write_figures, write_report
    from lib_stylemix.pool.scores import digits
    from lib_stylemix.pool.settings import EvolveSettings

    progress = progress or NullProgress()
    started = time.monotonic()
    out = Path(out)
    _claim(out)
    if lora_dir is None:
        source = out / EXAMPLE_DIR
        if not any(source.glob("*.safetensors")):
            from lib_stylemix.lora import write_example_pool

            write_example_pool(source, count=6, rank=4)
    else:
        source = Path(lora_dir)
        if not source.is_dir():
            raise StyleMixError(f"{source}: not a folder")
    pool = Pool.load([source], cache_dir=out / ".stylemix-cache", progress=progress)
    if len(pool) < 2:
        raise StyleMixError(f"{source}: the demo needs at least two different LoRA files")

    distances = pool.distances("frobenius")
    compare = {"names": list(pool.names), "frobenius": distances.tolist(), "cosine": pool.distances("cosine").tolist()}
    i, j = divmod(int(distances.argmax()), len(pool.names))
    write_atomic(out / "compare.json", json.dumps(compare, indent=1), overwrite=True)
    heatmap = save_png(heatmap_figure(pool.names, distances, title="compare: ΔW distances"),
                       out / "compare-heatmap.png", overwrite=True)

    settings = EvolveSettings(**DEMO_SETTINGS)
    result = evolve(pool, settings, progress, save_to=out / EVOLVED_DIR)
    extra = {"settings": settings.to_json(), "seed": settings.seed, "source": str(source)}
    report = write_report(out / "evolve-report.json", build_report(pool, result, extra), overwrite=True)
    pool.snapshot(out / "evolve-state.json", extra)
    figures = write_figures(pool, out / "figures", overwrite=True, archive=result.archive)
    return {
        "source": str(source),
        "pool": pool.names,
        "compare": str(out / "compare.json"),
        "compare_heatmap": str(heatmap),
        "compared": compare["names"],
        "most_different": {"a": compare["names"][i], "b": compare["names"][j], "distance": float(distances[i, j])},
        "report": str(report),
        "state": str(out / "evolve-state.json"),
        "figures": {k: str(v) for k, v in figures.items()},
        "evolved_dir": str(out / EVOLVED_DIR),
        "score": settings.score,
        "kept": [{"name": m.name, "path": str(m.path), "score": m.score, "operator": m.origin.get("operator"),
                  "digits": digits(float(m.origin.get("resolution") or 0.0)), "retained_energy": m.retained_energy}
                 for m in result.kept],
        "archive": result.archive.to_json(pool.root_names()) if result.archive is not None else {"cells": []},
        "seconds": round(time.monotonic() - started, 2),
    }


def _claim(out: Path) -> None:
    """Create or re-enter a demo folder; refuse anything else that is not empty."""
    if out.exists() and not out.is_dir():
        raise StyleMixError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / DEMO_MARKER).exists():
        raise StyleMixError(f"{out}: folder is not empty and was not made by `demo` (choose another --out)")
    out.mkdir(parents=True, exist_ok=True)
    marker = out / DEMO_MARKER
    if not marker.exists():
        write_atomic(marker, "folder written by `python -m lib_stylemix demo`\n")
