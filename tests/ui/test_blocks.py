"""The tab and the standalone app built with the real gradio (the webui's 3.41.2), and their handlers called
through the wiring gradio would use (inputs and outputs in the order the events declare)."""

from __future__ import annotations

import json

import gradio as gr

from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.ui import pool_logic
from lib_stylemix.ui.app import build_standalone_app, build_tab
from lib_stylemix.ui.common import table_rows
from tests.ui.conftest import FakeWebuiHost

PANELS = ["Dataset", "Restyle", "Train", "Epochs", "Pool", "Style science"]


def components(blocks) -> dict[str, object]:
    return {b.elem_id: b for b in blocks.blocks.values() if getattr(b, "elem_id", None)}


def handler(blocks, elem_id: str, event: str = "click"):
    """(function, input components, output components) of the `event` listener on component `elem_id`."""
    target = components(blocks)[elem_id]
    for index, dep in enumerate(blocks.dependencies):
        targets = dep["targets"]
        ids = [t[0] if isinstance(t, (list, tuple)) else t for t in targets]
        trigger = dep.get("trigger") or (targets[0][1] if targets and isinstance(targets[0], (list, tuple)) else None)
        if target._id in ids and trigger == event:
            fn = blocks.fns[index]
            return fn.fn, [blocks.blocks[i] for i in dep["inputs"]], [blocks.blocks[i] for i in dep["outputs"]]
    raise AssertionError(f"no {event} listener on {elem_id}")


def call(blocks, elem_id: str, *values, event: str = "click"):
    fn, inputs, outputs = handler(blocks, elem_id, event)
    assert len(values) == len(inputs), f"{elem_id}: {len(inputs)} inputs expected"
    result = fn(*values)
    result = result if isinstance(result, tuple) else (result,)
    assert len(result) == len(outputs), f"{elem_id}: handler returned {len(result)} values for {len(outputs)} outputs"
    return result


def test_gradio_is_the_webui_version():
    assert gr.__version__ == "3.41.2"


def test_tab_builds_every_panel_with_a_generating_host(tmp_path):
    host = FakeWebuiHost(tmp_path / "Lora")
    blocks = build_tab(host)
    tabs = [b.label for b in blocks.blocks.values() if isinstance(b, gr.Tab) and b.elem_id.startswith("stylemix_panel")]
    assert tabs == PANELS
    ids = components(blocks)
    for elem_id in ("stylemix_restyle_run", "stylemix_train_start", "stylemix_epochs_render", "stylemix_pool_preview"):
        assert elem_id in ids
    assert all(elem_id.startswith("stylemix_") for elem_id in ids)
    assert {"on_preview", "on_run", "on_render"} <= set(host.wrapped)
    json.dumps(blocks.get_config_file())


def test_standalone_app_marks_generation_panels(tmp_path):
    blocks = build_standalone_app(tmp_path / "Lora")
    ids = components(blocks)
    assert "stylemix_pool_load" in ids and "stylemix_dataset_prepare" in ids
    assert "stylemix_restyle_run" not in ids and "stylemix_epochs_render" not in ids
    texts = [b.value for b in blocks.blocks.values() if isinstance(b, gr.Markdown)]
    assert sum(t.startswith("**Not available here.** Generating images needs the") for t in texts) == 3
    assert ids["stylemix_pool_preview"].interactive is False
    json.dumps(blocks.get_config_file())


def test_pool_flow_through_the_wiring(lora_dir):
    host = FakeWebuiHost(lora_dir)
    blocks = build_tab(host)
    sess, status, members, selected, *_ = call(blocks, "stylemix_pool_load", None, str(lora_dir), None)
    assert "Added 4 LoRA(s)" in status and len(table_rows(members)) == 4
    assert list(members.columns) == ["name", "kind", "arch", "rank", "size MB", "lineage"]
    assert selected["choices"] == [f"style_{i}" for i in range(4)]
    sess, status, heatmap, pairs = call(blocks, "stylemix_pool_compare", sess, "frobenius")
    assert "Compared 4 members" in status and heatmap.size[0] > 100 and len(table_rows(pairs)) == 6
    sess, status, blocks_rows = call(blocks, "stylemix_pool_blocks_btn", sess, "style_0", "style_1")
    assert table_rows(blocks_rows) and "Per-block" in status
    sess, status, *lists = call(blocks, "stylemix_pool_merge", sess, ["style_0", "style_1"], "0.5, 0.5", "concat", 0,
                                0.0, "tab_merge")
    assert (lora_dir / "tab_merge.safetensors").is_file() and host.refreshed == 1
    assert "tab_merge" in [row[0] for row in table_rows(lists[0])]
    sess, status, candidates, _preview = call(blocks, "stylemix_pool_propose", sess, 1, 2, 1, 0, "novelty", 0.0,
                                             ["blend"], "maxmin", False)
    candidates = table_rows(candidates)
    assert candidates and candidates[0][7] == "selected"
    picked = str(candidates[0][0])
    sess, status, images = call(blocks, "stylemix_pool_preview", sess, picked)
    assert len(images) == 2 and "nothing was written" in status and "<lora:" in host.txt2img.prompts[0]
    sess, status, candidates, *lists = call(blocks, "stylemix_pool_keep_btn", sess, picked)
    assert table_rows(candidates) == [] and list(candidates.columns) == pool_logic.CANDIDATE_HEADERS
    unsaved = lists[4]["choices"]
    assert len(unsaved) == 1
    sess, status, *lists = call(blocks, "stylemix_pool_save", sess, unsaved, 0)
    assert "Saved" in status and host.refreshed == 2
    assert (lora_dir / f"{unsaved[0]}.safetensors").is_file()
    sess, status, lineage_plot, pool_map = call(blocks, "stylemix_pool_draw", sess)
    assert lineage_plot.size[0] > 300 and pool_map.size[0] > 300 and "Drew" in status


def test_a_busy_session_refuses_a_second_pool_action(lora_dir):
    blocks = build_tab(FakeWebuiHost(lora_dir))
    sess, *_ = call(blocks, "stylemix_pool_load", None, str(lora_dir), None)
    with sess.busy:
        _, status, *_ = call(blocks, "stylemix_pool_compare", sess, "frobenius")
    assert "still running" in status
    _, status, *_ = call(blocks, "stylemix_pool_compare", sess, "frobenius")
    assert "Compared 4 members" in status


def test_train_panel_shows_the_persisted_queue(tmp_path):
    settings = StyleMixSettings(training_output_dir=str(tmp_path / "training"))
    blocks = build_tab(FakeWebuiHost(tmp_path / "Lora", settings))
    status, queue, line, tail = call(blocks, "stylemix_train_refresh")
    assert status == "" and table_rows(queue) == [] and line == "idle" and tail == ""
    status, report = call(blocks, "stylemix_train_check", str(tmp_path / "no-sd-scripts"), "")
    assert "does not exist" in status and report == ""


def test_train_start_streams_progress_until_the_queue_is_done(tmp_path, fake_sd_scripts):
    from tests.training.conftest import make_checkpoint, make_dataset

    settings = StyleMixSettings(training_output_dir=str(tmp_path / "training"), sd_scripts_dir=str(fake_sd_scripts))
    blocks = build_tab(FakeWebuiHost(tmp_path / "Lora", settings))
    dataset = make_dataset(tmp_path / "restyled", "inkwash")
    base = make_checkpoint(tmp_path / "sd15.safetensors", "sd1")
    status, queue = call(blocks, "stylemix_train_add", "", "", str(dataset), "", str(base), 2, 8, 4, 1e-4)
    assert "Queued" in status and table_rows(queue)[0][2] == "pending"
    fn, _, outputs = handler(blocks, "stylemix_train_start")
    updates = list(fn())
    assert all(len(update) == len(outputs) for update in updates)
    status, queue, line, tail = updates[-1]
    assert "Queue finished" in status and table_rows(queue)[0][2] == "succeeded"
    assert "epoch 2/2" in line and "epoch" in tail
    assert (tmp_path / "Lora" / "stylemix" / "inkwash" / "inkwash.safetensors").is_file()


def test_errors_show_as_messages_not_tracebacks(lora_dir):
    blocks = build_tab(FakeWebuiHost(lora_dir))
    sess, status, *_ = call(blocks, "stylemix_pool_load", None, str(lora_dir / "missing"), None)
    assert "stylemix-msg-error" in status and "no such file or folder" in status
    sess, status, *_ = call(blocks, "stylemix_pool_compare", sess, "frobenius")
    assert "load some first" in status
    status, *_ = call(blocks, "stylemix_dataset_open", str(lora_dir / "nope"))
    assert "no such folder" in status


def test_restyle_flow_through_the_wiring(image_folder, tmp_path):
    host = FakeWebuiHost(tmp_path / "Lora")
    blocks = build_tab(host)
    prepared = tmp_path / "prepared"
    call(blocks, "stylemix_dataset_prepare", None, str(image_folder), str(prepared), "64", "center", False)
    (names,) = call(blocks, "stylemix_restyle_folder", str(prepared), event="submit")
    assert names["choices"][0] == "boy_on_beach_01.png"
    (status,) = call(blocks, "stylemix_restyle_plan", str(prepared), "ink\nneon", "{description}, {style}", "",
                     "fixed", 5, 100, 200)
    assert "6 job(s): 3 image(s) × 2 style(s)" in status
    _, status, gallery, grids = call(blocks, "stylemix_restyle_run", None, str(prepared), "ink\nneon",
                                     "{description}, {style}", "", "fixed", 5, 100, 200, str(tmp_path / "out"))
    assert "6 image(s) written" in status and len(gallery) == 6 and grids
    assert all(max(image.size) <= 384 for image, _ in gallery) and "on_run" in host.wrapped


def test_epochs_pick_and_save_joins_the_pool(tmp_path):
    from lib_stylemix.lora import default_modules, make_lora_file

    lora_dir = tmp_path / "Lora"
    lora_dir.mkdir()
    for epoch, stem in ((1, "ink-000001"), (2, "ink")):
        make_lora_file(lora_dir / f"{stem}.safetensors", modules=default_modules("sd1")[:2], seed=epoch,
                       extra={"ss_epoch": str(epoch)})
    settings = StyleMixSettings(width=32, height=32, epochs_output_dir=str(tmp_path / "grids"),
                                pool_output_dir=str(tmp_path / "pool"))
    blocks = build_tab(FakeWebuiHost(lora_dir, settings))
    status, runs = call(blocks, "stylemix_epochs_find", str(lora_dir))
    assert runs["choices"] == ["ink"]
    state, status, cells, grid = call(blocks, "stylemix_epochs_render", None, str(lora_dir), "ink", "0.5, 1",
                                      "a cat", "1")
    assert len(cells) == 4 and "2 epoch(s) × 2 strength(s)" in status and grid.size[0] > 64
    fn, _, _ = handler(blocks, "stylemix_epochs_cells", "select")
    state, status, picked, strength = fn(state, gr.SelectData(None, {"index": 2, "value": None}))
    assert "ink" in picked and strength == 0.5
    state, pool_state, status = call(blocks, "stylemix_epochs_save", state, None, 0.7, "ink style")
    assert pool_state.pool.names == ["ink"] and "ink.json" in status
    assert json.loads((lora_dir / "ink.json").read_text(encoding="utf-8"))["preferred weight"] == 0.7


def test_pool_accepts_uploaded_files(lora_dir):
    import types

    blocks = build_standalone_app(lora_dir)
    uploads = [types.SimpleNamespace(name=str(lora_dir / "style_1.safetensors")), {"name": str(lora_dir / "x")}]
    _, status, *_ = call(blocks, "stylemix_pool_load", None, "", uploads)
    assert "no such file or folder" in status
    _, status, members, *_ = call(blocks, "stylemix_pool_load", None, "", uploads[:1])
    assert "Added 1 LoRA(s)" in status and table_rows(members)[0][0] == "style_1"


def test_dataset_flow_through_the_wiring(image_folder, tmp_path):
    blocks = build_standalone_app(tmp_path / "Lora")
    out = tmp_path / "prepared"
    _job, status, gallery, rows, folder, names = call(blocks, "stylemix_dataset_prepare", None, str(image_folder),
                                                     str(out), "64", "center", False)
    assert "Prepared 3 image(s)" in status and len(gallery) == 3 and folder == str(out)
    rows = table_rows(rows)
    assert names["choices"] == [row[0] for row in rows]
    rows[0][1] = "a boy on a beach, pencil"
    (status,) = call(blocks, "stylemix_dataset_save", str(out), rows)
    assert "Saved 1 changed" in status
    status, sheet = call(blocks, "stylemix_dataset_canny_sheet_btn", str(out), 100, 200, False)
    assert sheet.size[0] > 100 and "edge map" in status
