"""Registries: a merge method or a metric added in ONE new file shows up in the CLI, the Pool panel and works.

The toy entries are written into a temporary plugin folder and found through the registry's plugin hook
(`add_path`), exactly as a file dropped into `lib_stylemix/lora/merge_methods/` would be found.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch

from lib_stylemix.cli import build_parser
from lib_stylemix.lora import merge_methods, metrics, open_lora
from lib_stylemix.seams import CancelFlag, NullProgress
from lib_stylemix.ui import pool_logic
from lib_stylemix.ui.app import build_standalone_app
from tests.ui.test_blocks import components

TOY_METHOD = '''
"""toy_negate: −Σ w_i ΔW_i (the exact sum, sign flipped): a one-file merge method for the registry test."""

from lib_stylemix.lora.merge_methods import MergeMethod, Param, register
from lib_stylemix.lora.merge_methods.concat import merge_concat


def merge_negated(module, parts, options):
    return merge_concat(module, [(f, -w * options["gain"]) for f, w in parts], options)


register(MergeMethod(name="toy_negate", label="toy negate", help="minus the exact weighted sum (test plugin)",
                     merge_module=merge_negated, effect_preserving=False, order=50,
                     params=(Param("gain", float, 1.0, "scale of the negated sum"),)))
'''

TOY_METRIC = '''
"""toy_sq: squared Frobenius distance, one file."""

from lib_stylemix.lora.metrics import METRICS, Metric, sq_distances_from_gram

METRICS.register(Metric(name="toy_sq", label="squared distance", help="‖ΔW_i − ΔW_j‖² (test plugin)",
                        from_gram=sq_distances_from_gram, axis="‖ΔWᵢ − ΔWⱼ‖²"))
'''


def _plugin(monkeypatch, tmp_path, package, registry, name, source):
    folder = tmp_path / f"plugins_{name}"
    folder.mkdir()
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.setattr(package, "__path__", list(package.__path__))  # restored after the test
    registry.add_path(folder)
    return f"{package.__name__}.{name}"


@pytest.fixture
def toy_method(monkeypatch, tmp_path):
    module = _plugin(monkeypatch, tmp_path, merge_methods, merge_methods.METHODS, "toy_negate", TOY_METHOD)
    yield "toy_negate"
    merge_methods.METHODS.unregister("toy_negate")
    sys.modules.pop(module, None)


@pytest.fixture
def toy_metric(monkeypatch, tmp_path):
    module = _plugin(monkeypatch, tmp_path, metrics, metrics.METRICS, "toy_sq", TOY_METRIC)
    yield "toy_sq"
    metrics.METRICS.unregister("toy_sq")
    sys.modules.pop(module, None)


def _subcommand_help(name: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return " ".join(sub.choices[name].format_help().split())  # argparse wraps lines


def _values(radio) -> list[str]:
    """A gr.Radio's choice values (gradio 3.41 stores (label, value) pairs)."""
    return [c[1] if isinstance(c, (list, tuple)) else c for c in radio.choices]


def test_builtins_are_registered_in_display_order():
    assert merge_methods.names() == ("concat", "svd", "legacy")
    assert metrics.names() == ("frobenius", "cosine")
    assert [p.name for p in merge_methods.get("svd").params] == ["rank", "energy"]


def test_toy_merge_method_in_one_file_reaches_cli_panel_and_engine(toy_method, lora_dir):
    help_text = _subcommand_help("merge")
    assert "toy_negate" in help_text and "minus the exact weighted sum" in help_text
    assert "--gain GAIN toy_negate: scale of the negated sum" in help_text
    assert toy_method in pool_logic.method_choices()
    blocks = build_standalone_app(lora_dir)
    assert "toy_negate" in _values(components(blocks)["stylemix_pool_method"])

    session = pool_logic.PoolSession()
    pool_logic.load_sources(session, [str(lora_dir)], cache_dir=None, progress=NullProgress(), cancel=CancelFlag())
    path = pool_logic.merge_members(session, ["style_0", "style_1"], [0.25, 0.75], method="toy_negate", rank=None,
                                    energy=None, out_name="negated", folder=lora_dir, progress=NullProgress(),
                                    cancel=CancelFlag())
    out = open_lora(path)
    a, b = open_lora(lora_dir / "style_0.safetensors"), open_lora(lora_dir / "style_1.safetensors")
    assert set(out.modules) == set(a.modules)
    for module in out.modules:
        dense = [f.factors(module, dtype=torch.float64).dense() for f in (out, a, b)]
        expect = -(0.25 * dense[1] + 0.75 * dense[2])
        assert torch.linalg.norm(dense[0] - expect) <= 2e-3 * torch.linalg.norm(expect)  # fp16 file


def test_toy_metric_in_one_file_reaches_cli_panel_and_pool(toy_metric, lora_dir):
    assert "toy_sq" in _subcommand_help("compare")
    assert "toy_sq" in _values(components(build_standalone_app(lora_dir))["stylemix_pool_metric"])
    session = pool_logic.PoolSession()
    pool_logic.load_sources(session, [str(lora_dir)], cache_dir=None, progress=NullProgress(), cancel=CancelFlag())
    comparison = pool_logic.compare(session, "toy_sq")
    np.testing.assert_allclose(comparison.matrix, comparison.distance ** 2, rtol=1e-9, atol=1e-12)
    assert comparison.pair_rows()[0][3] == pytest.approx(float(comparison.distance.max()), rel=1e-4)


def test_unknown_names_are_one_clear_error():
    from lib_stylemix.errors import StyleMixError

    with pytest.raises(StyleMixError, match="unknown merge method 'ties'"):
        merge_methods.get("ties")
    with pytest.raises(StyleMixError, match="unknown metric 'l1'"):
        metrics.distance_from_gram(np.eye(2), "l1")


def test_docs_list_the_registered_entries():
    """docs/architecture-registries.md embeds `Registry.markdown()`; regenerate the block when this fails."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "architecture-registries.md").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- registry: (.+?) -->\n(.*?)\n<!-- /registry -->", text, flags=re.S))
    assert blocks["merge methods"] == merge_methods.METHODS.markdown()
    assert blocks["metrics"] == metrics.METRICS.markdown()


def test_toy_merge_method_runs_from_the_cli_with_its_parameter(toy_method, lora_dir, tmp_path, capsys):
    from lib_stylemix.cli import main

    a, b = lora_dir / "style_0.safetensors", lora_dir / "style_1.safetensors"
    out = tmp_path / "neg.safetensors"
    assert main(["merge", str(a), str(b), "--weights", "0.5,0.5", "--method", "toy_negate", "--gain", "2",
                 "-o", str(out), "--dtype", "fp32"]) == 0
    merged, fa, fb = open_lora(out), open_lora(a), open_lora(b)
    for module in merged.modules:
        dense = [f.factors(module, dtype=torch.float64).dense() for f in (merged, fa, fb)]
        torch.testing.assert_close(dense[0], -(dense[1] + dense[2]), rtol=1e-5, atol=1e-7)
    assert main(["merge", str(a), "--weights", "1", "--method", "concat", "--gain", "2", "-o",
                 str(tmp_path / "x.safetensors")]) != 0
    assert "--gain only apply to the toy_negate method" in capsys.readouterr().err


def test_method_labels_compat_name_reads_the_registry(toy_method):
    from lib_stylemix.lora.merge import METHOD_LABELS

    assert METHOD_LABELS["concat"] == "concat (exact)" and METHOD_LABELS["toy_negate"] == "toy negate"
