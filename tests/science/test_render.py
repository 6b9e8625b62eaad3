import json

import numpy as np
import pytest

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.pool.members import Member
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.science.abtest import AnswerStore, TrialSource, agreement, answer_trial, make_trial
from lib_stylemix.science.correlation import CorrelationSettings
from lib_stylemix.science.pool_input import pool_geometry, pool_subjects
from lib_stylemix.science.render import RenderRun, RenderSpec, Subject, correlation_report, render_subjects
from lib_stylemix.science.report import write_report
from lib_stylemix.seams import CancelFlag
from tests.science.drawing import DrawingGenerator, NumpyExtractor, style_vector

NAMES = ["ink", "pastel", "neon", "charcoal", "watercolour", "pixel"]
SPEC = RenderSpec(("a lighthouse", "a bowl of fruit"), (1, 2), width=64, height=64)


def drawn_pool() -> Pool:
    s = np.stack([style_vector(n) for n in NAMES])
    return Pool.from_kernel(NAMES, s @ s.T, {"colour": s[:, :3] @ s[:, :3].T, "texture": np.outer(s[:, 3], s[:, 3])})


def test_end_to_end_report_with_a_drawing_generator(tmp_path):
    pool = drawn_pool()
    blocks = len(pool.space.blocks)
    pool.add_recipe(Member("ink+neon", Recipe.from_dense(np.array([[0.5, 0, 0.5, 0, 0, 0]] * blocks),
                                                         pool.space.keys, pool.space.blocks)))
    subjects, coef, notes = pool_subjects(pool)
    assert len(subjects) == 7 and not notes
    assert subjects[-1].loras == (("ink", 0.5), ("neon", 0.5))
    dw, by_block = pool_geometry(pool, coef)
    generator, extractor = DrawingGenerator(), NumpyExtractor()
    run = RenderRun(generator, extractor, tmp_path / "renders")
    report, rendered = correlation_report(subjects, dw, SPEC, run, by_block=by_block,
                                          settings=CorrelationSettings(samples=300, seed=0))
    # every subject rendered the same prompts × seeds, with its stack in the prompt
    assert len(generator.calls) == 7 * 4 and extractor.images == 28
    assert generator.calls[-1][0].endswith("<lora:ink:0.5> <lora:neon:0.5>")
    assert set(rendered[0].descriptors) == {"p0/s1", "p0/s2", "p1/s1", "p1/s2"}
    # the drawings follow the same linear style geometry as ΔW, so the two distances agree strongly
    assert report.rho > 0.7 and report.ci_low > 0.3
    assert set(report.block_rho) >= {"colour", "texture"}
    json_path, png_path = write_report(report, tmp_path)
    doc = json.loads(json_path.read_text())
    assert doc["render_set"]["seeds"] == [1, 2] and doc["subjects"][-1]["name"] == "ink+neon"
    assert png_path.stat().st_size > 10_000
    # the renders feed the blind A/B panel directly
    source = TrialSource([s.name for s in subjects], {r.name: r.images for r in rendered}, dw, report.image)
    store = AnswerStore(tmp_path / "ab.jsonl")
    for number in range(1, 6):
        trial = make_trial(source, number)
        assert all((tmp_path / "renders").exists() and c.image.endswith(".png") for c in trial.candidates)
        store.append(answer_trial(trial, "left"))
    assert agreement(store.read(), min_answers=5).ready


def test_cancel_stops_between_renders():
    flag = CancelFlag()

    class Stopper(DrawingGenerator):
        def generate(self, *args, **kwargs):
            if len(self.calls) == 2:
                flag.cancel()
            return super().generate(*args, **kwargs)

    run = RenderRun(Stopper(), NumpyExtractor(), cancel=flag)
    with pytest.raises(CancelledError, match="after 3 of"):
        render_subjects([Subject("a", (("ink", 1.0),)), Subject("b", (("neon", 1.0),))], SPEC, run)


def test_mismatched_inputs_are_clear_errors():
    run = RenderRun(DrawingGenerator(), NumpyExtractor())
    with pytest.raises(StyleMixError, match="for 1 subjects"):
        correlation_report([Subject("a", ())], np.zeros((2, 2)), SPEC, run)
    with pytest.raises(StyleMixError, match="empty"):
        render_subjects([Subject("a", ())], RenderSpec((), (1,)), run)


def test_per_block_members_are_left_out_with_a_note():
    pool = drawn_pool()
    coef = np.zeros((len(pool.space.blocks), 6))
    coef[0, 0] = coef[1, 1] = 1.0  # a crossover: ink in one block, pastel in the others
    pool.add_recipe(Member("cross", Recipe.from_dense(coef, pool.space.keys, pool.space.blocks)))
    subjects, coef, notes = pool_subjects(pool)
    assert len(subjects) == len(coef) == 6 and "cross" in notes[0]


def test_geometry_matches_the_pool_and_includes_candidates():
    from lib_stylemix.pool.candidates import Candidate

    pool = drawn_pool()
    s = np.stack([style_vector(n) for n in NAMES])
    coef = np.zeros((len(pool.space.blocks), 6))
    coef[:, 0] = coef[:, 2] = 0.5
    cand = Candidate("blend", ("ink", "neon"), (0, 2), {}, coef, pool.space.keys, pool.space.blocks)
    subjects, stack, notes = pool_subjects(pool, [cand])
    assert notes == []
    assert subjects[-1].name == "candidate 1 (blend)" and subjects[-1].loras == (("ink", 0.5), ("neon", 0.5))
    dw, by_block = pool_geometry(pool, stack)
    assert np.allclose(dw[:6, :6], pool.distances("frobenius"))
    for block, k in pool.kernel().by_block.items():
        assert np.allclose(by_block[block][:6, :6], k)
    # ‖(s_ink + s_neon)/2 − s_ink‖ = ‖s_neon − s_ink‖ / 2
    assert dw[6, 0] == pytest.approx(np.linalg.norm(s[2] - s[0]) / 2)
