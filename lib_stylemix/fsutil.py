"""File-system helpers that keep users' files safe: atomic writes, no silent overwrites, no path escapes."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from lib_stylemix.errors import StyleMixError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces the target atomically.

    The temporary name ends in `.tmp` so the webui's LoRA scanner and sd-scripts ignore it. On any error
    (including KeyboardInterrupt) the temporary file is removed and the target is left untouched.
    """
    target = Path(target)
    if target.is_dir():
        raise StyleMixError(f"{target}: is a folder; give a file name")
    if target.exists() and not overwrite:
        raise StyleMixError(f"{target}: already exists (refusing to overwrite; pass --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(target)
    try:
        yield tmp
        if not overwrite and target.exists():
            raise StyleMixError(f"{target}: appeared while writing (refusing to overwrite)")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def check_output_file(target: str | os.PathLike[str], *, suffix: str, overwrite: bool = False,
                      estimated_bytes: int = 0) -> Path:
    """Refuse an output file before any work: a folder, another extension, an existing file without `overwrite`,
    a folder that cannot be written, or less free space than `estimated_bytes` (plus 1 MiB)."""
    import shutil

    target = Path(target)
    if target.is_dir():
        raise StyleMixError(f"{target}: is a folder; give a file name ending in {suffix}")
    if target.suffix.lower() != suffix:
        raise StyleMixError(f"{target}: output must end in {suffix}")
    if target.exists() and not overwrite:
        raise StyleMixError(f"{target}: already exists (refusing to overwrite; pass --overwrite to replace it)")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise StyleMixError(f"{target}: cannot be created ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StyleMixError(f"{target}: the folder {parent} is not writable")
    free = shutil.disk_usage(parent).free
    if estimated_bytes and free < estimated_bytes + (1 << 20):
        raise StyleMixError(f"{target}: needs about {estimated_bytes / (1 << 20):,.1f} MiB but only "
                            f"{free / (1 << 20):,.1f} MiB is free on that disk")
    return target


def _create_temp(target: Path) -> Path:
    """Create an empty, uniquely named temp file next to `target` with the usual umask-based permissions.

    (`tempfile.mkstemp` would make it 0600, and the final LoRA/image would then be unreadable to other users
    of a shared models folder.)
    """
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise StyleMixError(f"{target.parent}: could not create a temporary file")


def write_atomic(target: str | os.PathLike[str], data: bytes | str, *, overwrite: bool = False) -> Path:
    """Write bytes or UTF-8 text to `target` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(payload)
    return Path(target)


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Run `writer(tmp_path)` and move its output to `target` atomically."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        writer(tmp)
    return Path(target)


def safe_child(folder: str | os.PathLike[str], name: str) -> Path:
    """Return `folder/name`, refusing names that would escape `folder` (`..`, absolute paths, separators)."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise StyleMixError(f"{name!r}: not a plain file name (no folders, '..' or separators allowed)")
    base = Path(folder).resolve()
    child = (base / name).resolve()
    if child.parent != base:
        raise StyleMixError(f"{name!r}: would be written outside {base}")
    return child
