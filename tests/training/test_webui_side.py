"""Issue 12 items 11, 14, 18 and 19: the GPU hand-off never makes the webui load a checkpoint, the Train
panel's lookup and messages, everything without tomli-w, and the base model read when the panel is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.ui import train_logic
from lib_stylemix.ui.app import build_tab
from tests.training.conftest import make_checkpoint, make_dataset, make_fake_sd_scripts
from tests.ui.conftest import FakeWebuiHost
from tests.ui.test_blocks import call
from tests.webui.conftest import _clean_standin, a1111, forge  # noqa: F401 (fixtures; the cleanup is autouse)

REPO = Path(__file__).resolve().parents[2]


def test_handoff_without_a_loaded_checkpoint_loads_nothing(a1111):  # noqa: F811
    from lib_stylemix.webui.gpu import WebuiGpuHandoff

    handoff = WebuiGpuHandoff()
    handoff.release()
    handoff.restore()
    assert a1111.sd_models.model_data.sd_model is None and "load" not in a1111.sd_models.events
    assert a1111.sd_models.events == [] and handoff.note == "no checkpoint loaded in the webui: nothing to free"


def test_standin_reproduces_the_lazy_load(a1111):  # noqa: F811
    a1111.sd_models.unload_model_weights()  # what the hand-off used to call
    assert a1111.sd_models.events == ["load", "unload"] and a1111.sd_models.model_data.sd_model is not None


def test_handoff_moves_a_gpu_model_and_brings_it_back(a1111):  # noqa: F811
    from lib_stylemix.webui.gpu import WebuiGpuHandoff

    a1111.load_model("sd1")
    handoff = WebuiGpuHandoff()
    handoff.release()
    assert a1111.sd_models.model_data.sd_model.device == "cpu"
    handoff.restore()
    assert a1111.sd_models.events == ["unload", "to_device"] and a1111.sd_models.model_data.sd_model.device == "cuda"


def test_handoff_on_cpu_says_it_frees_nothing(a1111):  # noqa: F811
    from lib_stylemix.webui.gpu import WebuiGpuHandoff

    a1111.load_model("sd1")
    a1111.sd_models.model_data.sd_model.device = "cpu"
    handoff = WebuiGpuHandoff()
    handoff.release()
    handoff.restore()
    assert a1111.sd_models.events == []
    assert "frees no memory" in handoff.note and "6.5 GB" in handoff.note


def test_handoff_on_forge_unloads_through_its_memory_manager(forge):  # noqa: F811
    from backend import memory_management

    from lib_stylemix.webui.gpu import WebuiGpuHandoff

    handoff = WebuiGpuHandoff()
    handoff.release()
    handoff.restore()
    assert memory_management.events == ["unload_all_models", "soft_empty_cache"] and forge.sd_models.events == []


def test_panel_finds_sd_scripts_in_the_extension_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STYLEMIX_SD_SCRIPTS", raising=False)
    ext = tmp_path / "extension"
    monkeypatch.setattr("lib_stylemix.training.locate.EXTENSION_DIR", ext)
    with pytest.raises(StyleMixError) as info:
        train_logic.locate("", "", StyleMixSettings())
    message = str(info.value)
    assert "\u201csd-scripts folder\u201d field" in message and str(ext / "sd-scripts") in message
    assert "--sd-scripts" not in message and "STYLEMIX_SD_SCRIPTS" not in message and "python -m" not in message
    make_fake_sd_scripts(ext / "sd-scripts")
    found = train_logic.locate("", "", StyleMixSettings())
    assert found.source == "extension folder" and found.root == (ext / "sd-scripts").resolve()


class CheckpointHost(FakeWebuiHost):
    """The webui loads its checkpoint after the tab is built."""

    checkpoint: Path | None = None

    def current_checkpoint(self):
        return self.checkpoint


def test_base_model_is_read_when_the_panel_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("STYLEMIX_SD_SCRIPTS", raising=False)
    sd = make_fake_sd_scripts(tmp_path / "sd-scripts")
    settings = StyleMixSettings(training_output_dir=str(tmp_path / "training"), sd_scripts_dir=str(sd.root),
                                sd_scripts_tokenizer_dir=str(tmp_path / "tok"))  # fmt: skip
    host = CheckpointHost(tmp_path / "Lora", settings)
    blocks = build_tab(host)  # nothing loaded yet
    value, status = call(blocks, "stylemix_train_base_model_refresh")
    assert "no checkpoint loaded" in status
    host.checkpoint = make_checkpoint(tmp_path / "sd15.safetensors", "sd1")
    value, status = call(blocks, "stylemix_train_base_model_refresh")
    assert value == str(host.checkpoint) and status == ""
    dataset = make_dataset(tmp_path / "restyled", "inkwash")
    status, _ = call(blocks, "stylemix_train_add", "", "", str(dataset), "", "", 2, 8, 4, 1e-4)
    assert "Queued" in status and "SD1 training" in status
    (entry,) = train_logic.TrainingService.for_file(tmp_path / "training" / "queue.json", None).queue.entries()
    assert entry.job.base_model == str(host.checkpoint.resolve())
    assert entry.job.toml_args["tokenizer_cache_dir"] == str((tmp_path / "tok").resolve())


BLOCK_TOMLI_W = "import sys; sys.modules['tomli_w'] = None\n"


def test_cli_help_and_planning_work_without_tomli_w(fake_sd, dataset, sd15, tmp_path):
    script = BLOCK_TOMLI_W + (
        "from lib_stylemix.cli import main\n"
        "import lib_stylemix.ui.train_logic, lib_stylemix.ui.train_panel\n"
        f"raise SystemExit(main(['train', 'plan', '--dataset', {str(dataset)!r}, '--base-model', {str(sd15)!r}, "
        f"'--sd-scripts', {str(fake_sd.root)!r}, '--output-root', {str(tmp_path / 'o')!r}, '--json']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"valid": true' in done.stdout
    help_script = BLOCK_TOMLI_W + "from lib_stylemix.cli import main; main(['--help'])"
    helped = subprocess.run([sys.executable, "-c", help_script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "train" in helped.stdout, helped.stderr


def test_no_module_imports_tomli_w():
    offenders = [p for p in (REPO / "lib_stylemix").rglob("*.py")
                 if "import tomli_w" in p.read_text(encoding="utf-8")]  # fmt: skip
    assert offenders == []


def test_flat_toml_round_trips_through_a_toml_reader():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    from hypothesis import given
    from hypothesis import strategies as st

    from lib_stylemix.training.toml_flat import dumps_flat

    scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(),
                        st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip
    values = st.one_of(scalars, st.lists(st.floats(allow_nan=False, allow_infinity=False)), st.lists(st.text()))

    @given(st.dictionaries(st.text(min_size=1), values, max_size=6))
    def check(table):
        assert tomllib.loads(dumps_flat(table)) == table

    check()
