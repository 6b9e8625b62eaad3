"""Run a StyleMix tab handler the way the webui runs txt2img: under its GPU queue lock, with `shared.state`
begun and ended (so the progress bar and Interrupt work), and on Forge on its single model thread.

We do not use `call_queue.wrap_gradio_gpu_call` itself: it appends timing HTML to the handler's last output
and replaces a failure's outputs with `extra_outputs + [error html]`, which would tie every panel's output
layout to the webui's. This wrapper returns the handler's own result and lets its exceptions through.
A first positional argument `"task(<id>)"` is registered with the progress API, as the webui does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from lib_stylemix.webui.env import is_forge


def run_on_model_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn` on Forge's main (model) thread, or directly on A1111; exceptions reach the caller either way.

    Forge's `run_and_wait_result` prints and swallows a task's exception (returning None), so the call is
    boxed and the exception re-raised here.
    """
    if not is_forge():
        return fn(*args, **kwargs)
    from modules_forge import main_thread

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    main_thread.run_and_wait_result(work)
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _task_id(args: tuple[Any, ...]) -> str | None:
    if args and isinstance(args[0], str) and args[0].startswith("task(") and args[0].endswith(")"):
        return args[0]
    return None


class _Session:
    """The webui bookkeeping around one GPU call (queue lock, state, progress task)."""

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        from modules import call_queue, shared

        try:
            from modules import progress
        except ImportError:
            progress = None
        self.lock = call_queue.queue_lock
        self.state = shared.state
        self.total_tqdm = getattr(shared, "total_tqdm", None)  # the console's overall progress bar
        self.progress = progress
        self.task = _task_id(args) if progress is not None else None
        self.name = name

    def __enter__(self) -> _Session:
        if self.task:
            self.progress.add_task_to_queue(self.task)
        self.lock.acquire()
        try:
            self.state.begin(job=self.name)
            if self.task:
                self.progress.start_task(self.task)
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self.task:
                self.progress.finish_task(self.task)
            self.state.end()
            if self.total_tqdm is not None:
                self.total_tqdm.clear()
            self.state.interrupted = False
            self.state.skipped = False
            self.state.stopping_generation = False
            self.state.job_count = 0
        finally:
            self.lock.release()


def gpu_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a gradio handler (plain or generator function) that generates images inside the webui."""
    name = f"stylemix.{getattr(fn, '__name__', 'call')}"

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any):
            with _Session(name, args):
                iterator = run_on_model_thread(fn, *args, **kwargs)
                while True:
                    try:
                        item = run_on_model_thread(next, iterator)
                    except StopIteration:
                        return
                    yield item

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _Session(name, args):
            return run_on_model_thread(fn, *args, **kwargs)

    return wrapper
