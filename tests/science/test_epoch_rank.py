import json

import numpy as np
import pytest

from lib_stylemix.epochs.runs import EpochFile
from lib_stylemix.errors import StyleMixError
from lib_stylemix.science.epoch_rank import (
    SIDECAR_KEY,
    epoch_distance,
    load_ranking,
    rank_epochs,
    run_anchor,
    save_ranking,
)
from lib_stylemix.science.features import StyleDescriptor


def desc(shift: float, spread: float = 1.0) -> StyleDescriptor:
    return StyleDescriptor(np.full(4, shift), np.full(4, spread**2))


TARGETS = [desc(1.0, 2.0), desc(1.2, 2.0)]


def test_epoch_closest_to_the_training_style_ranks_first():
    # epochs drift towards the style (mean 1.1, std 2) and then overshoot
    renders = {
        "e01": [desc(0.0, 1.0), desc(0.1, 1.0)],
        "e05": [desc(0.8, 1.8), desc(0.9, 1.9)],
        "e10": [desc(1.1, 2.0), desc(1.1, 2.0)],
        "e15": [desc(1.6, 2.6), desc(1.7, 2.5)],
    }
    ranking = rank_epochs(renders, TARGETS, {"e01": 1, "e05": 5, "e10": 10, "e15": 15})
    assert [r.label for r in ranking.rows] == ["e10", "e05", "e15", "e01"]
    assert ranking.suggested.epoch == 10 and ranking.chosen == "e10"
    assert ranking.rows[0].distance == pytest.approx(epoch_distance(renders["e10"], TARGETS))


def test_mean_over_all_pairs():
    d = epoch_distance([desc(0.0)], [desc(1.0), desc(3.0)])
    assert d == pytest.approx(np.mean([2.0, 6.0]))  # ‖μ‖ over 4 channels: 2·shift


def test_pick_overrides_suggestion_and_round_trips_through_the_sidecar(tmp_path):
    lora = tmp_path / "style-000010.safetensors"
    lora.write_bytes(b"x")
    (tmp_path / "style-000010.json").write_text(json.dumps({"notes": "mine", "preferred weight": 0.7}))
    ranking = rank_epochs({"e05": [desc(0.9, 1.9)], "e10": [desc(1.1, 2.0)]}, TARGETS).with_pick("e05")
    assert ranking.chosen == "e05" and ranking.table()[1][3] == "picked" and ranking.table()[0][3] == "suggested"
    save_ranking(lora, ranking)
    doc = json.loads((tmp_path / "style-000010.json").read_text())
    assert doc["notes"] == "mine" and doc["preferred weight"] == 0.7  # the person's keys are kept
    assert doc[SIDECAR_KEY]["picked"] == "e05" and doc[SIDECAR_KEY]["suggested"] == "e10"
    back = load_ranking(lora)
    assert back is not None and back.chosen == "e05" and [r.label for r in back.rows] == ["e10", "e05"]
    with pytest.raises(StyleMixError, match="not an epoch"):
        ranking.with_pick("e99")


def test_run_anchor_prefers_the_final_file(tmp_path):
    files = [EpochFile(tmp_path / "s-000001.safetensors", "s", 1, False),
             EpochFile(tmp_path / "s.safetensors", "s", None, True),
             EpochFile(tmp_path / "s-000002.safetensors", "s", 2, False)]
    assert run_anchor(files).final
    assert run_anchor([files[0], files[2]]).epoch == 2


def test_empty_input_is_an_error(tmp_path):
    with pytest.raises(StyleMixError):
        rank_epochs({}, TARGETS)
    with pytest.raises(StyleMixError, match="training image"):
        epoch_distance([desc(0.0)], [])
    assert load_ranking(tmp_path / "none.safetensors") is None
