"""Pick the best epoch of a training run: an epoch × strength grid, and recording the choice.

`find_run` orders a run's LoRA files by epoch, `make_plan` turns files × strengths × fixed prompts × seeds
into txt2img jobs (LoRAs enter through `<lora:name:w>` tags), `run_grid` renders them through any
`Txt2ImgGenerator`, and `write_choice` stores the preferred strength in the webui's `<stem>.json` sidecar.
"""

from lib_stylemix.epochs.execute import EpochGridResult, run_grid, save_result
from lib_stylemix.epochs.plan import EpochGridPlan, EpochJob, make_plan
from lib_stylemix.epochs.runs import EpochFile, find_run, list_runs, read_metadata, split_run_name
from lib_stylemix.epochs.sidecar import read_sidecar, sidecar_path, write_choice
from lib_stylemix.epochs.tags import (
    format_weight,
    lora_tag,
    remove_lora_tags,
    reweight_last_lora,
    with_lora,
    with_loras,
)
from lib_stylemix.seams import Txt2ImgGenerator

__all__ = [
    "EpochFile",
    "EpochGridPlan",
    "EpochGridResult",
    "EpochJob",
    "Txt2ImgGenerator",
    "find_run",
    "format_weight",
    "list_runs",
    "lora_tag",
    "make_plan",
    "read_metadata",
    "read_sidecar",
    "remove_lora_tags",
    "reweight_last_lora",
    "run_grid",
    "save_result",
    "sidecar_path",
    "split_run_name",
    "with_lora",
    "with_loras",
    "write_choice",
]
