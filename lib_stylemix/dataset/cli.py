"""`dataset prepare|list` and `canny`: build the standard image set and check its edge maps from the shell."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from lib_stylemix.console import emit_json, emit_text, say
from lib_stylemix.errors import StyleMixError


def parse_colour(text: str) -> tuple[int, int, int]:
    """`#rrggbb`, `rrggbb` or `r,g,b` → an RGB tuple."""
    text = text.strip()
    match = re.fullmatch(r"#?([0-9a-fA-F]{6})", text)
    if match:
        value = match.group(1)
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    parts = text.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return int(parts[0]), int(parts[1]), int(parts[2])
    raise StyleMixError(f"colour {text!r}: use #rrggbb or r,g,b")


def register(subparsers) -> None:
    dataset = subparsers.add_parser("dataset", help="prepare the standard image set (crop, resize, descriptions)")
    commands = dataset.add_subparsers(dest="dataset_command", metavar="ACTION")
    commands.required = True

    prepare = commands.add_parser(
        "prepare", help="copy a folder of images to a new folder at one size, with an images.json manifest"
    )
    prepare.add_argument("src", help="folder with the source images (never modified)")
    prepare.add_argument("dst", help="new folder for the prepared PNGs and images.json")
    prepare.add_argument("--size", default="512", help="N or WIDTHxHEIGHT, multiples of 8 (default 512)")
    prepare.add_argument("--crop", choices=("center", "focal", "pad"), default="center", help="default center")
    prepare.add_argument("--background", default="#ffffff", help="fills transparency and pad bars (default white)")
    prepare.add_argument("--allow-upscale", action="store_true", help="enlarge sources smaller than the size")
    prepare.add_argument("--overwrite", action="store_true", help="replace files already in DST")
    prepare.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    prepare.set_defaults(func=_prepare)

    listing = commands.add_parser("list", help="show the images of a folder with their descriptions")
    listing.add_argument("folder")
    listing.add_argument("--csv", metavar="OUT", help="also export file,description as CSV for editing")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    describe = commands.add_parser(
        "describe", help="write edited descriptions (a CSV from `dataset list --csv`) into a prepared set"
    )
    describe.add_argument("folder", help="a prepared set (has images.json)")
    describe.add_argument("--from-csv", required=True, metavar="CSV", help="file,description CSV to read")
    describe.add_argument("--json", action="store_true")
    describe.set_defaults(func=_describe)

    canny = subparsers.add_parser("canny", help="canny edge map of an image, or a contact sheet of a folder")
    canny.add_argument("source", metavar="IMAGE_OR_DIR")
    thresholds = canny.add_mutually_exclusive_group()
    thresholds.add_argument("--auto", action="store_true", help="median-based thresholds per image")
    thresholds.add_argument("--low", type=int, help="low threshold (default 100)")
    canny.add_argument("--high", type=int, help="high threshold (default 200)")
    canny.add_argument("--resolution", type=int, default=512, help="short side before edge detection (default 512)")
    canny.add_argument("-o", "--out", required=True, help="PNG to write (edge map, or contact sheet for a folder)")
    canny.add_argument("--overwrite", action="store_true")
    canny.add_argument("--json", action="store_true")
    canny.set_defaults(func=_canny)


def _prepare(args: argparse.Namespace) -> int:
    from lib_stylemix.dataset.images import prepare_image_set

    result = prepare_image_set(
        args.src,
        args.dst,
        args.size,
        args.crop,
        background=parse_colour(args.background),
        allow_upscale=args.allow_upscale,
        overwrite=args.overwrite,
    )
    for warning in result.warnings:
        say(f"warning: {warning}")
    emit_text(f"prepared {len(result.image_set)} images in {args.dst} ({len(result.skipped)} skipped)",
              json_mode=args.json)
    if args.json:
        emit_json(result.to_dict())
    return 0


def _list(args: argparse.Namespace) -> int:
    from lib_stylemix.dataset.descriptions import write_descriptions_csv
    from lib_stylemix.dataset.images import load_image_set

    image_set = load_image_set(args.folder)
    for warning in image_set.warnings:
        say(f"warning: {warning}")
    if args.csv:
        write_descriptions_csv(args.csv, image_set.descriptions())
        say(f"wrote {args.csv}")
    if args.json:
        emit_json({"folder": image_set.folder, "images": [vars(e) for e in image_set.entries]})
    else:
        for entry in image_set.entries:
            emit_text(f"{Path(entry.path).name}\t{entry.width}x{entry.height}\t{entry.description}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    from lib_stylemix.dataset.descriptions import read_descriptions, update_descriptions

    changed = update_descriptions(args.folder, read_descriptions(args.from_csv))
    emit_text(f"{changed} description(s) changed in {Path(args.folder) / 'images.json'}", json_mode=args.json)
    if args.json:
        emit_json({"folder": str(args.folder), "changed": changed})
    return 0


def _canny(args: argparse.Namespace) -> int:
    from lib_stylemix.dataset.canny import (
        auto_thresholds,
        canny_map,
        check_thresholds,
        contact_sheet,
        density_warning,
        edge_density,
        map_image,
    )
    from lib_stylemix.dataset.images import load_image_set, open_rgb
    from lib_stylemix.fsutil import check_output_file, write_with

    if args.high is not None and args.auto:
        raise StyleMixError("--high cannot be combined with --auto")
    check_output_file(args.out, suffix=".png", overwrite=args.overwrite)
    low = 100 if args.low is None else args.low
    high = 200 if args.high is None else args.high
    if not args.auto:
        check_thresholds(low, high)
    source = Path(args.source)
    if source.is_dir():
        image_set = load_image_set(source)
        for warning in image_set.warnings:
            say(f"warning: {warning}")
        items = [(Path(e.path).name, open_rgb(e.path)) for e in image_set.entries]
    elif source.is_file():
        items = [(source.name, open_rgb(source))]
    else:
        raise StyleMixError(f"{source}: no such file or folder")
    rows, maps, pairs = [], [], []
    for name, image in items:
        pair = auto_thresholds(image, resolution=args.resolution) if args.auto else (low, high)
        edge_map = canny_map(image, *pair, resolution=args.resolution)
        density = edge_density(edge_map)
        flag = density_warning(density)
        rows.append({"file": name, "low": pair[0], "high": pair[1], "density": round(density, 5), "warning": flag})
        maps.append(edge_map)
        pairs.append(pair)
        emit_text(f"{name}: {pair[0]}/{pair[1]} density {density:.1%}" + (f"  WARNING {flag}" if flag else ""),
                  json_mode=args.json)
    if source.is_dir():
        title = f"canny {'auto' if args.auto else f'{low}/{high}'} · {source.name}"
        picture = contact_sheet(maps, [str(r["file"]) for r in rows], thresholds=pairs, title=title)
    else:
        picture = map_image(maps[0])
    write_with(args.out, lambda tmp: picture.save(tmp, format="PNG"), overwrite=args.overwrite)
    emit_text(f"wrote {args.out}", json_mode=args.json)
    if args.json:
        emit_json({"source": str(source), "output": str(args.out), "images": rows})
    return 0
