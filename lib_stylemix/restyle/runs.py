"""Run folders: every restyle run owns its folder, so a second run never replaces the first one's records.

A run is identified by what decides its images: the plan's settings (styles, template, sampler, size, seeds,
canny, triggers …), its job ids and its source images (their paths: two uploads of a `photo1.png` are two
runs). The seeds of the `random` policy are left out (they are drawn anew for every plan, yet a rerun must
resume).

The txt2img Script and the tab treat the folder a person chose as a *root*: a rerun of the same plan finds
its run folder there and resumes it; any other plan gets a new `<root>/run-YYYYMMDD-HHMMSS`. A root that is
itself a run folder (the layout before run folders) is resumed when the plan matches. `execute` refuses to
write into a folder that holds a different run, whichever caller asks.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.plan import RestylePlan

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "stylemix-restyle-output"
RUN_PREFIX = "run-"
_NOT_IDENTITY = ("jobs", "images", "format", "version")


def plan_settings(plan: RestylePlan) -> dict[str, Any]:
    """The plan's settings as the manifest stores them (everything but the job and image lists)."""
    return {k: v for k, v in plan.to_dict().items() if k not in _NOT_IDENTITY}


def run_key(settings: Mapping[str, Any], job_ids: Iterable[str], sources: Iterable[str]) -> str:
    """A short digest of what makes a run; equal keys mean "the same run, resume it"."""
    identity = dict(settings)
    if identity.get("seed_policy") == "random":
        identity.pop("seed", None)
    document = {"settings": identity, "jobs": sorted(job_ids), "sources": sorted(set(sources))}
    canonical = json.dumps(json.loads(json.dumps(document)), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def plan_key(plan: RestylePlan) -> str:
    return run_key(plan_settings(plan), (job.job_id for job in plan.jobs), (job.image_path for job in plan.jobs))


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The restyle manifest in `folder`, None when there is none; a foreign or broken one is an error."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StyleMixError(f"{path}: exists but is not readable JSON ({exc}); not ours to replace") from exc
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise StyleMixError(f"{path}: exists and is not a StyleMix restyle manifest; pick another folder")
    return document


def manifest_key(document: Mapping[str, Any]) -> str:
    found = document.get("settings")
    settings: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    listed = document.get("jobs")
    jobs = [j for j in listed if isinstance(j, Mapping)] if isinstance(listed, list) else []
    return run_key(settings, (str(j.get("job_id")) for j in jobs), (str(j.get("source_image")) for j in jobs))


def check_same_run(plan: RestylePlan, folder: Path) -> None:
    """Refuse (clearly) to write `plan` into a folder whose manifest records a different run."""
    document = read_manifest(folder)
    if document is None or manifest_key(document) == plan_key(plan):
        return
    styles = ", ".join(str(s.get("style")) for s in document.get("styles", []) if isinstance(s, Mapping))
    raise StyleMixError(
        f"{folder}: holds another restyle run ({styles or 'other settings'}, updated {document.get('updated', '?')}); "
        "its manifest and grid pages are kept — choose a new output folder (the same plan again resumes it)"
    )


def _is_run_of(plan_id: str, folder: Path) -> bool:
    try:
        document = read_manifest(folder)
    except StyleMixError:
        return False
    return document is not None and manifest_key(document) == plan_id


def new_run_folder(root: Path, now: float | None = None) -> Path:
    """`<root>/run-YYYYMMDD-HHMMSS` (local time), numbered `-2`, `-3` … when taken; not created here."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    candidate = root / f"{RUN_PREFIX}{stamp}"
    number = 2
    while candidate.exists():
        candidate = root / f"{RUN_PREFIX}{stamp}-{number}"
        number += 1
    return candidate


def choose_run_folder(plan: RestylePlan, root: str | Path, now: float | None = None) -> tuple[Path, bool]:
    """(run folder, resumed?) for `plan` under `root`: its earlier run folder if there is one, else a new one."""
    root = Path(root)
    plan_id = plan_key(plan)
    if _is_run_of(plan_id, root):  # the root is a run folder of this plan (layout before run folders)
        return root, True
    if root.is_dir():
        for child in sorted(root.glob(RUN_PREFIX + "*"), reverse=True):
            if child.is_dir() and _is_run_of(plan_id, child):
                return child, True
    return new_run_folder(root, now), False
