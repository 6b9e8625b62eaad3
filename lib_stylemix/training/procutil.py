"""Process-tree handling that works on Linux/macOS and Windows.

`accelerate launch` starts the real trainer as a child, so stopping only the launcher would orphan a
GPU-holding process. The trainer therefore starts in its own session/process group and is stopped as a group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def popen_group_kwargs() -> dict[str, Any]:
    """Popen arguments that put the child (and its children) into a new group we can signal as a whole."""
    if sys.platform == "win32":  # (not os.name: mypy narrows on sys.platform only)
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def pid_alive(pid: int) -> bool:
    """True if `pid` is a running (not zombie) process. Never sends a real signal."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            text = stat.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return False
        except OSError:
            return True
        return text[text.rfind(")") + 2 :].split(" ", 1)[0] not in {"Z", "X"}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    process_query_limited_information = 0x1000
    still_active = 259
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def kill_tree(proc: subprocess.Popen, *, grace_s: float = 10.0) -> None:
    """Ask the whole group to stop (SIGTERM / CTRL_BREAK), then force it (SIGKILL / taskkill /T /F)."""
    if os.name == "nt":
        _kill_tree_windows(proc, grace_s)
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid  # leader already reaped; its group id is its pid (start_new_session)
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return True
    # killpg(0) also succeeds for zombies; look for a live member.
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split(" ")
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in {"Z", "X"}:
            return True
    return False


def _kill_tree_windows(proc: subprocess.Popen, grace_s: float) -> None:
    with contextlib.suppress(OSError, ValueError):
        proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # /T also ends the children that outlive the launcher; /F because console programs ignore WM_CLOSE.
    subprocess.call(
        ["taskkill", "/PID", str(proc.pid), "/T", "/F"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
