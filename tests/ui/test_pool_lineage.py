"""Issue 12 item 16 through the Pool panel's logic: a merge made in the tab is listed with its parents and
generation, and keeps them when the folder is loaded again in a new session."""

from __future__ import annotations

from lib_stylemix.seams import CancelFlag, NullProgress
from lib_stylemix.ui import pool_logic as logic

QUIET = {"progress": NullProgress(), "cancel": CancelFlag()}


def _rows_by_name(rows):
    return {row[0]: row for row in rows}


def test_tab_merge_shows_lineage_now_and_after_reload(lora_dir):
    session = logic.PoolSession()
    logic.load_sources(session, [str(lora_dir)], cache_dir=None, **QUIET)
    logic.merge_members(session, ["style_0", "style_1"], [0.5], method="svd", rank=2, energy=None, out_name="mix",
                        folder=lora_dir, **QUIET)
    lineage = _rows_by_name(logic.lineage_rows(session.pool))["mix"]
    assert lineage[1:4] == [1, "file", "style_0 · style_1"]
    assert set(lineage[4].split(" + ")) == {"0.5·style_0", "0.5·style_1"}
    listed = _rows_by_name(logic.member_rows(session.pool))["mix"]
    assert listed[5].startswith("gen 1: ") and "0.5·style_1" in listed[5]

    fresh = logic.PoolSession()
    logic.load_sources(fresh, [str(lora_dir)], cache_dir=None, **QUIET)
    again = _rows_by_name(logic.lineage_rows(fresh.pool))["mix"]
    assert again[1:5] == lineage[1:5]
    assert _rows_by_name(logic.member_rows(fresh.pool))["mix"][5] == listed[5]
    assert _rows_by_name(logic.member_rows(fresh.pool))["style_2"][5] == "file style_2.safetensors"
