"""Small helpers every panel shares: error display, file inputs, progress, cancel.

They keep the panels portable between gradio 3.41 (A1111) and 4.x (Forge): only `gr.update(...)`, file
inputs accepted in every shape either version produces, and no gradio import at module level so the
helpers can be unit-tested without gradio.
"""

from __future__ import annotations

import contextlib
import html
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.seams import CancelFlag, CancelToken

log = logging.getLogger("stylemix.ui")


def message_html(text: str, kind: str = "info") -> str:
    """A status line for a `gr.HTML` box; `kind` is "info", "ok", "warn" or "error" (a CSS class)."""
    if not text:
        return ""
    return f'<div class="stylemix-msg stylemix-msg-{kind}">{html.escape(text)}</div>'


def error_html(exc: BaseException) -> str:
    """How a failure looks to the user: the `StyleMixError` text, or a one-line bug notice."""
    if isinstance(exc, CancelledError):
        return message_html(f"Cancelled: {exc}", "warn")
    if isinstance(exc, StyleMixError):
        return message_html(f"Error: {exc}", "error")
    return message_html(f"Unexpected error ({type(exc).__name__}: {exc}); details are in the console log.", "error")


def attempt(fn: Callable[[], Any], what: str) -> tuple[Any, str | None]:
    """Run `fn()`; return (result, None), or (None, error message HTML) so the page never shows a traceback.

    Unexpected exceptions (bugs) are logged with their traceback for bug reports; the page keeps working.
    """
    try:
        return fn(), None
    except Exception as exc:
        if not isinstance(exc, StyleMixError):
            log.exception("StyleMix: %s failed", what)
        return None, error_html(exc)


def from_settings(component: Any) -> Any:
    """Mark a component whose starting value comes from the StyleMix settings (or the host, e.g. its LoRA folder).

    The webui's `ui-config.json` stores every labelled tab field's value at the first start and forces it back
    at every later start, which would freeze the settings' value of that day. Components with the attribute
    `do_not_save_to_config` are neither stored nor restored (in A1111 and Forge alike), so these fields follow
    the settings; the settings page is where their defaults are changed.
    """
    component.do_not_save_to_config = True
    return component


GALLERY_LIMIT = 200


def thumbnails(items: Sequence[tuple[str | Path, str]], size: int = 384, limit: int = GALLERY_LIMIT) -> list[Any]:
    """Gallery items as in-memory thumbnails, in order, at most `limit` of them.

    Paths would work in gradio 3, but gradio 4 refuses to serve files outside its allowed folders, and a
    few hundred full-size images are slow to send to the browser. A file that cannot be read is left out
    (the panel's table still lists it).
    """
    from PIL import Image

    out = []
    for path, caption in list(items)[:limit]:
        try:
            with Image.open(path) as image:
                image.thumbnail((size, size))
                out.append((image.convert("RGB"), caption))
        except (OSError, ValueError):
            log.warning("StyleMix: cannot show %s in a gallery", path)
    return out


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> Any:
    """A Dataframe value that keeps its column names even when empty (gradio shows 1, 2, 3… for a bare `[]`)."""
    import pandas as pd

    return pd.DataFrame([list(r) for r in rows], columns=list(headers))


def table_rows(value: Any) -> list[list[Any]]:
    """Rows of a gradio Dataframe value (a pandas DataFrame in gradio 3/4, or a dict/list in other shapes)."""
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "columns"):
        return [list(row) for row in value.values.tolist()]
    if isinstance(value, dict) and "data" in value:
        return [list(row) for row in value["data"]]
    return [list(row) for row in value]


def file_paths(value: Any) -> list[Path]:
    """Paths from a gradio File/Files value in any shape gradio 3 or 4 gives (str, tempfile, dict, list)."""
    if value is None:
        return []
    items: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
    paths: list[Path] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, (str, Path)):
            paths.append(Path(item))
        elif isinstance(item, dict):
            name = item.get("path") or item.get("name")
            if name:
                paths.append(Path(name))
        elif hasattr(item, "name"):
            paths.append(Path(item.name))
        else:
            raise StyleMixError(f"unsupported uploaded file value {item!r}")
    return paths


def parse_float_list(text: str, what: str) -> list[float]:
    """Numbers typed as "0.5, 0.5" or one per line; a `StyleMixError` names the bad entry."""
    values: list[float] = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise StyleMixError(f"{what}: {part!r} is not a number") from None
    return values


def parse_lines(text: str) -> list[str]:
    """Non-empty stripped lines of a textbox."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class GradioProgress:
    """`seams.Progress` over a `gr.Progress` tracker, so core jobs drive the bar under the button."""

    def __init__(self, tracker: Callable[..., Any] | None, also: Any = None) -> None:
        self._tracker = tracker
        self._also = also
        self._total = 0

    def begin(self, total: int, text: str = "") -> None:
        self._total = max(int(total), 0)
        self._report(0, text)
        if self._also is not None:
            self._also.begin(total, text)

    def step(self, done: int, text: str = "") -> None:
        self._report(done, text)
        if self._also is not None:
            self._also.step(done, text)

    def end(self, text: str = "") -> None:
        self._report(self._total, text)
        if self._also is not None:
            self._also.end(text)

    def _report(self, done: int, text: str) -> None:
        if self._tracker is None:
            return
        if self._total:
            self._tracker((min(done, self._total), self._total), desc=text or None)
        else:
            self._tracker(0.0, desc=text or None)


class AnyCancel:
    """Cancelled when any of its tokens is: the panel's Stop button or the host's Interrupt."""

    def __init__(self, tokens: Sequence[CancelToken]) -> None:
        self._tokens = tuple(tokens)

    def cancelled(self) -> bool:
        return any(token.cancelled() for token in self._tokens)


class SessionJob:
    """Cancel flags of the long jobs one browser session is running in a panel.

    A job runs inside `with job.running() as flag:` and hands `flag` to the core; the Stop button's handler
    (registered with `queue=False`, so it is not stuck behind the job) calls `stop()`, which cancels every
    job of the session that is still running (the webui's queue may run several at once).
    """

    def __init__(self) -> None:
        self._active: set[CancelFlag] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self) -> Iterator[CancelFlag]:
        flag = CancelFlag()
        with self._lock:
            self._active.add(flag)
        try:
            yield flag
        finally:
            with self._lock:
                self._active.discard(flag)

    def stop(self) -> None:
        with self._lock:
            flags = list(self._active)
        for flag in flags:
            flag.cancel()
