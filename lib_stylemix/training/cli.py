"""`sd-scripts setup|check` and `train plan|run|queue` sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

from lib_stylemix.console import emit_json, emit_text, say
from lib_stylemix.errors import StyleMixError

DEFAULT_OUTPUT_ROOT = Path("models") / "Lora" / "stylemix"


def register(subparsers) -> None:
    _register_sd_scripts(subparsers)
    _register_train(subparsers)


def _register_sd_scripts(subparsers) -> None:
    sd = subparsers.add_parser("sd-scripts", help="install or check the kohya sd-scripts used for training")
    sd_sub = sd.add_subparsers(dest="sd_command", metavar="ACTION")
    sd_sub.required = True

    setup = sd_sub.add_parser("setup", help="install kohya-ss/sd-scripts (pinned tag or a local copy) with its venv")
    setup.add_argument("dir", type=Path, help="new folder for sd-scripts")
    setup.add_argument("--ref", default=None, help="git tag/branch to check out (default: v0.9.1)")
    setup.add_argument(
        "--from", dest="source", type=Path, default=None, metavar="DIR|ARCHIVE",
        help="install from a local sd-scripts checkout or a .zip/.tar.gz archive instead of git clone",
    )  # fmt: skip
    setup.add_argument("--python", default=None, help="Python used to create the venv (default: this one)")
    setup.add_argument(
        "--torch", choices=("pypi", "cpu", "existing"), default="pypi",
        help="pypi: the PyPI build (on Linux the CUDA build, a multi-GB download); cpu: the small CPU-only build; "
        "existing: no torch download, the venv sees the torch installed in --python",
    )  # fmt: skip
    setup.add_argument("--torch-index", default=None, help="pip index URL for torch, e.g. a CUDA wheel index")
    setup.add_argument("--dry-run", action="store_true", help="only print the commands")
    setup.add_argument("--json", action="store_true", help="print the commands as JSON")
    setup.set_defaults(func=_cmd_setup)

    check = sd_sub.add_parser("check", help="verify sd-scripts and its venv, report versions")
    _add_location(check)
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=_cmd_check)


def _register_train(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a style LoRA with sd-scripts (plan, run, queue)")
    train_sub = train.add_subparsers(dest="train_command", metavar="ACTION")
    train_sub.required = True

    plan = train_sub.add_parser("plan", help="show the sd-scripts command and TOML for a training (runs nothing)")
    _add_plan_args(plan)
    plan.add_argument("--print-command", action="store_true", help="print only the command line")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=_cmd_plan)

    run = train_sub.add_parser("run", help="plan and run one training; progress on stderr, summary on stdout")
    _add_plan_args(run)
    _add_run_args(run)
    run.set_defaults(func=_cmd_run)

    queue = train_sub.add_parser("queue", help="a persistent queue of trainings run one after another")
    queue_sub = queue.add_subparsers(dest="queue_command", metavar="ACTION")
    queue_sub.required = True
    q_add = queue_sub.add_parser("add", help="plan a training and append it to the queue")
    _add_plan_args(q_add)
    _add_state(q_add)
    q_add.add_argument("--json", action="store_true")
    q_add.set_defaults(func=_cmd_queue_add)
    q_run = queue_sub.add_parser("run", help="run the pending trainings")
    _add_state(q_run)
    _add_run_args(q_run)
    q_run.set_defaults(func=_cmd_queue_run, resume=False)
    q_resume = queue_sub.add_parser("resume", help="re-run interrupted trainings, then the pending ones")
    _add_state(q_resume)
    _add_run_args(q_resume)
    q_resume.set_defaults(func=_cmd_queue_run, resume=True)
    q_status = queue_sub.add_parser("status", help="what finished, failed, was cancelled or is pending")
    _add_state(q_status)
    q_status.add_argument("--json", action="store_true")
    q_status.set_defaults(func=_cmd_queue_status)
    q_retry = queue_sub.add_parser("retry", help="put a failed or cancelled entry back to pending")
    q_retry.add_argument("id")
    _add_state(q_retry)
    q_retry.set_defaults(func=_cmd_queue_retry)
    q_remove = queue_sub.add_parser("remove", help="drop an entry from the queue (its files stay)")
    q_remove.add_argument("id")
    _add_state(q_remove)
    q_remove.set_defaults(func=_cmd_queue_remove)


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sd-scripts", default=None, help="sd-scripts folder (else $STYLEMIX_SD_SCRIPTS)")
    parser.add_argument("--sd-python", default=None, help="sd-scripts' Python when it has no venv/ folder")


def _add_plan_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="training folder: <style>/img or any kohya N_name parent")
    parser.add_argument("--base-model", required=True, help="base checkpoint (.safetensors, or Diffusers folder)")
    parser.add_argument("--style", default=None, help="style name (default: the dataset's style folder name)")
    parser.add_argument("--arch", choices=("sd1", "sd2", "sdxl"), default=None, help="override model detection")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="change a setting or any known sd-scripts option, e.g. --set max_train_epochs=10",
    )  # fmt: skip
    parser.add_argument("--output-root", type=Path, default=DEFAULT_OUTPUT_ROOT, help="LoRAs go to ROOT/<style>/")
    parser.add_argument(
        "--tokenizer-cache-dir", default=None, metavar="DIR",
        help="where sd-scripts keeps the CLIP tokenizers it downloads at the first run (default: the extension's "
        "data/tokenizer-cache); copy it to train offline",
    )  # fmt: skip
    _add_location(parser)


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL on cancel")
    parser.add_argument("--show-log", action="store_true", help="echo every trainer line to stderr")
    parser.add_argument("--json", action="store_true")


def _add_state(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state", type=Path, default=DEFAULT_OUTPUT_ROOT / "training-queue.json", help="queue state file"
    )


# -- handlers ---------------------------------------------------------------------------------------------


def _setup_plan(args: argparse.Namespace):
    from lib_stylemix.training.locate import DEFAULT_REF, absolute
    from lib_stylemix.training.setup import SetupPlan, family_of_ref, family_of_source

    ref = args.ref or DEFAULT_REF
    source = absolute(args.source) if args.source else None
    if source is not None and not source.exists():
        raise StyleMixError(f"{source}: --from folder or archive does not exist")
    family = family_of_source(source) if source is not None else family_of_ref(ref)
    return SetupPlan(target=absolute(args.dir), ref=ref, source=source, base_python=args.python, torch=args.torch,
                     torch_index=args.torch_index, family=family)  # fmt: skip


def _cmd_setup(args: argparse.Namespace) -> int:
    from lib_stylemix.training.setup import fetch_step, run_setup, setup_commands, torch_notice

    plan = _setup_plan(args)
    commands = [fetch_step(plan), *setup_commands(plan)]
    document = {"dir": str(plan.target), "family": plan.family, "torch": torch_notice(plan), "commands": commands}
    if args.dry_run:
        if args.json:
            emit_json(document)
        else:
            say(torch_notice(plan))
            for command in commands:
                print(" ".join(_quote(part) for part in command))
        return 0
    run_setup(plan, echo=say)
    emit_text(f"sd-scripts installed in {plan.target}; check: python -m lib_stylemix sd-scripts check --sd-scripts "
              f"{plan.target}", json_mode=args.json)
    if args.json:
        emit_json(document)
    return 0


def _locate(args: argparse.Namespace):
    from lib_stylemix.training.locate import locate_sd_scripts

    return locate_sd_scripts(args.sd_scripts, python_setting=args.sd_python)


def _cmd_check(args: argparse.Namespace) -> int:
    from lib_stylemix.training.probe import check_sd_scripts

    report = check_sd_scripts(_locate(args))
    if args.json:
        emit_json(report.to_dict())
    else:
        emit_text(f"sd-scripts: {report.root} (found via {report.source}; {report.version}, {report.family}.x options)")
        emit_text(f"python:     {report.python}")
        if report.env:
            env = report.env
            emit_text(
                f"versions:   python {env.python}, torch {env.torch}, accelerate {env.accelerate}, "
                f"diffusers {env.diffusers}, transformers {env.transformers}, bitsandbytes {env.bitsandbytes_version}, "
                f"numpy {env.numpy}, opencv {env.opencv}"
            )
            imported = {True: "OK", False: "FAILED", None: "not tried"}[env.sd_scripts_import]
            say(f"import library.train_util: {imported}; CUDA: {'yes' if env.cuda else 'no'}; "
                f"bitsandbytes on GPU: {'yes' if env.bitsandbytes_gpu else 'no'}")  # fmt: skip
        for note in report.notes:
            emit_text(f"note: {note}")
        for problem in report.problems:
            emit_text(f"problem: {problem}")
        emit_text("OK" if report.ok else "NOT READY")
    return 0 if report.ok else 1


def _plan(args: argparse.Namespace):
    from lib_stylemix.training.config import TrainSettings, apply_overrides, plan_training

    settings = apply_overrides(TrainSettings(), args.overrides)
    if getattr(args, "tokenizer_cache_dir", None):
        settings = dataclasses.replace(settings, tokenizer_cache_dir=args.tokenizer_cache_dir)
    return plan_training(
        args.dataset,
        args.base_model,
        sd=_locate(args),
        style=args.style,
        settings=settings,
        output_root=args.output_root,
        arch=args.arch,
    )


def _cmd_plan(args: argparse.Namespace) -> int:
    from lib_stylemix.training.validate import validate_job

    job = _plan(args)
    problem = None
    try:
        validate_job(job)
    except StyleMixError as exc:
        problem = str(exc)
    if args.json:
        emit_json({**job.to_dict(), "valid": problem is None, "problem": problem})
    elif args.print_command:
        print(" ".join(_quote(part) for part in job.command))
    else:
        emit_text(f"style {job.style!r} ({job.arch}) -> {job.output_dir}")
        emit_text(f"command: {' '.join(_quote(part) for part in job.command)}")
        emit_text(f"config {job.config_path}:")
        print(job.config_text, end="")
        emit_text(f"files: {len(job.expected_files)} (final {job.final_file})")
        for note in job.notes:
            say(f"note: {note}")
    if problem:
        say(f"not ready: {problem}")
    return 0 if problem is None else 1


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)


class _ConsoleProgress:
    """A one-line progress bar on a terminal; one line per epoch/file otherwise (logs, CI)."""

    def __init__(self, show_log: bool) -> None:
        self.tty = sys.stderr.isatty()
        self.show_log = show_log
        self._drawn = False

    def __call__(self, event) -> None:
        if self.show_log:
            self._clear()
            say(event.line)
        if event.kind == "step" and self.tty:
            width = 30
            pct = event.percent or 0.0
            filled = int(width * pct / 100)
            eta = f" eta {int(event.eta_s) // 60}:{int(event.eta_s) % 60:02d}" if event.eta_s is not None else ""
            loss = f" loss {event.loss:.4g}" if event.loss is not None else ""
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {pct:5.1f}% epoch {event.epoch or 0}/{event.epochs or '?'}"
                f" step {event.step}/{event.total}{loss}{eta}   "
            )
            sys.stderr.flush()
            self._drawn = True
        elif event.kind == "sample" and self.tty:
            sys.stderr.write(f"\r{event.describe():<60}")
            sys.stderr.flush()
            self._drawn = True
        elif event.kind in {"start", "epoch", "file", "no_data"} or (event.kind == "sample" and event.sample == 0):
            if self.show_log:
                return
            self._clear()
            text = {
                "start": f"training: {event.total} steps, {event.epochs} epochs",
                "epoch": f"epoch {event.epoch}/{event.epochs}",
                "file": f"saving {event.new_file}",
                "no_data": event.line.strip(),
                "sample": "generating sample images",
            }[event.kind]
            say(text)

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r" + " " * 100 + "\r")
            self._drawn = False


@contextlib.contextmanager
def _stop_signals_cancel(flag):
    """Ctrl-C, SIGTERM and SIGHUP cancel the training (the trainer, in its own session, is stopped too) and
    the command still reports the outcome; a second signal interrupts at once."""

    def interrupt(signum, frame):
        if flag.cancelled():
            raise KeyboardInterrupt
        flag.cancel()

    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not in the main thread
                previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _summary(job, result) -> dict[str, Any]:
    return {"style": job.style, "output_dir": job.output_dir, **result.to_dict()}


def _cmd_run(args: argparse.Namespace) -> int:
    from lib_stylemix.seams import CancelFlag
    from lib_stylemix.training.runner import run_training
    from lib_stylemix.training.validate import validate_job

    job = _plan(args)
    validate_job(job)
    say(f"training {job.style!r} ({job.arch}) -> {job.output_dir}; log {job.log_path}")
    for note in job.notes:
        say(f"note: {note}")
    printer = _ConsoleProgress(args.show_log)
    flag = CancelFlag()
    with _stop_signals_cancel(flag):
        result = run_training(job, on_event=printer, cancel=flag, grace_s=args.grace)
    printer._clear()
    if args.json:
        emit_json(_summary(job, result))
    if result.ok:
        emit_text(f"done: {result.final_file} ({len(result.files)} files, {result.duration_s:.0f} s)",
                  json_mode=args.json)
        return 0
    if result.status == "cancelled":
        say(f"interrupted: training cancelled; {len(result.files)} finished file(s) kept")
        return 130
    say(f"{result.status}: {result.error}")
    return 1


def _cmd_queue_add(args: argparse.Namespace) -> int:
    from lib_stylemix.training.queue import TrainingQueue
    from lib_stylemix.training.validate import validate_job

    job = _plan(args)
    validate_job(job)
    entry = TrainingQueue(args.state).add(job)
    if args.json:
        emit_json({"id": entry.id, "style": job.style, "output_dir": job.output_dir, "state_file": str(args.state)})
    else:
        emit_text(f"queued {entry.id}: {job.style!r} -> {job.output_dir}")
    return 0


def _cmd_queue_run(args: argparse.Namespace) -> int:
    from lib_stylemix.seams import CancelFlag
    from lib_stylemix.training.queue import SUCCEEDED, TrainingQueue

    queue = TrainingQueue(args.state)
    printer = _ConsoleProgress(args.show_log)

    def on_event(entry, event) -> None:
        printer(event)

    def on_file(entry_id: str, path: str, epoch: int | None) -> None:
        printer._clear()
        say(f"[{entry_id}] epoch {epoch}: {path}")

    def on_done(entry) -> None:
        printer._clear()
        say(f"[{entry.id}] {entry.job.style!r}: {entry.status}" + (f" ({entry.error})" if entry.error else ""))

    flag = CancelFlag()
    kwargs = {"on_event": on_event, "on_file": on_file, "on_entry_done": on_done, "grace_s": args.grace,
              "cancel": flag}  # fmt: skip
    with _stop_signals_cancel(flag):
        ran = queue.resume(**kwargs) if args.resume else queue.run(**kwargs)
    if args.json:
        emit_json({"ran": [e.id for e in ran], **queue.status()})
    if not ran:
        say("nothing pending")
    if flag.cancelled():
        say("interrupted: queue cancelled; the remaining trainings stay pending")
        return 130
    return 0 if all(e.status == SUCCEEDED for e in ran) else 1


def _cmd_queue_status(args: argparse.Namespace) -> int:
    from lib_stylemix.training.queue import TrainingQueue

    status = TrainingQueue(args.state).status()
    if args.json:
        emit_json(status)
    else:
        if not status["entries"]:
            emit_text(f"{args.state}: queue is empty")
        for item in status["entries"]:
            line = f"{item['id']}  {item['status']:<11} {item['style']}  files={item['files']}"
            emit_text(line + (f"  error: {item['error']}" if item["error"] else ""))
    return 0


def _cmd_queue_retry(args: argparse.Namespace) -> int:
    from lib_stylemix.training.queue import TrainingQueue

    entry = TrainingQueue(args.state).retry(args.id)
    emit_text(f"{entry.id} ({entry.job.style!r}) is pending again")
    return 0


def _cmd_queue_remove(args: argparse.Namespace) -> int:
    from lib_stylemix.training.queue import TrainingQueue

    TrainingQueue(args.state).remove(args.id)
    emit_text(f"removed {args.id}")
    return 0
