"""Style science panel: its logic without gradio, and the wiring in the real tab (gradio 3.41.2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lib_stylemix.epochs import find_run, make_plan, run_grid
from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.pool import Pool
from lib_stylemix.science.epoch_rank import SIDECAR_KEY
from lib_stylemix.seams import NeverCancel, NullProgress
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.ui import science_logic as logic
from lib_stylemix.ui.epochs_logic import EpochsSession
from lib_stylemix.ui.pool_logic import PoolSession
from tests.science.drawing import DrawingGenerator, NumpyExtractor, draw, style_vector

NAMES = ["ink", "pastel", "neon", "charcoal"]
MODULE = ["lora_unet_down_blocks_0_attentions_0_proj_in"]


def settings(tmp_path) -> StyleMixSettings:
    return StyleMixSettings(pool_output_dir=str(tmp_path / "pool"), width=64, height=64,
                            preview_prompts=("a cat", "a house"), preview_seeds=(1,))


def pool_session() -> PoolSession:
    s = np.stack([style_vector(n) for n in NAMES])
    return PoolSession(pool=Pool.from_kernel(NAMES, s @ s.T))


def test_report_then_blind_trials_then_resume_from_the_saved_report(tmp_path):
    cfg = settings(tmp_path)
    sess = logic.ScienceSession(seed=5)
    text, png, rows = logic.run_report(sess, pool_session(), cfg, DrawingGenerator(), NumpyExtractor(),
                                       progress=NullProgress(), cancel=NeverCancel())
    assert text.startswith("Spearman ρ = ") and png.is_file() and len(rows) == 5
    ref, shown = logic.next_trial(sess, "closer", cfg)
    assert len(shown) == 2 and all(p.endswith(".png") for p in [ref, *shown])
    stats = logic.answer(sess, "left", cfg)
    assert "closer: 1 answer(s)" in stats
    with pytest.raises(StyleMixError, match="Next trial"):
        logic.answer(sess, "left", cfg)
    # a new browser session picks up the saved report and continues the numbering
    other = logic.ScienceSession(seed=6)
    assert "4 members" in logic.load_report(other, str(png.with_suffix(".json")))
    logic.next_trial(other, "same", cfg)
    assert other.trial is not None and other.trial.number == 2
    logic.answer(other, "different", cfg)
    lines = (logic.science_folder(cfg) / logic.ANSWERS_FILE).read_text().splitlines()
    assert [json.loads(line)["number"] for line in lines] == [1, 2]


def test_report_needs_a_pool_and_a_webui_extractor(tmp_path):
    with pytest.raises(StyleMixError, match="at least 3"):
        logic.run_report(logic.ScienceSession(), PoolSession(), settings(tmp_path), DrawingGenerator(),
                         NumpyExtractor(), progress=NullProgress(), cancel=NeverCancel())
    with pytest.raises(StyleMixError, match="WebUI"):
        logic.extractor_of(object())
    with pytest.raises(StyleMixError, match="run the style report first"):
        logic.next_trial(logic.ScienceSession(), "closer", settings(tmp_path))


def _epoch_run(tmp_path):
    folder = tmp_path / "Lora"
    folder.mkdir()
    from lib_stylemix.lora.synthetic import make_lora_file

    for epoch in (1, 2, 3):
        make_lora_file(folder / f"style-{epoch:06d}.safetensors", modules=MODULE, rank=2, seed=epoch)
    files = find_run(folder, "style")
    cfg = settings(tmp_path)
    plan = make_plan(files, cfg, strengths=[0.5, 1.0], prompts=["a cat"], seeds=[1, 2])
    return EpochsSession(result=run_grid(plan, DrawingGenerator(), NullProgress(), NeverCancel()))


def test_epoch_suggestion_and_pick_override(tmp_path):
    sess = _epoch_run(tmp_path)
    training = tmp_path / "restyled"
    training.mkdir()
    for seed in (7, 8, 9):  # the style of epoch 2, other content
        draw("a dog <lora:style-000002:1>", seed, 64, 64).save(training / f"img{seed}.png")
    ranking = logic.suggest_epochs(sess, str(training), NumpyExtractor())
    assert ranking.suggested.epoch == 2 and ranking.picked is None
    sess.picked = 2 * 2 + 1  # the person clicked epoch 3 at strength 1.0
    path = logic.save_ranking(sess, ranking)
    doc = json.loads(path.read_text())[SIDECAR_KEY]
    assert doc["suggested"] == "epoch 2" and doc["picked"] == "epoch 3"
    assert path.name == "style-000003.json"  # no final file: the highest epoch holds the run's ranking


def test_panel_wiring_in_the_tab(tmp_path, monkeypatch):
    from lib_stylemix.ui.app import build_tab
    from tests.ui.conftest import FakeWebuiHost
    from tests.ui.test_blocks import call, components

    monkeypatch.chdir(tmp_path)

    class Host(FakeWebuiHost):
        def txt2img_generator(self):
            return DrawingGenerator()

        def feature_extractor(self):
            return NumpyExtractor()

    host = Host(tmp_path / "Lora", settings(tmp_path))
    blocks = build_tab(host)
    ids = components(blocks)
    assert {"stylemix_science_report", "stylemix_science_next", "stylemix_epochs_suggest"} <= set(ids)
    assert "on_report" in host.wrapped and "on_suggest" in host.wrapped
    sess, status, picture, rows = call(blocks, "stylemix_science_report", None, pool_session(), False)
    assert "Spearman" in status and picture.endswith(".png") and len(rows) == 5
    sess, status, ref, left, right = call(blocks, "stylemix_science_next", sess,
                                          "Which is closer in style to the reference?")
    assert ref and left and right
    sess, status, stats = call(blocks, "stylemix_science_answer_same", sess)
    assert "asks: left/right" in status
    sess, status, stats = call(blocks, "stylemix_science_answer_right", sess)
    assert "1 answer(s)" in stats


def test_merge_check_from_the_panel_logic(tmp_path):
    from lib_stylemix.lora import MergeTerm, merge, open_lora, write_lora
    from lib_stylemix.lora.synthetic import make_lora_file

    folder = tmp_path / "Lora"
    folder.mkdir()
    a = make_lora_file(folder / "a.safetensors", modules=MODULE, rank=2, seed=1, dtype="fp32")
    b = make_lora_file(folder / "b.safetensors", modules=MODULE, rank=2, seed=2, dtype="fp32")
    merged = merge([MergeTerm(open_lora(a), 0.6), MergeTerm(open_lora(b), 0.4)])
    write_lora(merged, folder / "ab.safetensors", dtype="fp16")
    generator = DrawingGenerator()
    text, out = logic.merge_check(settings(tmp_path), generator, "ab.safetensors", folder, cancel=NeverCancel())
    assert "ΔW relative error" in text and "PSNR" in text
    doc = json.loads(out.read_text())
    assert doc["relative_error_fp32"] < 1e-6 and len(doc["pixels"]["mean_abs_per_image"]) == 2
    assert generator.calls[1][0].endswith("<lora:a:0.6> <lora:b:0.4>")
    elsewhere = tmp_path / "elsewhere.safetensors"
    elsewhere.write_bytes((folder / "ab.safetensors").read_bytes())
    with pytest.raises(StyleMixError, match="must be in the LoRA folder"):
        logic.merge_check(settings(tmp_path), generator, str(elsewhere), folder, cancel=NeverCancel())


def test_report_can_include_evolve_candidates(tmp_path):
    from lib_stylemix.pool.candidates import Candidate

    sess = pool_session()
    pool = sess.pool
    coef = np.zeros((len(pool.space.blocks), len(NAMES)))
    coef[:, 0] = coef[:, 1] = 0.5
    sess.candidates = [Candidate("blend", ("ink", "pastel"), (0, 1), {}, coef, pool.space.keys, pool.space.blocks)]
    science = logic.ScienceSession()
    logic.run_report(science, sess, settings(tmp_path), DrawingGenerator(), NumpyExtractor(),
                     progress=NullProgress(), cancel=NeverCancel(), candidates=True)
    assert science.report is not None and science.report.names[-1] == "candidate 1 (blend)"
    assert len(science.report.names) == len(NAMES) + 1
