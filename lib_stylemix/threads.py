"""One place that decides how many compute threads numpy's BLAS and torch may use, and restores them after.

Why: torch and OpenBLAS each start one thread per core. On a machine whose cores are already busy (a webui
generating, data loaders, other jobs) those threads wait for each other at every barrier, and the same
code runs several times slower than with one thread. The rule ("auto"):

    threads = clamp(cores − busy, 1, cores)

with `cores` the CPUs this process may run on (`sched_getaffinity`, else `cpu_count`) and `busy` the larger
of the 1-minute load average and the number of tasks runnable right now other than this one (the 4th field
of /proc/loadavg, which sees a load that started seconds ago); 1 while the host reports that it is
generating (`set_host_busy_probe`, called by the webui adapter). A number from `--threads N` or the
`compute_threads` setting overrides "auto" but is still capped at `cores`.

`compute_threads()` is a context manager: it applies the count to torch (only if torch is imported, or when
asked to import it) and to the BLAS libraries (threadpoolctl when installed, else OpenBLAS's own
`openblas_set_num_threads` found in the loaded libraries), and restores the previous values on exit, so a
library user's own settings are not changed for good. Nested uses keep the outer count.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

AUTO = "auto"

_configured: str | int = AUTO
_host_busy: Callable[[], bool] | None = None
_state = threading.local()


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores() -> float:
    """How many cores other work keeps busy: max(1-minute load average, tasks runnable now besides us)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(load, _runnable_now() - 1)


def _runnable_now() -> int:
    """Runnable tasks on the machine at this instant (Linux /proc/loadavg), 0 where unknown."""
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            return int(fh.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return 0


def parse_threads(value: str | int | None) -> str | int:
    """'auto' (or empty/None) or a positive whole number; anything else is a ValueError naming the value."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", AUTO)):
        return AUTO
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"threads must be 'auto' or a whole number ≥ 1, got {value!r}") from None
    if number < 1:
        raise ValueError(f"threads must be 'auto' or a whole number ≥ 1, got {value!r}")
    return number


def configure(value: str | int | None) -> None:
    """Set the process-wide choice ('auto' or N) that `compute_threads()` uses when given none."""
    global _configured
    _configured = parse_threads(value)


def configured() -> str | int:
    return _configured


def set_host_busy_probe(probe: Callable[[], bool] | None) -> None:
    """Register a function telling whether the host (the webui) is generating; auto then uses 1 thread."""
    global _host_busy
    _host_busy = probe


def resolve(value: str | int | None = None) -> int:
    """The thread count for `value` (default: the configured choice), never more than `cores()`."""
    choice = parse_threads(value) if value is not None else _configured
    n = cores()
    if choice != AUTO:
        return max(1, min(int(choice), n))
    if _host_busy is not None and _safe_probe(_host_busy):
        return 1
    return max(1, min(n, n - int(busy_cores() + 0.5)))


def _safe_probe(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:  # a host probe must never stop a computation; treat "unknown" as not busy
        return False


@dataclass
class ThreadSettings:
    """Thread counts as found: torch's (None if torch is not imported) and each BLAS library's."""

    torch: int | None
    blas: dict[str, int]


def current() -> ThreadSettings:
    torch = sys.modules.get("torch")
    return ThreadSettings(torch=torch.get_num_threads() if torch is not None else None,
                          blas={lib.name: lib.get() for lib in _blas_libraries()})


def describe() -> str:
    """One line for benchmarks and logs: configured choice, resolved count, and what the libraries use."""
    now = current()
    blas = ", ".join(f"{k} {v}" for k, v in now.blas.items()) or "none found"
    torch = "not imported" if now.torch is None else str(now.torch)
    return (f"threads: setting {_configured}, resolved {resolve()} of {cores()} cores; torch {torch}; "
            f"BLAS {blas}")


@contextlib.contextmanager
def compute_threads(threads: str | int | None = None, *, torch: bool = False) -> Iterator[int]:
    """Run the block with `threads` (default: the configured choice) compute threads, then restore.

    torch is set if already imported, or imported here when `torch=True`; a library first imported inside
    the block starts with the count too (its thread variables, e.g. OMP_NUM_THREADS, are set for the
    block). Inside an outer block the outer count is kept and only re-applied, so libraries loaded since
    the outer block began get it (one decision per computation).
    """
    outer = getattr(_state, "active", None)
    if outer is not None:
        _apply(outer, import_torch=torch)
        yield outer
        return
    n = resolve(threads)
    saved = current()
    saved_env = _set_env_for_unloaded(n)
    _state.active = n
    try:
        _apply(n, import_torch=torch)
        yield n
    finally:
        _state.active = None
        _restore_env(saved_env)
        _restore(saved)


def _apply(n: int, *, import_torch: bool) -> None:
    _set_torch(n, import_it=import_torch)
    for lib in _blas_libraries():
        if lib.get() != n:
            lib.set(n)


# thread variables each library reads once, when it is loaded
_ENV_BY_MODULE = {"torch": ("OMP_NUM_THREADS", "MKL_NUM_THREADS"), "numpy": ("OPENBLAS_NUM_THREADS",)}


def _set_env_for_unloaded(n: int) -> dict[str, str | None]:
    saved: dict[str, str | None] = {}
    for module, names in _ENV_BY_MODULE.items():
        if module in sys.modules:
            continue
        for name in names:
            saved[name] = os.environ.get(name)
            os.environ[name] = str(n)
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def limited(fn: F) -> F:
    """Decorator for core entry points that compute: the call runs inside `compute_threads()`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with compute_threads():
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _set_torch(n: int, *, import_it: bool) -> None:
    if import_it:
        import torch  # noqa: F401  (imported so that its thread count can be set)
    module = sys.modules.get("torch")
    if module is not None and module.get_num_threads() != n:
        module.set_num_threads(n)


def _restore(saved: ThreadSettings) -> None:
    module = sys.modules.get("torch")
    if module is not None:
        previous = saved.torch if saved.torch is not None else _torch_default()
        if module.get_num_threads() != previous:
            module.set_num_threads(previous)
    for lib in _blas_libraries():
        if lib.name in saved.blas and lib.get() != saved.blas[lib.name]:
            lib.set(saved.blas[lib.name])


def _torch_default() -> int:
    """torch's own default when it was imported inside the block: OMP_NUM_THREADS, else the core count."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return cores()


@dataclass
class _Blas:
    name: str
    get: Callable[[], int]
    set: Callable[[int], None]


_found: dict[tuple[bool, bool], list[_Blas]] = {}


def _blas_libraries() -> list[_Blas]:
    """The BLAS thread pools of this process, looked up again only when numpy or torch got imported."""
    key = ("numpy" in sys.modules, "torch" in sys.modules)
    if not key[0]:
        return []
    if key not in _found:
        found = _threadpoolctl_libraries()
        _found[key] = found if found is not None else _openblas_libraries()
    return _found[key]


def _threadpoolctl_threads(lib: Any) -> int:
    return int(lib.num_threads)


def _threadpoolctl_libraries() -> list[_Blas] | None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    controller = ThreadpoolController()
    out: list[_Blas] = []
    for lib in controller.select(user_api="blas").lib_controllers:
        out.append(_Blas(name=f"{lib.internal_api} ({os.path.basename(lib.filepath)})",
                         get=functools.partial(_threadpoolctl_threads, lib), set=lib.set_num_threads))
    return out


_OPENBLAS_SYMBOLS = (("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                     ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                     ("openblas_get_num_threads", "openblas_set_num_threads"))


def _openblas_libraries() -> list[_Blas]:
    """OpenBLAS copies loaded in this process (numpy's wheel bundles one), from /proc/self/maps."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    out = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        for get_name, set_name in _OPENBLAS_SYMBOLS:
            getter, setter = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if getter is not None and setter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                out.append(_Blas(name=f"openblas ({os.path.basename(path)})", get=getter,
                                 set=setter))
                break
    return out
