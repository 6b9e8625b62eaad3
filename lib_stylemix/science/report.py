"""The correlation report on disk: JSON plus a PNG (ΔW vs image distance per pair, ρ, CI, worst pairs).

The figure uses matplotlib's object API on an Agg canvas (never pyplot), like `lib_stylemix.pool.figures`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lib_stylemix.fsutil import write_atomic
from lib_stylemix.science.correlation import CorrelationReport, upper


def report_figure(report: CorrelationReport) -> Any:
    """Scatter of the pairs (ΔW on x, image on y) beside the list of pairs where the two disagree most."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.12, 0.5, 0.76))
    ax.scatter(upper(report.dw), upper(report.image), s=18, alpha=0.75)
    ax.set_xlabel("ΔW distance ‖ΔWᵢ − ΔWⱼ‖")
    ax.set_ylabel("image-space style distance (W₂)")
    ci = "n/a" if report.bootstrap_samples == 0 else f"[{report.ci_low:.2f}, {report.ci_high:.2f}]"
    ax.set_title(f"Spearman ρ = {report.rho:.3f}   {int(report.level * 100)}% CI {ci}", fontsize=10)
    text = ax.figure.add_axes((0.62, 0.12, 0.36, 0.76))
    text.axis("off")
    lines = ["Pairs where ΔW and images disagree most", "(rank 1 = closest pair)", ""]
    lines += [f"{d.a} – {d.b}: ΔW #{d.dw_rank:g}, image #{d.image_rank:g}" for d in report.worst]
    if report.block_rho:
        lines += ["", "ρ per block (best first):"]
        ranked = sorted(report.block_rho.items(), key=lambda kv: -kv[1] if kv[1] == kv[1] else 1e9)
        lines += [f"  {block}: {rho:.3f}" for block, rho in ranked[:8]]
    text.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=8, family="monospace")
    return fig


def save_report_png(report: CorrelationReport, path: str | Path, *, overwrite: bool = False) -> Path:
    from lib_stylemix.pool.figures import save_png

    return save_png(report_figure(report), path, overwrite=overwrite)


def write_report(report: CorrelationReport, folder: str | Path, stem: str = "style_correlation", *,
                 overwrite: bool = False) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.png` into `folder` (next to the pool's report); returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = write_atomic(folder / f"{stem}.json", json.dumps(report.to_json(), indent=1), overwrite=overwrite)
    png_path = save_report_png(report, folder / f"{stem}.png", overwrite=overwrite)
    return json_path, png_path
