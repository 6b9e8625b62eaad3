"""On-disk cache of the file kernel K, keyed by each file's `sshs_model_hash`.

K costs one pass over every pair of files, so it is computed once per pair and reused across runs; a file
whose bytes change gets a new hash and is simply a new key. Unknown pairs are stored as null (a cache can
hold several pools whose files were never compared with each other). A damaged cache is ignored, never fatal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lib_stylemix.fsutil import write_atomic

CACHE_NAME = "kernel.json"
FORMAT = "stylemix-kernel"


class KernelCache:
    """K entries for many files; `folder=None` keeps them in memory only."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.keys: list[str] = []
        self.total = np.zeros((0, 0))
        self.by_block: dict[str, np.ndarray] = {}
        if self.folder is not None:
            self._read()

    @property
    def path(self) -> Path | None:
        return self.folder / CACHE_NAME if self.folder is not None else None

    def _read(self) -> None:
        path = self.path
        if path is None or not path.is_file():
            return
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                return
            keys = [str(k) for k in doc["keys"]]
            n = len(keys)
            total = _matrix(doc["total"], n)
            by_block = {str(b): _matrix(m, n) for b, m in doc["by_block"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return
        self.keys, self.total, self.by_block = keys, total, by_block

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sub-kernel for `keys` (NaN where a pair is unknown) and the per-block sub-kernels."""
        index = {k: i for i, k in enumerate(self.keys)}
        n = len(keys)
        total = np.full((n, n), np.nan)
        by_block = {b: np.full((n, n), np.nan) for b in self.by_block}
        rows = [(i, index[k]) for i, k in enumerate(keys) if k in index]
        if rows:
            ours = np.array([i for i, _ in rows])
            theirs = np.array([j for _, j in rows])
            total[np.ix_(ours, ours)] = self.total[np.ix_(theirs, theirs)]
            for b, m in self.by_block.items():
                by_block[b][np.ix_(ours, ours)] = m[np.ix_(theirs, theirs)]
        return total, by_block

    def put(self, keys: Sequence[str], total: np.ndarray, by_block: Mapping[str, np.ndarray]) -> None:
        """Merge a (complete or NaN-holed) kernel for `keys` into the cache and write it to disk."""
        all_keys = list(self.keys) + [k for k in keys if k not in set(self.keys)]
        n = len(all_keys)
        old = len(self.keys)
        new_total = np.full((n, n), np.nan)
        new_total[:old, :old] = self.total
        blocks = list(self.by_block) + [b for b in by_block if b not in self.by_block]
        new_blocks = {b: np.full((n, n), np.nan) for b in blocks}
        for b, m in self.by_block.items():
            new_blocks[b][:old, :old] = m
        pos = np.array([all_keys.index(k) for k in keys], dtype=int)
        if len(pos):
            _fill(new_total, pos, total)
            for b in blocks:
                _fill(new_blocks[b], pos, by_block.get(b, np.zeros_like(total)))
        self.keys, self.total, self.by_block = all_keys, new_total, new_blocks
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        doc = {
            "format": FORMAT,
            "version": 1,
            "keys": self.keys,
            "total": _rows(self.total),
            "by_block": {b: _rows(m) for b, m in self.by_block.items()},
        }
        write_atomic(self.path, json.dumps(doc, separators=(",", ":")), overwrite=True)


def _fill(target: np.ndarray, pos: np.ndarray, values: np.ndarray) -> None:
    """Copy the known (non-NaN) entries of `values` into `target` at rows/columns `pos`."""
    sub = target[np.ix_(pos, pos)]
    known = ~np.isnan(values)
    sub[known] = values[known]
    target[np.ix_(pos, pos)] = sub


def _rows(m: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else float(v) for v in row] for row in m]


def _matrix(rows: list[list[float | None]], n: int) -> np.ndarray:
    m = np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64)
    if m.shape != (n, n) and not (n == 0 and m.size == 0):
        raise ValueError("kernel cache matrix has the wrong shape")
    return m.reshape(n, n)
