"""`<lora:name:weight>` prompt tags, added or replaced so that re-applying never stacks a second tag.

The webui applies LoRAs from these tags (extra networks), so an epoch grid, an X/Y/Z axis or a pool
preview only has to put the right tag in the prompt. `with_lora(s)` first removes the tags of the names it
renders, so the result depends only on the prompt without them and on the final weights; the X/Y/Z axes
build their order independence on that (`lib_stylemix.webui.xyz`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

TAG = re.compile(r"<(?P<kind>lora|lyco):(?P<name>[^:>]+)(?P<rest>(?::[^>]*)?)>")


def format_weight(weight: float) -> str:
    """A short, exact-enough weight: 0.8 → "0.8", 1.0 → "1", 0.125 → "0.125"."""
    text = f"{float(weight):.4f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def lora_tag(name: str, weight: float) -> str:
    """The tag for one LoRA at one strength (text encoder and UNet alike)."""
    if not name or ":" in name or ">" in name or "<" in name:
        raise ValueError(f"{name!r} cannot be used in a <lora:…> tag")
    return f"<lora:{name}:{format_weight(weight)}>"


def _tidy(prompt: str) -> str:
    prompt = re.sub(r"\s*,\s*(,\s*)+", ", ", prompt)
    prompt = re.sub(r"[ \t]{2,}", " ", prompt)
    return prompt.strip().strip(",").strip()


def remove_lora_tags(prompt: str, names: Iterable[str] | None = None) -> str:
    """`prompt` without the LoRA tags of `names` (all LoRA tags when `names` is None)."""
    wanted = None if names is None else set(names)

    def drop(match: re.Match[str]) -> str:
        return "" if wanted is None or match.group("name").strip() in wanted else match.group(0)

    return _tidy(TAG.sub(drop, prompt))


def with_loras(prompt: str, loras: Sequence[tuple[str, float]]) -> str:
    """`prompt` with exactly one tag per named LoRA at the given weight, appended at the end.

    Tags the prompt already holds for these names are replaced; other tags stay where they are. This is
    the prompt-stacking preview of a linear merge: `<lora:a:w1> <lora:b:w2>` adds w1·ΔW_a + w2·ΔW_b.
    """
    base = remove_lora_tags(prompt, [name for name, _ in loras])
    tags = " ".join(lora_tag(name, weight) for name, weight in loras)
    return f"{base} {tags}".strip() if tags else base


def with_lora(prompt: str, name: str, weight: float) -> str:
    """`prompt` with one `<lora:name:weight>` tag (added, or replacing the one already there)."""
    return with_loras(prompt, [(name, weight)])


def reweight_last_lora(prompt: str, weight: float) -> tuple[str, str, str] | None:
    """`(new prompt, old tag, new tag)` with the last LoRA tag's weight set to `weight`; None without a tag."""
    matches = list(TAG.finditer(prompt))
    if not matches:
        return None
    last = matches[-1]
    replacement = f"<{last.group('kind')}:{last.group('name')}:{format_weight(weight)}>"
    return prompt[: last.start()] + replacement + prompt[last.end() :], last.group(0), replacement
