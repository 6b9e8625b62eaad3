"""StyleMix's user settings, one dataclass shared by the webui, the standalone app and the CLI.

The webui stores them in its flat `config.json` under `stylemix_<field>` keys, and reads them before the
settings page has ever been built (API-only mode, `--nowebui`), so every read goes through
`StyleMixSettings.from_mapping`, which falls back to the default for anything missing or malformed rather
than failing: a hand-edited config must never stop the extension from loading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

DEFAULT_PREVIEW_PROMPTS = (
    "a portrait of a woman, upper body",
    "a city street at dusk",
    "a still life with fruit on a table",
    "a mountain landscape with a lake",
)


@dataclasses.dataclass(frozen=True)
class StyleMixSettings:
    """Everything a person may want to set once rather than in every panel.

    Paths are strings as typed by the person; relative ones are taken relative to the host's working
    folder (the webui root inside the webui). Empty `sd_scripts_dir`/`sd_scripts_python` mean "look in
    the usual places" (the training area decides where).
    """

    sd_scripts_dir: str = ""
    sd_scripts_python: str = ""
    sd_scripts_tokenizer_dir: str = ""  # empty: <extension>/data/tokenizer-cache (sd-scripts' CLIP tokenizer cache)
    dataset_output_dir: str = "outputs/stylemix/datasets"
    restyle_output_dir: str = "outputs/stylemix/restyle"
    training_output_dir: str = "outputs/stylemix/training"
    epochs_output_dir: str = "outputs/stylemix/epochs"
    pool_output_dir: str = "outputs/stylemix/pool"
    default_template: str = "{style} art, {description}"
    negative_prompt: str = "lowres, blurry, watermark, text"
    sampler: str = "DDIM"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    canny_low: int = 100
    canny_high: int = 200
    controlnet_weight: float = 1.0
    controlnet_model: str = ""
    preview_prompts: tuple[str, ...] = DEFAULT_PREVIEW_PROMPTS
    preview_seeds: tuple[int, ...] = (1234, 5678)
    epoch_strengths: tuple[float, ...] = (0.4, 0.6, 0.8, 1.0)
    compute_threads: str = "auto"  # "auto" (cores not busy; 1 while generating) or a number (lib_stylemix.threads)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], prefix: str = "") -> StyleMixSettings:
        """Build settings from `mapping[prefix + field]`, using the default for missing or unusable values.

        Tuple fields accept a sequence or a string with one item per line (or comma-separated numbers),
        because that is how a settings textbox stores them.
        """
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            key = prefix + field.name
            if key not in mapping or mapping[key] is None:
                continue
            default = field.default
            try:
                values[field.name] = _coerce(mapping[key], default)
            except (TypeError, ValueError):
                continue
        return cls(**values)

    def to_mapping(self, prefix: str = "") -> dict[str, Any]:
        """The settings as plain values (tuples as lists), keyed like `from_mapping` reads them."""
        return {
            prefix + f.name: list(getattr(self, f.name)) if isinstance(f.default, tuple) else getattr(self, f.name)
            for f in dataclasses.fields(self)
        }


def _coerce(value: Any, default: Any) -> Any:
    """Convert `value` to the type of `default`; raise ValueError/TypeError when it does not fit."""
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
    if isinstance(default, int):
        if isinstance(value, bool):
            raise TypeError("a boolean is not a number here")
        number = float(value)
        if number != int(number):
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    if isinstance(default, float):
        if isinstance(value, bool):
            raise TypeError("a boolean is not a number here")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not text")
        return value
    if isinstance(default, tuple):
        items = _split_items(value, numeric=bool(default) and not isinstance(default[0], str))
        kind = type(default[0]) if default else str
        converted = tuple(_coerce(item, kind()) for item in items)
        if not converted:
            raise ValueError("empty list")
        return converted
    raise TypeError(f"unsupported setting type {type(default).__name__}")


def _split_items(value: Any, *, numeric: bool) -> list[Any]:
    if isinstance(value, str):
        separators = value.replace(",", "\n") if numeric else value
        return [line.strip() for line in separators.splitlines() if line.strip()]
    if isinstance(value, (list, tuple)):
        return [item.strip() if isinstance(item, str) else item for item in value if item not in ("", None)]
    raise TypeError(f"{value!r} is not a list")
