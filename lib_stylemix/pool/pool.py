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
from lib_stylemix.pool.algebra import KernelSpace
from lib_stylemix.pool.kcache import KernelCache
from lib_stylemix.pool.lineage import read_lineage
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
    derived: Any = None  # a `derived.DerivedRoot` (spectral mutation), computed from the other roots


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
        self.skipped: list[Any] = []  # lora.batch_open.Skipped of the last `add`: files that could not be read
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
        strict: bool = False,
    ) -> Pool:
        """A pool of the LoRA files in `sources` (files, folders, or glob patterns), K from `cache_dir`.

        Unreadable files are skipped (listed in `pool.skipped`), or an error with `strict`.
        """
        pool = Pool(cache=KernelCache(cache_dir))
        pool.add(sources, progress=progress, cancel=cancel, strict=strict)
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
        self, sources: Iterable[str | Path], *, progress: Progress | None = None, cancel: CancelToken | None = None,
        strict: bool = False,
    ) -> list[Member]:
        """Add LoRA files and return the members that joined.

        A file already in the pool (same sshs hash) is skipped; one that was removed earlier comes back. A file
        that cannot be read is left out and listed in `self.skipped` (with `strict`, it is an error instead).
        """
        from lib_stylemix.lora import check_same_arch
        from lib_stylemix.lora.batch_open import open_many

        if any(r.lora is None and r.derived is None for r in self.roots.values()):
            raise StyleMixError("this pool was built from a kernel only; files cannot be added to it")
        batch = open_many(sources, strict=strict)
        self.skipped = list(batch.skipped)
        if not batch.files and batch.skipped:
            first = batch.skipped[0]
            more = f" (and {len(batch.skipped) - 1} more unreadable)" if len(batch.skipped) > 1 else ""
            raise StyleMixError(f"{first.path}: {first.reason}{more}")
        opened = []
        returning: list[Member] = []
        seen = set(self.roots)
        for lora in batch.files:
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
            read_lineage(member, lora.metadata)  # a file StyleMix wrote comes back with its parents and recipe
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

    def adopt_derived(self, root: Any, space: KernelSpace | None = None) -> str:
        """Make a derived root (`derived.DerivedRoot`) part of the pool; K rows from `space` when it has them."""
        from lib_stylemix.pool.derived import augment

        if root.key in self.roots:
            return root.key
        if space is not None and root.key in space.keys:
            keep = [space.keys.index(k) for k in (*self.space.keys, root.key)]
            self.space = KernelSpace(tuple(space.keys[i] for i in keep), space.blocks,
                                     space.by_block[:, keep][:, :, keep])
        else:
            self.space = augment(self, self.space, [root])
        self.roots[root.key] = RootFile(root.key, root.name, derived=root)
        return root.key

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

    def root(self, key: str) -> RootFile:
        """The root file with sshs hash `key` (every recipe term names one)."""
        try:
            return self.roots[key]
        except KeyError:
            raise StyleMixError(f"recipe refers to a file that is not in the pool (sshs hash {key})") from None

    def mix(self, members: list[Member], weights: list[float]) -> Recipe:
        """The recipe Σ wᵢ·memberᵢ over the root files (recipe members are expanded, so it stays exact)."""
        coef = sum(w * c for w, c in zip(weights, self.coefficients(members), strict=True))
        return Recipe.from_dense(np.asarray(coef), self.space.keys, self.space.blocks)

    def block_grams(self, members: list[Member]) -> list[tuple[str, np.ndarray]]:
        """Per block, the Gram matrix ⟨ΔWᵢ, ΔWⱼ⟩ of `members` restricted to that block (exact from K)."""
        x = self.coefficients(members)
        return [(block, x[:, b, :] @ self.space.by_block[b] @ x[:, b, :].T)
                for b, block in enumerate(self.space.blocks)]

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
        return MemberKernel(self.names, self.space.gram(x, x), dict(self.block_grams(self._members)))

    def gram(self) -> np.ndarray:
        """⟨ΔWᵢ, ΔWⱼ⟩ between current members (recipes included), exact from K."""
        x = self.coefficients()
        return self.space.gram(x, x)

    def distances(self, metric: str = "frobenius") -> np.ndarray:
        """Member × member distances under a registered metric (`lora.metrics`: frobenius, cosine, …)."""
        from lib_stylemix.lora.metrics import distance_from_gram

        return distance_from_gram(self.gram(), metric)

    def norms(self) -> np.ndarray:
        return np.sqrt(self.space.sq_norms(self.coefficients()))

    def _extend_kernel(self, new: list[Any], progress: Progress, cancel: CancelToken) -> None:
        """Fill K for old ∪ new roots from the cache, computing only the pairs it lacks."""
        from lib_stylemix.lora import block_names, cross_kernel, kernel

        old = [r.lora for r in self.roots.values() if r.lora is not None]
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
        derived = [r.derived for r in self.roots.values() if r.derived is not None]
        if derived:  # K rows of derived roots are recomputed from factors (never cached)
            from lib_stylemix.pool.derived import augment

            self.space = augment(self, self.space, derived)

    # ----- saving ---------------------------------------------------------------------------------------------

    def save_recipe(
        self,
        name: str,
        folder: str | Path,
        *,
        max_rank: int | None = None,
        dtype: str = "fp16",
        settings: Any = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
        on_plan: Any = None,
    ) -> Path:
        """Materialise a recipe member as `<folder>/<name>.safetensors` (see `saving.save_member`); `settings`
        (an `EvolveSettings`) gives the energy target, rank / size caps and score name."""
        from lib_stylemix.pool.saving import SaveOptions, save_member

        options = SaveOptions(max_rank=max_rank, dtype=dtype)
        if settings is not None:
            options = SaveOptions(energy=settings.energy, max_rank=settings.max_rank, rank_cap=settings.rank_cap,
                                  max_file_mb=settings.max_file_mb, dtype=dtype, score_kind=settings.score)
        return save_member(self, self.member(name), Path(folder), options, progress or NullProgress(),
                           cancel or NeverCancel(), on_plan)

    # ----- snapshot -----------------------------------------------------------------------------------------

    def snapshot_doc(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        names = self.root_names()
        return {
            "format": SNAPSHOT_FORMAT,
            "version": 1,
            "arch": self.arch,
            "generation": self.generation,
            "roots": [{"key": r.key, "name": r.name, "path": str(r.path) if r.path else None,
                       **({"derived": r.derived.to_json()} if r.derived is not None else {})}
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
        roots = [r for r in doc.get("roots") or [] if "derived" not in r]
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
        from lib_stylemix.pool.derived import DerivedRoot

        for r in doc.get("roots") or []:
            if "derived" in r and r["key"] not in self.roots:
                self.adopt_derived(DerivedRoot.from_json(r["derived"]))
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
