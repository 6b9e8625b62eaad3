"""The LoRA engine: read kohya LoRAs lazily, compare them through ΔW inner products, merge and write them.

Everything here works on per-module factors (ΔW = up @ down) and never forms a dense ΔW in the default paths.
See the README section "The LoRA engine" for the maths and the command line.

The names below are imported on first use (PEP 562), so `import lib_stylemix.lora.cli` or reading a header
does not load numpy, torch or the merge code: `info` and `--help` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib_stylemix.lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and editors
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

_EXPORTS = {
    "lib_stylemix.lora.arch": ("ARCHES", "block_names", "block_of", "check_same_arch", "detect_arch"),
    "lib_stylemix.lora.batch_open": ("OpenedBatch", "Skipped", "open_many"),
    "lib_stylemix.lora.container": ("LoraFormatError",),
    "lib_stylemix.lora.file": ("Factors", "LoraFile", "ModuleInfo", "open_lora"),
    "lib_stylemix.lora.kernel": ("METRICS", "CrossKernel", "Kernel", "cosine_similarity", "cross_kernel",
                                 "distance_from_gram", "distances", "kernel", "legacy_distance_matrix"),
    "lib_stylemix.lora.merge": ("METHODS", "MergedLora", "MergeTerm", "OutModule", "merge"),
    "lib_stylemix.lora.synthetic": ("default_modules", "make_lora_file", "module_table", "write_example_pool"),
    "lib_stylemix.lora.writer": ("WrittenLora", "write_lora"),
}
__all__ = lazy_exports(__name__, _EXPORTS)
