"""`restyle plan|run`: turn images × styles into a plan file, and run it (here: with the GPU-free preview backend)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from lib_stylemix.console import ConsoleProgress, emit_json, emit_text, say
from lib_stylemix.errors import StyleMixError
from lib_stylemix.seams import CancelFlag

BACKENDS = ("preview",)


@contextmanager
def cancel_on_interrupt(flag: CancelFlag) -> Iterator[None]:
    """First Ctrl-C asks the run to stop after the current job; a second one interrupts at once."""

    def handler(signum, frame):
        if flag.cancelled():
            raise KeyboardInterrupt
        flag.cancel()
        say("stopping after the current job (Ctrl-C again to stop now)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def register(subparsers) -> None:
    restyle = subparsers.add_parser("restyle", help="render every image in every style (ControlNet canny)")
    commands = restyle.add_subparsers(dest="restyle_command", metavar="ACTION")
    commands.required = True

    plan = commands.add_parser("plan", help="write a plan: styles × images → jobs with prompts, seeds, canny unit")
    plan.add_argument("--images", required=True, help="prepared image folder (see `dataset prepare`)")
    plan.add_argument("--styles", required=True, help='comma-separated style names, e.g. "Claude Monet, Hokusai"')
    plan.add_argument("--template", default="{style} art, {description}", help="prompt template")
    plan.add_argument("--negative", default="", help="negative prompt")
    plan.add_argument("--seed-policy", choices=("per-image", "fixed", "random"), default="per-image")
    plan.add_argument("--seed", type=int, default=1234)
    plan.add_argument("--sampler", default="DDIM")
    plan.add_argument("--steps", type=int, default=20)
    plan.add_argument("--cfg", type=float, default=7.0, help="CFG scale")
    plan.add_argument("--size", default="512", help="N or WIDTHxHEIGHT (default 512)")
    plan.add_argument("--batch-size", type=int, default=1)
    thresholds = plan.add_mutually_exclusive_group()
    thresholds.add_argument("--canny-auto", action="store_true", help="median-based thresholds per image")
    thresholds.add_argument("--canny-low", type=int, help="default 100")
    plan.add_argument("--canny-high", type=int, help="default 200")
    plan.add_argument("--cn-weight", type=float, default=1.0, help="ControlNet weight")
    plan.add_argument("--processor-res", type=int, default=512)
    plan.add_argument(
        "--control-mode",
        choices=("Balanced", "My prompt is more important", "ControlNet is more important"),
        default="Balanced",
    )
    plan.add_argument("--target-steps", type=int, default=100, help="training steps per epoch to aim for")
    plan.add_argument("--train-batch-size", type=int, default=1)
    plan.add_argument("-o", "--out", required=True, help="plan JSON to write")
    plan.add_argument("--overwrite", action="store_true")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=_plan)

    run = commands.add_parser("run", help="execute a plan into an sd-scripts-ready folder (resumes)")
    run.add_argument("plan", help="plan JSON from `restyle plan`")
    run.add_argument("--backend", choices=BACKENDS, required=True, help="preview: tinted canny maps, no GPU")
    run.add_argument("-o", "--out", required=True, help="output folder (created; reruns skip finished jobs)")
    run.add_argument("--no-grid", action="store_true", help="skip the images × styles overview pages")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=_run)


def _plan(args: argparse.Namespace) -> int:
    from lib_stylemix.dataset.canny import auto_thresholds
    from lib_stylemix.dataset.images import load_image_set, parse_size
    from lib_stylemix.restyle.plan import CannyUnit, make_plan

    if args.canny_auto and args.canny_high is not None:
        raise StyleMixError("--canny-high cannot be combined with --canny-auto")
    width, height = parse_size(args.size)
    unit = CannyUnit(
        low=100 if args.canny_low is None else args.canny_low,
        high=200 if args.canny_high is None else args.canny_high,
        weight=args.cn_weight,
        processor_res=args.processor_res,
        control_mode=args.control_mode,
    )
    image_set = load_image_set(args.images)
    for warning in image_set.warnings:
        say(f"warning: {warning}")
    per_image = None
    if args.canny_auto:
        per_image = {}
        for entry in image_set.entries:
            low, high = auto_thresholds(entry.path, resolution=args.processor_res)
            per_image[entry.stem] = CannyUnit(
                low=low,
                high=high,
                weight=unit.weight,
                processor_res=unit.processor_res,
                control_mode=unit.control_mode,
            )
    plan = make_plan(
        image_set,
        args.styles,
        template=args.template,
        negative_prompt=args.negative,
        seed_policy=args.seed_policy,
        seed=args.seed,
        sampler=args.sampler,
        steps=args.steps,
        cfg_scale=args.cfg,
        width=width,
        height=height,
        batch_size=args.batch_size,
        canny=unit,
        target_steps_per_epoch=args.target_steps,
        train_batch_size=args.train_batch_size,
        canny_per_image=per_image,
    )
    plan.save(args.out, overwrite=args.overwrite)
    repeats = plan.jobs[0].repeats
    emit_text(
        f"wrote {args.out}: {len(plan.jobs)} jobs = {len(plan.images)} images × {len(plan.styles)} styles, "
        f"repeats {repeats}",
        json_mode=args.json,
    )
    if args.json:
        emit_json(
            {
                "plan": str(args.out),
                "jobs": len(plan.jobs),
                "images": len(plan.images),
                "styles": plan.styles,
                "repeats": repeats,
                "first_prompt": plan.jobs[0].prompt,
            }
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    from lib_stylemix.restyle.execute import execute
    from lib_stylemix.restyle.plan import RestylePlan
    from lib_stylemix.restyle.preview import PreviewGenerator

    plan = RestylePlan.load(args.plan)
    generator = PreviewGenerator()
    flag = CancelFlag()
    with cancel_on_interrupt(flag):
        result = execute(
            plan, generator, args.out, progress=ConsoleProgress(), cancel=flag, backend=args.backend,
            grid=not args.no_grid,
        )
    for job_id, message in result.failed.items():
        say(f"failed: {job_id}: {message}")
    emit_text(
        f"{len(result.written)} written, {len(result.skipped)} already done, {len(result.failed)} failed"
        + (", cancelled" if result.cancelled else "")
        + f"; manifest {result.manifest_path}",
        json_mode=args.json,
    )
    if args.json:
        emit_json(result.to_dict())
    if result.cancelled or result.failed:
        return 1
    return 0
