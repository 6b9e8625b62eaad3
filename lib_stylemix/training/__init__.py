"""Training one style LoRA per artist style with kohya sd-scripts, run as a separate program in its own venv.

Public API (what the webui adapter and the CLI call):
- `locate_sd_scripts` (locate), `check_sd_scripts`, `probe_environment` (probe), `SetupPlan`, `setup_commands`,
  `run_setup` (setup)
- `TrainSettings`, `apply_overrides`, `plan_training`, `TrainJob` (config); `validate_job` (validate)
- `TrainingRunner`, `run_training`, `TrainResult`, `ProgressEvent` (runner, progress)
- `TrainingQueue`, `QueueEntry` (queue)
"""

from lib_stylemix.training.config import TrainJob, TrainSettings, apply_overrides, plan_training
from lib_stylemix.training.locate import SdScripts, locate_sd_scripts
from lib_stylemix.training.probe import CheckReport, EnvInfo, check_sd_scripts, probe_environment
from lib_stylemix.training.progress import ProgressEvent
from lib_stylemix.training.queue import QueueEntry, TrainingQueue
from lib_stylemix.training.runner import TrainingRunner, TrainResult, run_training
from lib_stylemix.training.setup import SetupPlan, run_setup, setup_commands
from lib_stylemix.training.validate import validate_job

__all__ = [
    "CheckReport",
    "EnvInfo",
    "ProgressEvent",
    "QueueEntry",
    "SdScripts",
    "SetupPlan",
    "TrainJob",
    "TrainResult",
    "TrainSettings",
    "TrainingQueue",
    "TrainingRunner",
    "apply_overrides",
    "check_sd_scripts",
    "locate_sd_scripts",
    "plan_training",
    "probe_environment",
    "run_setup",
    "run_training",
    "setup_commands",
    "validate_job",
]
