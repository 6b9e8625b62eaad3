"""Generation parameters in the webui's infotext format, so PNG Info → "Send to txt2img" restores a job.

Format (A1111 `modules/infotext_utils.py`): the prompt lines, an optional `Negative prompt: …` line, then one
line of `Key: value` pairs separated by `, `. A value containing `,`, `:` or a newline is written as a JSON
string. ControlNet's unit is one such value (sd-webui-controlnet `scripts/infotext.py`):
`ControlNet 0: "Module: canny, Model: …, Weight: 1, …"`. Our own keys all start with `StyleMix `.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from lib_stylemix import __version__
from lib_stylemix.restyle.plan import CannyUnit, RestyleJob

PNG_TEXT_KEY = "parameters"
STYLEMIX_PREFIX = "StyleMix "
# one `Key: value` pair: a key of words, spaces, '-' or '/', then a JSON-quoted string or anything up to a comma
_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def quote(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            return text
    return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def controlnet_unit_text(canny: CannyUnit, model: str = "None") -> str:
    """The canny unit as sd-webui-controlnet serialises it (its parser splits on ", " and ": ")."""
    model = re.sub(r"[,:]", " ", model).strip() or "None"
    fields = (
        ("Module", "canny"),
        ("Model", model),
        ("Weight", _number(canny.weight)),
        ("Resize Mode", canny.resize_mode),
        ("Processor Res", canny.processor_res),
        ("Threshold A", canny.low),
        ("Threshold B", canny.high),
        ("Guidance Start", _number(canny.guidance_start)),
        ("Guidance End", _number(canny.guidance_end)),
        ("Pixel Perfect", False),
        ("Control Mode", canny.control_mode),
    )
    return ", ".join(f"{key}: {value}" for key, value in fields)


def stylemix_fields(job: RestyleJob, *, backend: str = "", index: int = 0) -> dict[str, str]:
    """Our keys: enough to trace an image back to its plan job without the manifest."""
    fields = {
        "StyleMix job": job.job_id,
        "StyleMix style": job.style,
        "StyleMix image": job.image_stem,
        "StyleMix trigger": job.trigger,
        "StyleMix batch index": str(index),
        "StyleMix version": __version__,
    }
    if backend:
        fields["StyleMix backend"] = backend
    return fields


def format_params(params: Mapping[str, object]) -> str:
    return ", ".join(f"{key}: {quote(value)}" for key, value in params.items() if value is not None and value != "")


def build_infotext(
    job: RestyleJob,
    *,
    controlnet_model: str = "None",
    backend: str = "",
    index: int = 0,
    extra: Mapping[str, object] | None = None,
) -> str:
    """Infotext for one output image of `job` when the generator did not supply the webui's own."""
    params: dict[str, object] = {
        "Steps": job.steps,
        "Sampler": job.sampler,
        "CFG scale": _number(job.cfg_scale),
        "Seed": job.seed + index,
        "Size": f"{job.width}x{job.height}",
        "ControlNet 0": controlnet_unit_text(job.canny, controlnet_model),
        **(extra or {}),
        **stylemix_fields(job, backend=backend, index=index),
    }
    lines = [job.prompt.strip()]
    if job.negative_prompt.strip():
        lines.append(f"Negative prompt: {job.negative_prompt.strip()}")
    lines.append(format_params(params))
    return "\n".join(lines)


def merge_infotext(webui_text: str, job: RestyleJob, *, backend: str = "", index: int = 0) -> str:
    """The webui's own infotext (the true record) with our `StyleMix` keys appended to its parameter line."""
    text = webui_text.strip()
    ours = {k: v for k, v in stylemix_fields(job, backend=backend, index=index).items() if f"{k}:" not in text}
    if not ours:
        return text
    *head, last = text.split("\n")
    if len(_PAIR.findall(last)) >= 3:
        return "\n".join([*head, f"{last}, {format_params(ours)}"])
    return f"{text}\n{format_params(ours)}"


def parse_infotext(text: str) -> dict[str, str]:
    """Parse infotext the way the webui does: `Prompt`, `Negative prompt`, every key, `Size` as `Size-1`/`Size-2`."""
    *lines, last = text.strip().split("\n")
    if len(_PAIR.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    result = {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative)}
    for key, value in _PAIR.findall(last):
        value = unquote(value)
        size = _SIZE.match(value)
        if size:
            result[f"{key}-1"], result[f"{key}-2"] = size.group(1), size.group(2)
        else:
            result[key] = value
    return result


def parse_controlnet_unit(text: str) -> dict[str, str]:
    """`"Module: canny, Weight: 1, …"` → {"Module": "canny", "Weight": "1", …}."""
    result: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition(": ")
        if sep:
            result[key] = value
    return result
