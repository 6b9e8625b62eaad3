"""Pool kernels K_ij = Σ_modules ⟨ΔW_i, ΔW_j⟩_F from r×r products, never forming a dense ΔW.

Per module, stacking every file's factors side by side gives U = [Û_1 … Û_n] and D = [D_1; …; D_n];
with the Gram matrices G_U = UᵀU and G_D = D Dᵀ, ⟨ΔW_i, ΔW_j⟩ = tr((Û_iᵀÛ_j)(D_j D_iᵀ)) is the sum of the
(i, j) block of G_U ⊙ G_D. That is a few large BLAS calls per module instead of n² small ones (only the
upper-triangle blocks are multiplied, see `_gram`), and the result is invariant to re-factorisation
(Û·G, G⁻¹·D) by construction. Modules are processed one at a time across all files, so peak memory is one
module × n files. Products run in float32 (or float64 on request) and are summed in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.lora.arch import check_same_arch
from lib_stylemix.lora.file import LoraFile, ModuleInfo
from lib_stylemix.lora.metrics import cosine_from_gram, distance_from_gram  # the one place distances come from K
from lib_stylemix.lora.metrics import names as _metric_names
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress

METRICS = _metric_names()  # the built-in metrics; the registry (`lora.metrics`) also holds plugins


@dataclass
class Kernel:
    """n×n Gram matrix of the files' ΔW (float64), in total and per block-weight group."""

    names: list[str]
    total: np.ndarray
    by_block: dict[str, np.ndarray] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def norms(self) -> np.ndarray:
        """‖ΔW_i‖_F over all modules."""
        return np.sqrt(np.clip(np.diag(self.total), 0.0, None))


@dataclass
class CrossKernel:
    """len(a)×len(b) matrix of ⟨ΔW_a, ΔW_b⟩, in total and per block (for growing a pool incrementally)."""

    names_a: list[str]
    names_b: list[str]
    total: np.ndarray
    by_block: dict[str, np.ndarray] = field(default_factory=dict)


def kernel(files: Sequence[LoraFile], *, progress: Progress | None = None, cancel: CancelToken | None = None,
           dtype: Any = None, modules: Sequence[str] | None = None) -> Kernel:
    """Gram matrix of the files' ΔW over all modules (or only `modules`); a module a file lacks counts as zero."""
    files = list(files)
    check_same_arch(files)
    n = len(files)
    total = np.zeros((n, n))
    by_block: dict[str, np.ndarray] = {}

    def read(module: str, idx: list[int]) -> _Stack:
        return _stack([files[i] for i in idx], module, dtype)

    def accumulate(stack: _Stack, idx: list[int], block: str) -> None:
        block_k = by_block.setdefault(block, np.zeros((n, n)))
        block_k[np.ix_(idx, idx)] += _gram(stack, stack)

    walk = _walk(files, files, progress, cancel, "kernel", modules)
    _run(((module, idx, block) for module, (idx, _), block in walk if idx), read, accumulate)
    for block_k in by_block.values():
        total += block_k
    return Kernel(names=[f.name for f in files], total=total, by_block=by_block, paths=[str(f.path) for f in files])


def cross_kernel(files_a: Sequence[LoraFile], files_b: Sequence[LoraFile], *, progress: Progress | None = None,
                 cancel: CancelToken | None = None, dtype: Any = None,
                 modules: Sequence[str] | None = None) -> CrossKernel:
    """⟨ΔW_a, ΔW_b⟩ for every a in `files_a`, b in `files_b` (same arch required; optionally only `modules`)."""
    files_a, files_b = list(files_a), list(files_b)
    check_same_arch(files_a + files_b)
    total = np.zeros((len(files_a), len(files_b)))
    by_block: dict[str, np.ndarray] = {}

    def read(module: str, idx: tuple[list[int], list[int]]) -> tuple[_Stack, _Stack]:
        idx_a, idx_b = idx
        _check_same_shape(module, files_a[idx_a[0]], files_b[idx_b[0]])
        return (_stack([files_a[i] for i in idx_a], module, dtype),
                _stack([files_b[i] for i in idx_b], module, dtype))

    def accumulate(stacks: tuple[_Stack, _Stack], idx: tuple[list[int], list[int]], block: str) -> None:
        block_k = by_block.setdefault(block, np.zeros_like(total))
        block_k[np.ix_(*idx)] += _gram(*stacks)

    walk = _walk(files_a, files_b, progress, cancel, "cross kernel", modules)
    _run(((module, idx, block) for module, idx, block in walk if idx[0] and idx[1]), read, accumulate)
    for block_k in by_block.values():
        total += block_k
    return CrossKernel(names_a=[f.name for f in files_a], names_b=[f.name for f in files_b], total=total,
                       by_block=by_block)


def distances(k: Kernel, metric: str = "frobenius") -> np.ndarray:
    """Pairwise distances from a kernel: ‖ΔW_i − ΔW_j‖_F, or cosine distance 1 − cos(ΔW_i, ΔW_j).

    Rounding can make ‖·‖² slightly negative for near-identical files; it is clamped at 0.
    """
    return distance_from_gram(k.total, metric)


def cosine_similarity(k: Kernel) -> np.ndarray:
    """cos(ΔW_i, ΔW_j); a file with ΔW = 0 has similarity 0 to everything but itself."""
    return cosine_from_gram(k.total)


def legacy_distance_matrix(files: Sequence[LoraFile], *, progress: Progress | None = None,
                           cancel: CancelToken | None = None) -> np.ndarray:
    """LEGACY metric of the original experiment: mean |a − b| over all raw factor entries.

    Not a distance between effects: it changes when a file is re-factorised (Û·G, G⁻¹·D) while the images do
    not. Kept only to reproduce old numbers. Rule: over the `lora_up`/`lora_down` tensors (as stored, no
    alpha scaling) that both files have with the same shape; a pair sharing none is an error.
    """
    import torch

    files = list(files)
    check_same_arch(files)
    n = len(files)
    sums = np.zeros((n, n))
    counts = np.zeros((n, n))
    for module, (idx, _), _block in _walk(files, files, progress, cancel, "legacy metric"):
        for part in (0, 1):  # up, down
            by_shape: dict[tuple[int, ...], list[int]] = {}
            tensors: dict[int, Any] = {}
            for i in idx:
                tensor = files[i].raw(module)[part]
                tensors[i] = tensor
                by_shape.setdefault(tuple(tensor.shape), []).append(i)
            for group in by_shape.values():
                stacked = torch.stack([tensors[i].reshape(-1).float() for i in group])
                l1 = torch.cdist(stacked[None], stacked[None], p=1)[0].double().numpy()
                sums[np.ix_(group, group)] += l1
                counts[np.ix_(group, group)] += stacked.shape[1]
    if (counts == 0).any():
        i, j = (int(x) for x in np.argwhere(counts == 0)[0])
        raise StyleMixError(
            f"legacy metric: {files[i].name} and {files[j].name} share no factor tensors of the same shape "
            "(it only compares files with equal ranks)")
    out = sums / counts
    np.fill_diagonal(out, 0.0)
    return out


def _walk(files_a: Sequence[LoraFile], files_b: Sequence[LoraFile], progress: Progress | None,
          cancel: CancelToken | None, what: str, only: Sequence[str] | None = None):
    """Yield (module, (indices in a, indices in b), block) over the union of modules, with progress/cancel."""
    progress = progress or NullProgress()
    cancel = cancel or NeverCancel()
    modules = sorted(set().union(*(f.modules for f in files_a), *(f.modules for f in files_b)))
    if only is not None:
        wanted = set(only)
        modules = [m for m in modules if m in wanted]
    progress.begin(len(modules), what)
    owner = next(iter(files_a), None) or files_b[0]
    for done, module in enumerate(modules, 1):
        if cancel.cancelled():
            raise CancelledError(f"{what} stopped after {done - 1} of {len(modules)} modules")
        idx_a = [i for i, f in enumerate(files_a) if module in f.modules]
        idx_b = [i for i, f in enumerate(files_b) if module in f.modules]
        yield module, (idx_a, idx_b), owner.block_of(module)
        progress.step(done, module)
    progress.end()


@dataclass
class _Stack:
    """One module of k files: raw ups side by side (m×R), raw downs stacked (R×n), per-file alpha/r scales."""

    ups: np.ndarray
    downs: np.ndarray
    sizes: list[int]
    scales: np.ndarray
    files: list[LoraFile]
    module: str


def _check_finite(products: Sequence[np.ndarray], stacks: Sequence[_Stack]) -> None:
    """NaN/Inf in any factor shows up in the Gram products; only then scan the files to name the culprit."""
    if all(np.isfinite(p).all() for p in products):
        return
    for stack in stacks:
        for file in stack.files:
            file.factors(stack.module)  # raises LoraFormatError naming the file and module
    raise StyleMixError(f"module {stacks[0].module}: products overflow float32 (values too large)")


def _run(items: Iterable[tuple[str, Any, str]], read: Callable[[str, Any], Any],
         accumulate: Callable[[Any, Any, str], None]) -> None:
    """For each (module, indices, block): read the module's stacks, then multiply them.

    (Reading the next module on a helper thread while BLAS multiplies was measured slower on this 2-core
    machine — the reader competes with both BLAS threads — so the loop stays sequential.)
    """
    for module, idx, block in items:
        accumulate(read(module, idx), idx, block)


def _stack(files: Sequence[LoraFile], module: str, dtype: Any) -> _Stack:
    """Read one module from each file into one m×R and one R×n buffer (converted once, checked once).

    The fp16/bf16 → float32 conversion is torch's vectorised copy into preallocated numpy memory, done in
    chunks below torch's parallel grain (`_copy_serial`); the two Gram products then run in numpy's BLAS
    (`syrk`, which computes only one triangle). NaN/Inf is detected from the products (`_check_finite`).
    The alpha/r scales are applied to the small Gram results instead of the factors.
    """
    import torch

    first = files[0]
    for other in files[1:]:
        _check_same_shape(module, first, other)
    info = first.modules[module]
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    sizes = [f.modules[module].rank for f in files]
    total = sum(sizes)
    ups = np.empty((info.out_features, total), dtype=np_dtype)
    downs = np.empty((total, info.in_features), dtype=np_dtype)
    ups_t, downs_t = torch.from_numpy(ups), torch.from_numpy(downs)
    start = 0
    for file, r in zip(files, sizes, strict=True):
        up, down = file.raw(module)
        _copy_serial(ups_t[:, start:start + r], up.reshape(info.out_features, r))
        _copy_serial(downs_t[start:start + r], down.reshape(r, info.in_features))
        start += r
    scales = np.array([f.alpha(module) / r for f, r in zip(files, sizes, strict=True)])
    return _Stack(ups=ups, downs=downs, sizes=sizes, scales=scales, files=list(files), module=module)


_SERIAL_GRAIN = 32767  # below torch's internal GRAIN_SIZE (32768) a copy runs on the calling thread


def _copy_serial(dst: Any, src: Any) -> None:
    """`dst.copy_(src)` (converting the dtype) in row chunks small enough to stay on the calling thread.

    A single large copy would open an OpenMP region; its worker threads then spin-wait and compete with
    numpy's BLAS threads for this machine's 2 cores, which was measured several times slower under load.
    Row chunks keep torch's vectorised fp16/bf16 conversion (about 2× numpy's `astype`) without that cost.
    """
    rows = max(1, _SERIAL_GRAIN // max(1, int(src.shape[1])))
    for start in range(0, int(src.shape[0]), rows):
        dst[start:start + rows].copy_(src[start:start + rows])


def _gram(a: _Stack, b: _Stack) -> np.ndarray:
    """Block sums of (U_aᵀU_b) ⊙ (D_a D_bᵀ), scaled: the matrix of ⟨ΔW_i, ΔW_j⟩ for i in a, j in b.

    The products run in torch (its BLAS was measured faster on these tall-skinny shapes than numpy's
    OpenBLAS, even against OpenBLAS's triangle-only `syrk`). For a kernel (a is b) only the upper triangle
    is needed, so the columns are cut into panels of whole files (`_PANEL` columns or one file) and each
    panel is multiplied with itself and the files after it: at one file per panel that is n(n+1)/2 of the
    n² blocks. The element-wise product stays in the products' precision; the block sums accumulate in
    float64.
    """
    import torch

    if a is not b:
        gu = (torch.from_numpy(a.ups).T @ torch.from_numpy(b.ups)).numpy()
        gd = (torch.from_numpy(a.downs) @ torch.from_numpy(b.downs).T).numpy()
        _check_finite((gu, gd), (a, b))
        return _block_sums(gu * gd, a.sizes, b.sizes) * np.outer(a.scales, b.scales)
    n = len(a.sizes)
    out = np.zeros((n, n))
    ups, downs = torch.from_numpy(a.ups), torch.from_numpy(a.downs)
    starts = np.concatenate(([0], np.cumsum(a.sizes))).tolist()
    step = max(1, _PANEL // max(a.sizes))
    for i in range(0, n, step):
        j = min(i + step, n)
        lo, hi = starts[i], starts[j]
        gu = (ups[:, lo:hi].T @ ups[:, lo:]).numpy()
        gd = (downs[lo:hi] @ downs[lo:].T).numpy()
        # a NaN/Inf factor entry makes its own diagonal entry non-finite; |G_kl| ≤ √(G_kk G_ll) bounds the rest
        _check_finite((np.diagonal(gu), np.diagonal(gd)), (a,))
        out[i:j, i:] = _block_sums(gu * gd, a.sizes[i:j], a.sizes[i:])
    out = np.triu(out) + np.triu(out, 1).T
    return out * np.outer(a.scales, a.scales)


_PANEL = 64  # panel width in columns; measured at rank 32 and 128 against 32, 128 and 256 (see docs)


def _check_same_shape(module: str, a: LoraFile, b: LoraFile) -> None:
    ia: ModuleInfo = a.modules[module]
    ib: ModuleInfo = b.modules[module]
    if (ia.out_features, ia.in_features, ia.kind) != (ib.out_features, ib.in_features, ib.kind):
        raise StyleMixError(
            f"module {module}: {a.name} has {ia.kind} {ia.out_features}×{ia.in_features} but {b.name} has "
            f"{ib.kind} {ib.out_features}×{ib.in_features} (different base models?)")


def _block_sums(arr: np.ndarray, sizes_a: Sequence[int], sizes_b: Sequence[int]) -> np.ndarray:
    """Sum a (Σa × Σb) array over the blocks given by the two size lists, accumulating in float64."""
    if len(set(sizes_a)) == 1 and len(set(sizes_b)) == 1:  # equal ranks: one strided reduction
        ra, rb = sizes_a[0], sizes_b[0]
        return arr.reshape(len(sizes_a), ra, len(sizes_b), rb).sum(axis=(1, 3), dtype=np.float64)
    arr = arr.astype(np.float64)
    starts_a = np.concatenate(([0], np.cumsum(sizes_a)[:-1]))
    starts_b = np.concatenate(([0], np.cumsum(sizes_b)[:-1]))
    return np.add.reduceat(np.add.reduceat(arr, starts_a, axis=0), starts_b, axis=1)
