"""Pool kernels K_ij = Σ_modules ⟨ΔW_i, ΔW_j⟩_F from r×r products, never forming a dense ΔW.

Per module, stacking every file's factors side by side gives U = [Û_1 … Û_n] and D = [D_1; …; D_n];
with the Gram matrices G_U = UᵀU and G_D = D Dᵀ, ⟨ΔW_i, ΔW_j⟩ = tr((Û_iᵀÛ_j)(D_j D_iᵀ)) is the sum of the
(i, j) block of G_U ⊙ G_D, and the result is invariant to re-factorisation (Û·G, G⁻¹·D) by construction.

Batching: modules with the same shape in every file (same files present, same ranks) form one batch, read
into one (G, m, Σr) and one (G, Σr, n) float32 stack and multiplied by one stacked `np.matmul` each, which
numpy runs as a triangle-only `syrk` per slice for the kernel (UᵀU with U shared): n(n+1)/2 of the n²
blocks, the compute floor. Batches are cut at `_BATCH_BYTES` of stacked factors, so peak memory stays
bounded whatever the pool. Plain kohya modules in safetensors files are read straight from their bytes
(`rawread`: one memory map per file, fp16/bf16 → float32 converted once into the stack); every other module
or format goes through `LoraFile.factors`. Products run in float32 (or float64 on request) and are summed
in float64. The whole computation runs inside `threads.compute_threads()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.lora.arch import check_same_arch
from lib_stylemix.lora.file import LoraFile, ModuleInfo
from lib_stylemix.lora.metrics import cosine_from_gram, distance_from_gram  # the one place distances come from K
from lib_stylemix.lora.metrics import names as _metric_names
from lib_stylemix.lora.rawread import RawFile
from lib_stylemix.seams import CancelToken, NeverCancel, NullProgress, Progress
from lib_stylemix.threads import compute_threads

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
    by_block = _products(files, files, _Options(progress, cancel, dtype, modules, "kernel"))
    total = np.zeros((n, n))
    for block_k in by_block.values():
        total += block_k
    return Kernel(names=[f.name for f in files], total=total, by_block=by_block, paths=[str(f.path) for f in files])


def cross_kernel(files_a: Sequence[LoraFile], files_b: Sequence[LoraFile], *, progress: Progress | None = None,
                 cancel: CancelToken | None = None, dtype: Any = None,
                 modules: Sequence[str] | None = None) -> CrossKernel:
    """⟨ΔW_a, ΔW_b⟩ for every a in `files_a`, b in `files_b` (same arch required; optionally only `modules`)."""
    files_a, files_b = list(files_a), list(files_b)
    check_same_arch(files_a + files_b)
    by_block = _products(files_a, files_b, _Options(progress, cancel, dtype, modules, "cross kernel"))
    total = np.zeros((len(files_a), len(files_b)))
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
    modules = _module_names(files_a, files_b, only)
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


def _module_names(files_a: Sequence[LoraFile], files_b: Sequence[LoraFile], only: Sequence[str] | None) -> list[str]:
    modules = sorted(set().union(*(f.modules for f in files_a), *(f.modules for f in files_b)))
    if only is not None:
        wanted = set(only)
        modules = [m for m in modules if m in wanted]
    return modules


@dataclass
class _Options:
    progress: Progress | None
    cancel: CancelToken | None
    dtype: Any
    only: Sequence[str] | None
    what: str


@dataclass(frozen=True)
class _Side:
    """Which files hold a module, with their ranks (one side of the products)."""

    idx: tuple[int, ...]
    ranks: tuple[int, ...]


@dataclass
class _Batch:
    """Modules multiplied together: same shape, same files and ranks on each side; `fast` = raw reads."""

    modules: list[str]
    a: _Side
    b: _Side
    rows: int
    cols: int
    fast: bool


_BATCH_BYTES = 32 << 20  # stacked factors (all files, both sides) of one batch: bounds the extra memory


def _products(files_a: list[LoraFile], files_b: list[LoraFile], opts: _Options) -> dict[str, np.ndarray]:
    """Per-block matrices of ⟨ΔW_a, ΔW_b⟩ (files_b is files_a for a kernel: triangle-only products)."""
    progress = opts.progress or NullProgress()
    cancel = opts.cancel or NeverCancel()
    same = files_a is files_b
    batches = _plan(files_a, files_b, opts.only, same)
    total = sum(len(b.modules) for b in batches)
    owner = files_a[0] if files_a else files_b[0]
    by_block: dict[str, np.ndarray] = {}
    np_dtype = _np_dtype(opts.dtype)
    convert = _converter(sum(_elements(b, same) for b in batches if b.fast))
    progress.begin(total, opts.what)
    done = 0
    with compute_threads(), _RawFiles() as raws:
        for batch in batches:
            if cancel.cancelled():
                raise CancelledError(f"{opts.what} stopped after {done} of {total} modules")
            stack_a = _read(files_a, batch.a, batch, (np_dtype, convert), raws)
            stack_b = stack_a if same else _read(files_b, batch.b, batch, (np_dtype, convert), raws)
            sums = _gram(stack_a, stack_b, same)
            for g, module in enumerate(batch.modules):
                block_k = by_block.setdefault(owner.block_of(module), np.zeros((len(files_a), len(files_b))))
                block_k[np.ix_(batch.a.idx, batch.b.idx)] += sums[g]
                done += 1
                progress.step(done, module)
    progress.end()
    return by_block


def _plan(files_a: list[LoraFile], files_b: list[LoraFile], only: Sequence[str] | None,
          same: bool) -> list[_Batch]:
    """Group the modules into batches of equal shape (checking shapes across files on the way)."""
    groups: dict[tuple[Any, ...], _Batch] = {}
    for module in _module_names(files_a, files_b, only):
        side_a = _side(files_a, module)
        side_b = side_a if same else _side(files_b, module)
        if not side_a.idx or not side_b.idx:
            continue
        holders = [files_a[i] for i in side_a.idx] + [files_b[i] for i in side_b.idx]
        for other in holders[1:]:
            _check_same_shape(module, holders[0], other)
        info = holders[0].modules[module]
        fast = all(f.plain_keys(module) is not None for f in holders)
        key = (info.out_features, info.in_features, info.kind, side_a, side_b) if fast else (module,)
        batch = groups.setdefault(key, _Batch([], side_a, side_b, info.out_features, info.in_features, fast))
        batch.modules.append(module)
    return [piece for batch in groups.values() for piece in _split(batch, same)]


def _side(files: list[LoraFile], module: str) -> _Side:
    idx = tuple(i for i, f in enumerate(files) if module in f.modules)
    return _Side(idx=idx, ranks=tuple(files[i].modules[module].rank for i in idx))


def _per_module(batch: _Batch, same: bool) -> int:
    """Factor entries one module of the batch reads (both sides)."""
    width = sum(batch.a.ranks) + (0 if same else sum(batch.b.ranks))
    return width * (batch.rows + batch.cols)


def _elements(batch: _Batch, same: bool) -> int:
    return len(batch.modules) * _per_module(batch, same)


def _split(batch: _Batch, same: bool) -> Iterator[_Batch]:
    """Cut a batch so that its stacked float32 factors stay under `_BATCH_BYTES`."""
    per_module = 4 * _per_module(batch, same)
    step = max(1, _BATCH_BYTES // max(1, per_module))
    for start in range(0, len(batch.modules), step):
        yield _Batch(batch.modules[start:start + step], batch.a, batch.b, batch.rows, batch.cols, batch.fast)


@dataclass
class _Stack:
    """G modules of k files: ups side by side (G×m×R), downs stacked (G×R×n), per-module per-file alpha/r."""

    ups: np.ndarray
    downs: np.ndarray
    sizes: list[int]
    scales: np.ndarray
    files: list[LoraFile]
    modules: list[str]


class _RawFiles(dict):
    """Memory maps of the files read so far in one computation, closed together at the end."""

    def get_raw(self, file: LoraFile) -> RawFile:
        key = id(file)
        if key not in self:
            self[key] = RawFile(file.path)
        return self[key]

    def __enter__(self) -> _RawFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        for raw in self.values():
            raw.close()
        self.clear()


def _read(files: list[LoraFile], side: _Side, batch: _Batch, how: tuple[Any, _Convert], raws: _RawFiles) -> _Stack:
    """Read one side of a batch into its stacks: raw byte views for plain modules, `factors` otherwise."""
    dtype, convert = how
    chosen = [files[i] for i in side.idx]
    if not batch.fast:
        return _read_generic(chosen, batch.modules[0], dtype)
    count, total = len(batch.modules), sum(side.ranks)
    ups = np.empty((count, batch.rows, total), dtype=dtype)
    downs = np.empty((count, total, batch.cols), dtype=dtype)
    scales = np.empty((count, len(chosen)))
    start = 0
    for p, (file, r) in enumerate(zip(chosen, side.ranks, strict=True)):
        raw = raws.get_raw(file)
        for g, module in enumerate(batch.modules):
            up_key, down_key = file.plain_keys(module) or ("", "")
            convert(raw, up_key, ups[g, :, start:start + r])
            convert(raw, down_key, downs[g, start:start + r])
            scales[g, p] = file.alpha(module) / r
        start += r
    return _Stack(ups, downs, list(side.ranks), scales, chosen, batch.modules)


def _read_generic(files: list[LoraFile], module: str, dtype: Any) -> _Stack:
    """One module through `LoraFile.factors` (any format; scale already folded into `up`)."""
    import torch

    torch_dtype = torch.float64 if dtype == np.float64 else None
    facs = [f.factors(module, dtype=torch_dtype) for f in files]
    ups = np.concatenate([fac.up.numpy().astype(dtype, copy=False) for fac in facs], axis=1)[None]
    downs = np.concatenate([fac.down.numpy().astype(dtype, copy=False) for fac in facs], axis=0)[None]
    return _Stack(ups, downs, [fac.rank for fac in facs], np.ones((1, len(files))), files, [module])


_Convert = Callable[["RawFile", str, np.ndarray], None]

# fp16 → float32: torch's vectorised copy saves about 5 ns per entry over numpy's, and importing torch costs
# a few seconds, so a computation imports torch for its reads only above this many entries
_TORCH_IMPORT_PAYS = 1 << 29


def _converter(elements: int) -> _Convert:
    """torch's conversion when torch is loaded anyway or the reads are large enough to pay for importing it;
    numpy's otherwise (a compare of a few files never imports torch)."""
    import sys

    if "torch" not in sys.modules and elements < _TORCH_IMPORT_PAYS:
        return _convert_numpy
    try:
        import torch  # noqa: F401
    except ImportError:
        return _convert_numpy
    return _convert_torch


def _convert_numpy(raw: RawFile, key: str, out: np.ndarray) -> None:
    raw.into(key, out)


def _convert_torch(raw: RawFile, key: str, out: np.ndarray) -> None:
    import torch

    src = raw.array(key).reshape(out.shape)
    src_t = torch.from_numpy(src)
    if raw.entries[key].code == "BF16":
        src_t = src_t.view(torch.bfloat16)
    _copy_serial(torch.from_numpy(out), src_t)


_SERIAL_GRAIN = 32767  # below torch's internal GRAIN_SIZE (32768) a copy runs on the calling thread


def _copy_serial(dst: Any, src: Any) -> None:
    """`dst.copy_(src)` (converting the dtype) in row chunks small enough to stay on the calling thread.

    A single large copy would open an OpenMP region whose worker threads then spin-wait and compete with
    numpy's BLAS threads for the cores; row chunks keep torch's vectorised fp16/bf16 conversion (several
    times numpy's `astype`) without that cost.
    """
    rows = max(1, _SERIAL_GRAIN // max(1, int(src.shape[1])))
    for start in range(0, int(src.shape[0]), rows):
        dst[start:start + rows].copy_(src[start:start + rows])


def _np_dtype(dtype: Any) -> Any:
    """float64 when asked for (`torch.float64` or `np.float64`), float32 otherwise; no torch import needed."""
    return np.float64 if dtype is not None and "float64" in str(dtype) else np.float32


def _check_finite(products: Sequence[np.ndarray], stacks: Sequence[_Stack]) -> None:
    """NaN/Inf in any factor shows up in the Gram products; only then read the files to name the culprit."""
    if all(np.isfinite(p).all() for p in products):
        return
    for stack in stacks:
        for module in stack.modules:
            for file in stack.files:
                file.factors(module)  # raises LoraFormatError naming the file and module
    raise StyleMixError(f"module {stacks[0].modules[0]}: products overflow float32 (values too large)")


def _gram(a: _Stack, b: _Stack, same: bool) -> np.ndarray:
    """(G, ka, kb) block sums of (U_aᵀU_b) ⊙ (D_a D_bᵀ), scaled: ⟨ΔW_i, ΔW_j⟩ per module of the batch.

    For a kernel (`same`) both products are `X Xᵀ` of one stack, which numpy's matmul runs as `syrk` per
    slice (one triangle, mirrored). A NaN/Inf factor entry makes its own diagonal entry non-finite and
    |G_kl| ≤ √(G_kk G_ll) bounds the rest, so checking the diagonals suffices there.
    """
    gu = np.matmul(a.ups.transpose(0, 2, 1), b.ups)
    gd = np.matmul(a.downs, b.downs.transpose(0, 2, 1))
    if same:
        _check_finite((np.diagonal(gu, axis1=1, axis2=2), np.diagonal(gd, axis1=1, axis2=2)), (a,))
    else:
        _check_finite((gu, gd), (a, b))
    gu *= gd
    sums = _block_sums(gu, a.sizes, b.sizes)
    return sums * a.scales[:, :, None] * b.scales[:, None, :]


def _check_same_shape(module: str, a: LoraFile, b: LoraFile) -> None:
    ia: ModuleInfo = a.modules[module]
    ib: ModuleInfo = b.modules[module]
    if (ia.out_features, ia.in_features, ia.kind) != (ib.out_features, ib.in_features, ib.kind):
        raise StyleMixError(
            f"module {module}: {a.name} has {ia.kind} {ia.out_features}×{ia.in_features} but {b.name} has "
            f"{ib.kind} {ib.out_features}×{ib.in_features} (different base models?)")


def _block_sums(arr: np.ndarray, sizes_a: Sequence[int], sizes_b: Sequence[int]) -> np.ndarray:
    """Sum a (G × Σa × Σb) array over the blocks given by the two size lists, accumulating in float64."""
    count = arr.shape[0]
    if len(set(sizes_a)) == 1 and len(set(sizes_b)) == 1:  # equal ranks: one strided reduction
        ra, rb = sizes_a[0], sizes_b[0]
        return arr.reshape(count, len(sizes_a), ra, len(sizes_b), rb).sum(axis=(2, 4), dtype=np.float64)
    arr = arr.astype(np.float64)
    starts_a = np.concatenate(([0], np.cumsum(sizes_a)[:-1])).astype(np.intp)
    starts_b = np.concatenate(([0], np.cumsum(sizes_b)[:-1])).astype(np.intp)
    return np.add.reduceat(np.add.reduceat(arr, starts_a, axis=1), starts_b, axis=2)
