"""Run reports: one JSON document (members, candidates with recipes and scores, kept, lineage) plus figures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.fsutil import write_atomic
from lib_stylemix.pool.archive import Archive
from lib_stylemix.pool.evolve import EvolveResult
from lib_stylemix.pool.pool import Pool

REPORT_FORMAT = "stylemix-evolve-report"
FIGURES = ("heatmap", "pool-map", "lineage")


def build_report(pool: Pool, result: EvolveResult | None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    names = pool.root_names()
    root_index = {key: i for i, key in enumerate(pool.space.keys)}
    norms = pool.norms()
    members = []
    for member, norm in zip(pool.members, norms, strict=True):
        doc = member.to_json(names)
        doc["norm"] = float(norm)
        members.append(doc)
    generations = []
    for gen in result.generations if result else []:
        generations.append({
            "index": gen.index,
            "seconds": round(gen.seconds, 4),
            "candidates": [c.to_json(root_index) for c in gen.candidates],
            "kept": [m.name for m in gen.kept],
            "evicted": gen.evicted,
            "saved": {k: str(v) for k, v in gen.saved.items()},
        })
    return {
        "format": REPORT_FORMAT,
        "version": 1,
        "arch": pool.arch,
        # Candidate recipes are compact: [[index into "roots", weight or one weight per entry of "blocks"]…].
        "roots": [{"key": key, "name": names.get(key, key), "path": _path(pool, key)} for key in pool.space.keys],
        "blocks": list(pool.space.blocks),
        "members": members,
        "distances": {"names": pool.names, "frobenius": _rows(pool.distances("frobenius")),
                      "cosine": _rows(pool.distances("cosine"))},
        "generations": generations,
        "cancelled": bool(result.cancelled) if result else False,
        "archive": result.archive.to_json(names) if result is not None and result.archive is not None else None,
        "lineage": [m.to_json(names) for m in pool.history.values()],
        **(dict(extra) if extra else {}),
    }


def write_report(path: str | Path, doc: Mapping[str, Any], *, overwrite: bool = False) -> Path:
    """Compact JSON (reports hold every candidate of every generation)."""
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return write_atomic(path, text, overwrite=overwrite)


def _path(pool: Pool, key: str) -> str | None:
    root = pool.roots.get(key)
    return str(root.path) if root is not None and root.path is not None else None


def write_figures(pool: Pool, folder: str | Path, *, overwrite: bool = False,
                  archive: Archive | None = None) -> dict[str, Path]:
    """Heatmap of the current members, pool map and lineage tree of everything the pool ever held, and the
    QD archive's grid when there is one."""
    from lib_stylemix.pool.figures import heatmap_figure, lineage_figure, pool_map_figure, save_png

    folder = Path(folder)
    out: dict[str, Path] = {}
    fig = heatmap_figure(pool.names, pool.distances("frobenius"), title="Pool ΔW distances (Frobenius)")
    out["heatmap"] = save_png(fig, folder / "heatmap.png", overwrite=overwrite)

    everyone = list(pool.history.values())
    index = {m.name: i for i, m in enumerate(everyone)}
    coefs = pool.coefficients(everyone)
    gram = pool.space.gram(coefs, coefs)
    edges = [(index[p], index[m.name]) for m in everyone for p in m.parents if p in index]
    generations = [m.generation for m in everyone]
    fig = pool_map_figure([m.name for m in everyone], gram, edges, generations)
    out["pool-map"] = save_png(fig, folder / "pool-map.png", overwrite=overwrite)

    current = set(pool.names)
    fig = lineage_figure([m.name for m in everyone], [m.parents for m in everyone], generations,
                         [m.name in current for m in everyone])
    out["lineage"] = save_png(fig, folder / "lineage.png", overwrite=overwrite)
    if archive is not None:
        from lib_stylemix.pool.archive_figure import archive_figure

        out["archive"] = save_png(archive_figure(archive), folder / "archive.png", overwrite=overwrite)
    return out


def _rows(m: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in m]
