"""The LoRA engine: read kohya LoRAs lazily, compare them through ΔW inner products, merge and write them.

Everything here works on per-module factors (ΔW = up @ down) and never forms a dense ΔW in the default paths.
See the README section "The LoRA engine" for the maths and the command line.
"""

from lib_stylemix.lora.arch import ARCHES, block_names, block_of, check_same_arch, detect_arch
from lib_stylemix.lora.batch_open import OpenedBatch, Skipped, open_many
from lib_stylemix.lora.container import LoraFormatError
from lib_stylemix.lora.file import Factors, LoraFile, ModuleInfo, open_lora
from lib_stylemix.lora.kernel import (
    METRICS,
    CrossKernel,
    Kernel,
    cosine_similarity,
    cross_kernel,
    distance_from_gram,
    distances,
    kernel,
    legacy_distance_matrix,
)
from lib_stylemix.lora.merge import METHODS, MergedLora, MergeTerm, OutModule, merge
from lib_stylemix.lora.synthetic import default_modules, make_lora_file, module_table, write_example_pool
from lib_stylemix.lora.writer import WrittenLora, write_lora

__all__ = [
    "ARCHES",
    "METHODS",
    "METRICS",
    "CrossKernel",
    "Factors",
    "Kernel",
    "LoraFile",
    "LoraFormatError",
    "MergeTerm",
    "MergedLora",
    "ModuleInfo",
    "OpenedBatch",
    "OutModule",
    "Skipped",
    "WrittenLora",
    "block_names",
    "block_of",
    "check_same_arch",
    "cosine_similarity",
    "cross_kernel",
    "default_modules",
    "detect_arch",
    "distance_from_gram",
    "distances",
    "kernel",
    "legacy_distance_matrix",
    "make_lora_file",
    "merge",
    "module_table",
    "open_lora",
    "open_many",
    "write_example_pool",
    "write_lora",
]
