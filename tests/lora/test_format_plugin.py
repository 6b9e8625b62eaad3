"""LoRA formats use the one registry mechanism: a module format added in ONE new file (through the plugin hook
`add_path`, as a file dropped into `lib_stylemix/lora/formats/` would be found) is read exactly."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from lib_stylemix.lora import formats, open_lora

TOY_FORMAT = '''
"""toy: ΔW = toy_a · toy_b (no alpha), a one-file module format for the registry test."""

from lib_stylemix.lora.formats.base import ModuleEntry, dtype_of, make_info
from lib_stylemix.lora.formats.spec import MODULE_FORMATS, ModuleFormat

A, B = "toy_a.weight", "toy_b.weight"


def _read(where, name, params, tensors):
    a, b = tensors[params[A]], tensors[params[B]]
    info = make_info(where, name, (a.shape[0], b.shape[1], None), a.shape[1], dtype_of([a, b]), "toy")
    return ModuleEntry(info=info, keys=dict(params), build=lambda t, alpha: (t[A], t[B]))


TOY = MODULE_FORMATS.register(ModuleFormat(name="toy", help="toy_a · toy_b (test plugin)",
                                           detect=lambda params: params == {A, B}, read=_read))
'''

MODULE = "lora_unet_down_blocks_0_attentions_0_proj_in"


@pytest.fixture
def toy_format(monkeypatch, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy_format.py").write_text(textwrap.dedent(TOY_FORMAT), encoding="utf-8")
    monkeypatch.setattr(formats, "__path__", list(formats.__path__))  # restored after the test
    formats.MODULE_FORMATS.add_path(folder)
    yield "toy"
    formats.MODULE_FORMATS.unregister("toy")
    sys.modules.pop("lib_stylemix.lora.formats.toy_format", None)


def test_builtin_formats_in_detection_order():
    assert formats.MODULE_FORMATS.names() == ("lora", "loha", "lokr")
    assert formats.KEY_LAYOUTS.names() == ("peft",)


def test_toy_format_in_one_file_is_read_exactly(toy_format, tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((320, 3)).astype(np.float32), rng.standard_normal((3, 320)).astype(np.float32)
    path = tmp_path / "toy.safetensors"
    save_file({f"{MODULE}.toy_a.weight": a, f"{MODULE}.toy_b.weight": b}, str(path))
    assert formats.MODULE_FORMATS.names()[-1] == toy_format
    lora = open_lora(path)
    assert list(lora.module_names) == [MODULE] and lora.rank == 3
    dense = lora.factors(MODULE, dtype=torch.float64).dense().numpy()
    np.testing.assert_allclose(dense, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-12, atol=1e-12)


def test_without_the_plugin_the_file_has_no_usable_module(tmp_path):
    from lib_stylemix.lora.container import LoraFormatError

    path = tmp_path / "toy.safetensors"
    save_file({f"{MODULE}.toy_a.weight": np.ones((320, 1), np.float32),
               f"{MODULE}.toy_b.weight": np.ones((1, 320), np.float32)}, str(path))
    with pytest.raises(LoraFormatError, match="no usable LoRA module"):
        open_lora(path)
