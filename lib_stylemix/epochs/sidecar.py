"""Record the chosen epoch and strength in the webui's user-metadata sidecar `<stem>.json`.

The Lora tab's card editor reads and writes this file (`description`, `sd version`, `activation text`,
`preferred weight`, `negative text`, `notes`); the webui uses `preferred weight` when a card is clicked. We
merge into what is there and keep every key we do not own, because the person may have written them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lib_stylemix.epochs.tags import format_weight
from lib_stylemix.errors import StyleMixError
from lib_stylemix.fsutil import write_atomic

KEEP = "fix or remove it, StyleMix will not overwrite it"
SD_VERSIONS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}


def sidecar_path(lora_path: str | Path) -> Path:
    return Path(lora_path).with_suffix(".json")


def read_sidecar(lora_path: str | Path) -> dict[str, Any]:
    """The sidecar's content, `{}` when there is none; a broken one is an error (we will not replace it)."""
    path = sidecar_path(lora_path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StyleMixError(f"{path}: not readable JSON ({exc}); {KEEP}") from None
    if not isinstance(data, dict):
        raise StyleMixError(f"{path}: expected a JSON object, not {type(data).__name__}; {KEEP}")
    return data


def choice_note(epoch: int | None, strength: float) -> str:
    epoch_text = "the final epoch" if epoch is None else f"epoch {epoch}"
    return f"StyleMix: chose {epoch_text} at strength {format_weight(strength)}."


def write_choice(
    lora_path: str | Path,
    strength: float,
    *,
    epoch: int | None = None,
    arch: str | None = None,
    activation_text: str | None = None,
) -> Path:
    """Merge the choice into `<stem>.json` next to `lora_path` (atomically) and return the sidecar path.

    Sets `preferred weight`; sets `sd version` from `arch` only when the person has not set one; sets
    `activation text` when given; appends a one-line note (once) to `notes`. Other keys are kept as they are.
    """
    lora_path = Path(lora_path)
    if not lora_path.is_file():
        raise StyleMixError(f"{lora_path}: LoRA file not found")
    if not 0.0 <= float(strength) <= 2.0:
        raise StyleMixError(f"{lora_path.name}: preferred strength {strength} is outside 0..2")
    data = read_sidecar(lora_path)
    data["preferred weight"] = round(float(strength), 4)
    if arch in SD_VERSIONS and data.get("sd version", "Unknown") in {"", "Unknown"}:
        data["sd version"] = SD_VERSIONS[arch]
    if activation_text is not None:
        data["activation text"] = activation_text.strip()
    note = choice_note(epoch, strength)
    notes = str(data.get("notes") or "")
    if note not in notes.splitlines():
        data["notes"] = f"{notes.rstrip()}\n{note}".strip()
    path = sidecar_path(lora_path)
    write_atomic(path, json.dumps(data, indent=4, ensure_ascii=False), overwrite=True)
    return path
