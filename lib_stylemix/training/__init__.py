"""Training one style LoRA per artist style with kohya sd-scripts, run as a separate program in its own venv.

Public API (what the webui adapter and the CLI call):
- `locate_sd_scripts` (locate), `check_sd_scripts`, `probe_environment` (probe), `SetupPlan`, `setup_commands`,
  `run_setup` (setup)
- `TrainSettings`, `apply_overrides`, `plan_training`, `TrainJob` (config); `validate_job` (validate)
- `TrainingRunner`, `run_training`, `TrainResult`, `ProgressEvent` (runner, progress)
- `TrainingQueue`, `QueueEntry` (queue)

The names are imported on first use (PEP 562): `--help` and the CLI's other commands do not load them.
"""

from __future__ import annotations

from lib_stylemix.lazy import lazy_exports

_EXPORTS = {
    "lib_stylemix.training.config": ("TrainJob", "TrainSettings", "apply_overrides", "plan_training"),
    "lib_stylemix.training.locate": ("SdScripts", "locate_sd_scripts"),
    "lib_stylemix.training.probe": ("CheckReport", "EnvInfo", "check_sd_scripts", "probe_environment"),
    "lib_stylemix.training.progress": ("ProgressEvent",),
    "lib_stylemix.training.queue": ("QueueEntry", "TrainingQueue"),
    "lib_stylemix.training.runner": ("TrainingRunner", "TrainResult", "run_training"),
    "lib_stylemix.training.setup": ("SetupPlan", "run_setup", "setup_commands"),
    "lib_stylemix.training.validate": ("validate_job",),
}
__all__ = lazy_exports(__name__, _EXPORTS)
