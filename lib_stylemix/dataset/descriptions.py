"""Where each image's description comes from, and the editable manifest that stores them.

Order of precedence: the manifest (`images.json` or a CSV the user edited) → a sidecar `<stem>.txt` → the
file name (`boy_walking_on_beach_02.jpg` → "boy walking on beach").
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic

MANIFEST_NAME = "images.json"
MANIFEST_VERSION = 1
CSV_COLUMNS = ("file", "description")


def description_from_stem(stem: str) -> str:
    """Turn a file name into words: separators become spaces, camel case splits, trailing numbers go.

    `boy_walking_on_beach_02` → "boy walking on beach"; `IMG_1234` → "IMG" ; `redFox-3` → "red fox".
    """
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    words = [w for w in re.split(r"[\s_\-.+]+", text) if w]
    while len(words) > 1 and re.fullmatch(r"\(?\d+\)?", words[-1]):
        words.pop()
    words = [w.lower() if w[:1].isupper() and w[1:].islower() else w for w in words]
    return " ".join(words)


def read_sidecar(image_path: Path) -> str | None:
    """First non-empty text of `<stem>.txt` next to the image, whitespace collapsed; None if there is none."""
    sidecar = image_path.with_suffix(".txt")
    if not sidecar.is_file():
        return None
    try:
        text = sidecar.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StyleMixError(f"{sidecar}: cannot read description ({exc})") from exc
    text = " ".join(text.split())
    return text or None


def read_descriptions(path: str | Path) -> dict[str, str]:
    """File name → description from an `images.json` manifest or a two-column CSV (`file,description`)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StyleMixError(f"{path}: cannot read manifest ({exc})") from exc
    if path.suffix.lower() == ".csv":
        return _parse_csv(path, raw)
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StyleMixError(f"{path}: not valid JSON ({exc})") from exc
    entries = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise StyleMixError(f"{path}: expected an object with an 'images' list")
    result: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise StyleMixError(f"{path}: images[{i}] needs a 'file' string")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise StyleMixError(f"{path}: images[{i}].description must be a string")
        result[entry["file"]] = description
    return result


def _parse_csv(path: Path, raw: str) -> dict[str, str]:
    reader = csv.DictReader(io.StringIO(raw))
    if reader.fieldnames is None or not set(CSV_COLUMNS) <= set(reader.fieldnames):
        raise StyleMixError(f"{path}: CSV needs the columns {', '.join(CSV_COLUMNS)}")
    result: dict[str, str] = {}
    for row in reader:
        name = (row.get("file") or "").strip()
        if name:
            result[name] = row.get("description") or ""
    return result


def write_descriptions_csv(target: str | Path, descriptions: Mapping[str, str], *, overwrite: bool = False) -> Path:
    """Export file name → description as CSV (for editing in a spreadsheet); `read_descriptions` reads it back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, description in descriptions.items():
        writer.writerow((name, description))
    return write_atomic(target, buffer.getvalue(), overwrite=overwrite)


def manifest_document(entries: Iterable[Mapping[str, object]], **header: object) -> dict[str, object]:
    """The `images.json` document: a version, free header fields (source, size, crop …) and the image list."""
    return {"version": MANIFEST_VERSION, **header, "images": [dict(e) for e in entries]}


def write_manifest(target: str | Path, document: Mapping[str, object], *, overwrite: bool = False) -> Path:
    return write_atomic(target, json.dumps(document, indent=2, ensure_ascii=False) + "\n", overwrite=overwrite)


def update_descriptions(folder: str | Path, edits: Mapping[str, str]) -> int:
    """Write edited descriptions into a prepared set's `images.json`; returns how many changed.

    Only a set StyleMix prepared (it has `images.json`) is written to, so an original folder never is; unknown
    file names and empty descriptions are refused before anything is written.
    """
    folder = Path(folder)
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise StyleMixError(f"{folder}: has no {MANIFEST_NAME}; descriptions are only saved into a prepared set "
                            "(prepare the folder first, so your original folder is never written to)")
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        images = doc["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StyleMixError(f"{manifest}: cannot read the manifest ({exc})") from exc
    edits = {name.strip(): " ".join(text.split()) for name, text in edits.items() if name.strip()}
    by_file = {entry.get("file"): entry for entry in images if isinstance(entry, dict)}
    unknown = sorted(name for name in edits if name not in by_file)
    if unknown:
        raise StyleMixError(f"{manifest}: no such image(s) in the set: {', '.join(unknown)}")
    empty = sorted(name for name, text in edits.items() if not text)
    if empty:
        raise StyleMixError(f"description is empty for: {', '.join(empty)}")
    changed = [name for name, text in edits.items() if by_file[name].get("description") != text]
    for name in changed:
        by_file[name]["description"] = edits[name]
    if changed:
        write_manifest(manifest, doc, overwrite=True)
    return len(changed)
