import json

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.science.abtest import (
    CLOSER,
    SAME,
    AnswerStore,
    TrialSource,
    agreement,
    answer_trial,
    make_trial,
    wilson,
)

NAMES = ["a", "b", "c", "d", "e"]


def source() -> TrialSource:
    x = np.array([0.0, 1.0, 3.0, 7.0, 15.0])  # all pairwise differences distinct: no ties
    dw = np.abs(x[:, None] - x[None, :])
    image = dw ** 2
    renders = {n: {"p0/1": f"{n}_p0_1.png", "p1/2": f"{n}_p1_2.png"} for n in NAMES}
    return TrialSource(NAMES, renders, dw, image)


def test_trial_is_reproducible_blind_and_uses_one_render_key():
    s = source()
    t1, t2 = make_trial(s, 7, CLOSER, seed=3), make_trial(s, 7, CLOSER, seed=3)
    assert t1 == t2
    members = {t1.reference.member} | {c.member for c in t1.candidates}
    assert len(members) == 3
    assert all(c.image.endswith(t1.render.replace("/", "_") + ".png") for c in t1.candidates)
    assert t1.reference.image == f"{t1.reference.member}_{t1.render.replace('/', '_')}.png"


def test_left_right_order_is_random_and_recorded():
    s = source()
    trials = [make_trial(s, n, CLOSER, seed=0) for n in range(1, 201)]
    swapped = sum(t.swapped for t in trials)
    assert 60 < swapped < 140  # both orders occur, roughly half each
    i = NAMES.index
    for t in trials:  # the recorded distances follow the shown order
        ref = i(t.reference.member)
        expected = tuple(float(s.dw[ref, i(c.member)]) for c in t.candidates)
        assert t.dw == expected


def test_same_trial_has_one_candidate_and_median_thresholds():
    t = make_trial(source(), 1, SAME, seed=0)
    assert len(t.candidates) == 1
    assert t.dw_threshold == pytest.approx(np.median(source().dw[np.triu_indices(5, 1)]))
    with pytest.raises(StyleMixError, match="not an answer"):
        answer_trial(t, "left")


def test_store_append_resume_and_numbering(tmp_path):
    store = AnswerStore(tmp_path / "ab" / "answers.jsonl")
    assert store.next_number() == 1
    s = source()
    for _ in range(3):
        number = store.next_number()
        store.append(answer_trial(make_trial(s, number, CLOSER), "left"))
    again = AnswerStore(store.path)  # a new session on the same file continues numbering
    assert [a["number"] for a in again.read()] == [1, 2, 3]
    assert again.next_number() == 4
    assert len(store.path.read_text().splitlines()) == 3


def test_corrupt_last_line_is_skipped_with_warning_and_next_append_is_clean(tmp_path, caplog):
    store = AnswerStore(tmp_path / "answers.jsonl")
    s = source()
    store.append(answer_trial(make_trial(s, 1, CLOSER), "right"))
    with open(store.path, "a", encoding="utf-8") as handle:
        handle.write('{"number": 2, "kind": "clo')  # a write cut short, no newline
    with caplog.at_level("WARNING"):
        answers = store.read()
    assert [a["number"] for a in answers] == [1]
    assert store.warnings and "last line" in store.warnings[0]
    assert "last line" in caplog.text
    store.append(answer_trial(make_trial(s, store.next_number(), CLOSER), "left"))
    assert [a["number"] for a in store.read()] == [1, 2]
    assert store.warnings and "line 2" in store.warnings[0]  # the cut line stays, the new one is intact


def test_answer_stores_metric_verdicts():
    t = make_trial(source(), 5, CLOSER, seed=1)
    closer = "left" if t.dw[0] < t.dw[1] else "right"
    a = answer_trial(t, closer)
    assert a.dw_verdict == closer and a.image_verdict == closer  # image = dw² keeps the order
    doc = json.loads(json.dumps(a.__dict__))
    assert doc["trial"]["reference"]["member"] == t.reference.member


def test_wilson_reference_values():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0


def test_agreement_statistics(tmp_path):
    store = AnswerStore(tmp_path / "answers.jsonl")
    s = source()
    for number in range(1, 31):
        t = make_trial(s, number, CLOSER, seed=2)
        truth = "left" if t.dw[0] < t.dw[1] else "right"
        wrong = "right" if truth == "left" else "left"
        store.append(answer_trial(t, truth if number <= 24 else wrong))  # person agrees with ΔW 24/30
    stats = agreement(store.read(), CLOSER, min_answers=20)
    assert stats.ready
    dw = stats.metrics[0]
    assert (dw.agree, dw.total) == (24, 30)
    assert (dw.low, dw.high) == pytest.approx(wilson(24, 30))
    assert "24/30" in stats.summary()
    early = agreement(store.read()[:5], CLOSER, min_answers=20)
    assert not early.ready and "15 more" in early.summary() and np.isnan(early.metrics[0].low)


def test_a_tie_gives_no_verdict_and_does_not_count():
    x = np.array([0.0, 1.0, 2.0])
    dw = np.abs(x[:, None] - x[None, :])
    s = TrialSource(["a", "b", "c"], {n: {"k": n} for n in "abc"}, dw, dw)
    ties = [make_trial(s, n, CLOSER) for n in range(1, 60)]
    tie = next(t for t in ties if t.reference.member == "b")
    answer = answer_trial(tie, "left")
    assert answer.dw_verdict is None
    stats = agreement([answer.__dict__], CLOSER, min_answers=1)
    assert stats.metrics[0].total == 0
