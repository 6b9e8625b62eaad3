"""The LoRA pool: root files, in-memory recipes over them, and the kernel K that measures them all.

Files are opened lazily through the LoRA engine and never modified or deleted (removing a member only
forgets it). K over the root files comes from a `KernelCache` and is extended incrementally when files are
added; every member — file or recipe — is measured exactly from K (see `algebra.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic
from lib_stylemix.lora.paths import expand_lora_paths
from lib_stylemix.pool.algebra import KernelSpace
from lib_stylemix.pool.kcache import KernelCache
from lib_stylemix.pool.members import FILE, RECIPE, Member
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

SNAPSHOT_FORMAT = "stylemix-pool"


@dataclass
class RootFile:
    """A LoRA file that recipes are built from; `lora` is the engine's lazy `LoraFile` (None in K-only pools)."""

    key: str
    name: str
    path: Path | None = None
    lora: Any = None
    rank: int | None = None


@dataclass
class MemberKernel:
    """⟨ΔWᵢ, ΔWⱼ⟩ between pool members: `total` (n×n) and per block (same shape as the engine's `Kernel`)."""

    names: list[str]
    total: np.ndarray
    by_block: dict[str, np.ndarray]


class Pool:
    """Members (files and recipes) over root files, with K per block for exact ΔW geometry."""

    def __init__(self, *, cache: KernelCache | None = None, block_order: tuple[str, ...] = ()) -> None:
        self.roots: dict[str, RootFile] = {}
        self.space = KernelSpace((), (), np.zeros((1, 0, 0)))
        self.cache = cache if cache is not None else KernelCache(None)
        self.block_order = block_order
        self.arch: str | None = None
        self.generation = 0
        self._members: list[Member] = []
        self.history: dict[str, Member] = {}

    # ----- construction -------------------------------------------------------------------------------------

    @staticmethod
    def load(
        sources: Iterable[str | Path],
        *,
        cache_dir: str | Path | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Pool:
        """A pool of the LoRA files in `sources` (files, folders, or glob patterns), K from `cache_dir`."""
        pool = Pool(cache=KernelCache(cache_dir))
        pool.add(sources, progress=progress, cancel=cancel)
        return pool

    @staticmethod
    def from_kernel(
        names: list[str],
        total: np.ndarray,
        by_block: Mapping[str, np.ndarray] | None = None,
        keys: list[str] | None = None,
    ) -> Pool:
        """A K-only pool (no files): for planning, tests and benchmarks; recipes can be scored but not saved."""
        pool = Pool()
        keys = keys or [f"k{i:04d}" for i in range(len(names))]
        pool.space = KernelSpace.build(tuple(keys), total, by_block or {})
        for key, name in zip(keys, names, strict=False):
            pool.roots[key] = RootFile(key, name)
            pool._add_member(Member(pool._unique(name), Recipe.of_file(key, pool.space.blocks)))
        return pool

    # ----- membership ---------------------------------------------------------------------------------------

    @property
    def members(self) -> list[Member]:
        return list(self._members)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._members]

    def member(self, name: str) -> Member:
        for m in self._members:
            if m.name == name:
                return m
        raise StyleMixError(f"{name!r}: not in the pool (members: {', '.join(self.names) or 'none'})")

    def __len__(self) -> int:
        return len(self._members)

    def add(
        self, sources: Iterable[str | Path], *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> list[Member]:
        """Add LoRA files and return the members that joined.

        A file already in the pool (same sshs hash) is skipped; one that was removed earlier comes back.
        """
        from lib_stylemix.lora import check_same_arch, open_lora

        if any(r.lora is None for r in self.roots.values()):
            raise StyleMixError("this pool was built from a kernel only; files cannot be added to it")
        paths = expand_lora_paths(sources)
        opened = []
        returning: list[Member] = []
        seen = set(self.roots)
        for path in paths:
            lora = open_lora(path)
            key = lora.model_hash
            if key in self.roots:
                returning.extend(self._readmit(key))
            if key in seen:
                continue
            seen.add(key)
            opened.append(lora)
        if not opened:
            return returning
        known = [r.lora for r in self.roots.values() if r.lora is not None]
        self.arch = check_same_arch(known + opened)
        self._extend_kernel(opened, progress or NullProgress(), cancel or NeverCancel())
        added = []
        for lora in opened:
            root = RootFile(lora.model_hash, lora.name, Path(lora.path), lora, int(lora.rank))
            self.roots[root.key] = root
            member = Member(self._unique(lora.name), Recipe.of_file(root.key, self.space.blocks), path=root.path)
            self._add_member(member)
            added.append(member)
        return returning + added

    def _readmit(self, key: str) -> list[Member]:
        """Bring a removed file member back (at most once)."""
        if any(m.kind == FILE and m.recipe.roots == (key,) for m in self._members):
            return []
        for m in self.history.values():
            if m.kind == FILE and m.recipe.roots == (key,):
                self._members.append(m)
                return [m]
        return []

    def add_recipe(self, member: Member) -> Member:
        """Add an in-memory recipe member (its name is made unique); every file it uses must be a root."""
        member.recipe.dense(self.space.keys)
        member.kind = RECIPE
        member.name = self._unique(member.name)
        self._add_member(member)
        return member

    def remove(self, name: str) -> Member:
        """Forget a member. Its file (if any) is left alone; recipes built on it keep working."""
        member = self.member(name)
        self._members.remove(member)
        return member

    def rename(self, old: str, new: str) -> Member:
        new = new.strip()
        if not new or any(ch in new for ch in '/\\:*?"<>|\x00') or new in {".", ".."}:
            raise StyleMixError(f"{new!r}: not usable as a member name (it becomes a file name)")
        if new != old and new in self.history:
            raise StyleMixError(f"{new!r}: a pool member already has that name")
        member = self.member(old)
        del self.history[old]
        member.name = new
        self.history[new] = member
        for other in self.history.values():
            other.parents = tuple(new if p == old else p for p in other.parents)
        return member

    def _unique(self, name: str) -> str:
        if name not in self.history:
            return name
        i = 2
        while f"{name}_{i}" in self.history:
            i += 1
        return f"{name}_{i}"

    def _add_member(self, member: Member) -> None:
        self._members.append(member)
        self.history[member.name] = member

    # ----- geometry -----------------------------------------------------------------------------------------

    def root_names(self) -> dict[str, str]:
        return {key: root.name for key, root in self.roots.items()}

    def coefficients(self, members: list[Member] | None = None) -> np.ndarray:
        """Stack of (blocks × roots) coefficient matrices, one per member (default: current members)."""
        members = self._members if members is None else members
        keys, blocks = self.space.keys, self.space.blocks
        if not members:
            return np.zeros((0, len(blocks), len(keys)))
        return np.stack([m.recipe.dense(keys, blocks) for m in members])

    def kernel(self) -> MemberKernel:
        """K between current members (recipes included), in total and per block, exact from the file kernel."""
        x = self.coefficients()
        by_block = {}
        for b, block in enumerate(self.space.blocks):
            xb = x[:, b, :]
            by_block[block] = xb @ self.space.by_block[b] @ xb.T
        return MemberKernel(self.names, self.space.gram(x, x), by_block)

    def gram(self) -> np.ndarray:
        """⟨ΔWᵢ, ΔWⱼ⟩ between current members (recipes included), exact from K."""
        x = self.coefficients()
        return self.space.gram(x, x)

    def distances(self, metric: str = "frobenius") -> np.ndarray:
        """Member × member distances: Frobenius ‖ΔWᵢ − ΔWⱼ‖ or cosine distance 1 − cos."""
        g = self.gram()
        d = np.sqrt(np.maximum(np.diag(g)[:, None] + np.diag(g)[None, :] - 2 * g, 0.0))
        if metric == "frobenius":
            np.fill_diagonal(d, 0.0)
            return d
        if metric == "cosine":
            norms = np.sqrt(np.maximum(np.diag(g), 0.0))
            denom = np.outer(norms, norms)
            cos = np.divide(g, denom, out=np.zeros_like(g), where=denom > 0)
            out = 1.0 - np.clip(cos, -1.0, 1.0)
            np.fill_diagonal(out, 0.0)
            return out
        raise StyleMixError(f"{metric!r}: unknown metric (use frobenius or cosine)")

    def norms(self) -> np.ndarray:
        return np.sqrt(self.space.sq_norms(self.coefficients()))

    def _extend_kernel(self, new: list[Any], progress: Progress, cancel: CancelToken) -> None:
        """Fill K for old ∪ new roots from the cache, computing only the pairs it lacks."""
        from lib_stylemix.lora import block_names, cross_kernel, kernel

        old = [r.lora for r in self.roots.values()]
        files = old + new
        keys = [f.model_hash for f in files]
        total, by_block = self.cache.get(keys)
        missing = _to_compute(total)
        if missing:
            have = [i for i in range(len(files)) if i not in set(missing)]
            need_files = [files[i] for i in missing]
            k_need = kernel(need_files, progress=progress, cancel=cancel)
            parts: list[tuple[list[int], list[int], Any]] = [(missing, missing, k_need)]
            if have:
                k_cross = cross_kernel([files[i] for i in have], need_files, progress=progress, cancel=cancel)
                parts.append((have, missing, k_cross))
            for b in {b for _, _, k in parts for b in k.by_block}:
                by_block.setdefault(b, np.full(total.shape, np.nan))
            for rows, cols, k in parts:
                _place(total, rows, cols, k.total)
                for b, m in by_block.items():
                    _place(m, rows, cols, k.by_block.get(b, np.zeros_like(k.total)))
            self.cache.put(keys, total, by_block)
        by_block = {b: np.nan_to_num(m) for b, m in by_block.items()}
        order = tuple(block_names(self.arch)) if self.arch else ()
        self.block_order = order
        self.space = KernelSpace.build(tuple(keys), total, by_block, order)

    # ----- saving ---------------------------------------------------------------------------------------------

    def save_recipe(
        self,
        name: str,
        folder: str | Path,
        *,
        max_rank: int | None = None,
        dtype: str = "fp16",
        score_kind: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Path:
        """Materialise a recipe member as `<folder>/<name>.safetensors` (see `saving.save_member`)."""
        from lib_stylemix.pool.saving import save_member

        member = self.member(name)
        return save_member(self, member, Path(folder), max_rank=max_rank, dtype=dtype, score_kind=score_kind,
                           progress=progress or NullProgress(), cancel=cancel or NeverCancel())

    # ----- snapshot -----------------------------------------------------------------------------------------

    def snapshot_doc(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        names = self.root_names()
        return {
            "format": SNAPSHOT_FORMAT,
            "version": 1,
            "arch": self.arch,
            "generation": self.generation,
            "roots": [{"key": r.key, "name": r.name, "path": str(r.path) if r.path else None}
                      for r in self.roots.values()],
            "members": self.names,
            "lineage": [m.to_json(names) for m in self.history.values()],
            **(dict(extra) if extra else {}),
        }

    def snapshot(self, path: str | Path, extra: Mapping[str, Any] | None = None, *, overwrite: bool = True) -> Path:
        """Write the pool state (members, recipes, lineage, scores, plus `extra`: settings, seed…) as JSON."""
        doc = self.snapshot_doc(extra)
        return write_atomic(path, json.dumps(doc, indent=1, allow_nan=False), overwrite=overwrite)

    @staticmethod
    def resume(
        path: str | Path,
        *,
        cache_dir: str | Path | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[Pool, dict[str, Any]]:
        """Rebuild a pool from a snapshot; returns it and the whole snapshot document (for settings, seed…)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StyleMixError(f"{path}: cannot read pool snapshot ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise StyleMixError(f"{path}: not a StyleMix pool snapshot")
        pool = Pool(cache=KernelCache(cache_dir))
        roots = doc.get("roots") or []
        missing = [r for r in roots if not r.get("path") or not Path(r["path"]).is_file()]
        if missing:
            gone = ", ".join(str(r.get("path")) for r in missing)
            raise StyleMixError(f"{path}: file(s) of the snapshot are gone: {gone}")
        pool.add([Path(r["path"]) for r in roots], progress=progress, cancel=cancel)
        pool._restore(doc, path)
        return pool, doc

    @staticmethod
    def resume_from_doc(doc: Mapping[str, Any], template: Pool) -> Pool:
        """Rebuild a K-only pool from a snapshot document, taking roots and K from `template`."""
        pool = Pool(cache=template.cache, block_order=template.block_order)
        pool.roots = dict(template.roots)
        pool.space = template.space
        pool.arch = template.arch
        pool._restore(doc, Path("<snapshot>"))
        return pool

    def _restore(self, doc: Mapping[str, Any], path: Path) -> None:
        by_key = {r["key"]: r for r in doc.get("roots") or []}
        changed = [r["path"] or r["name"] for k, r in by_key.items() if k not in self.roots]
        if changed:
            raise StyleMixError(f"{path}: file(s) changed since the snapshot (different sshs hash): "
                                + ", ".join(changed))
        try:
            lineage = [Member.from_json(m) for m in doc.get("lineage") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise StyleMixError(f"{path}: malformed lineage in snapshot ({exc!r})") from exc
        self._members = []
        self.history = {}
        for m in lineage:
            self.history[m.name] = m
        for name in doc.get("members") or []:
            if name not in self.history:
                raise StyleMixError(f"{path}: member {name!r} has no lineage entry")
            self._members.append(self.history[name])
        self.generation = int(doc.get("generation", 0))


def _to_compute(total: np.ndarray) -> list[int]:
    """Files whose K rows must be computed: those the cache has never seen, plus enough others to cover any
    unknown pair between known files (a cache shared by pools that were never compared)."""
    need = {i for i in range(len(total)) if np.isnan(total[i, i])}
    for i, j in zip(*np.nonzero(np.isnan(total)), strict=True):
        if i not in need and j not in need:
            need.add(int(j))
    return sorted(need)


def _place(target: np.ndarray, rows: list[int], cols: list[int], block: np.ndarray) -> None:
    """Write a rows × cols kernel block and its transpose (K is symmetric)."""
    target[np.ix_(rows, cols)] = block
    target[np.ix_(cols, rows)] = np.asarray(block).T
