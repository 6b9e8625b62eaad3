import json

import numpy as np

from lib_stylemix.cli import main
from lib_stylemix.science.abtest import CLOSER, AnswerStore, TrialSource, answer_trial, make_trial


def _matrix(seed: int, n: int = 6) -> list[list[float]]:
    x = np.random.default_rng(seed).normal(size=(n, 2))
    return np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1)).tolist()


def test_report_from_json_matrices(tmp_path, capsys):
    dw = _matrix(1)
    names = list("abcdef")
    (tmp_path / "dw.json").write_text(json.dumps({"names": names, "matrix": dw}))
    (tmp_path / "img.json").write_text(json.dumps((np.asarray(dw) * 3).tolist()))
    k = np.eye(6).tolist()
    (tmp_path / "k.json").write_text(json.dumps(k))
    code = main(["science", "report", "--dw", str(tmp_path / "dw.json"), "--image", str(tmp_path / "img.json"),
                 "--block", f"attn={tmp_path / 'k.json'}", "--out", str(tmp_path / "out"), "--samples", "50",
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)
    assert doc["spearman_rho"] == 1.0 and doc["names"] == names and "attn" in doc["block_rho"]
    assert "Spearman ρ = 1.000" in captured.err
    assert (tmp_path / "out" / "style_correlation.png").is_file()
    # a second run refuses to replace the first report
    assert main(["science", "report", "--dw", str(tmp_path / "dw.json"), "--image", str(tmp_path / "img.json"),
                 "--out", str(tmp_path / "out")]) == 1
    assert "already exists" in capsys.readouterr().err


def test_report_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "dw.json").write_text("[[0, 1], [1, 0")
    code = main(["science", "report", "--dw", str(tmp_path / "dw.json"), "--image", str(tmp_path / "dw.json")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "not readable JSON" in err and err.count("\n") == 1


def test_ab_stats_from_answers_file(tmp_path, capsys):
    x = np.array([0.0, 1.0, 3.0, 7.0])
    dw = np.abs(x[:, None] - x[None])
    source = TrialSource(list("abcd"), {n: {"k": f"{n}.png"} for n in "abcd"}, dw, dw)
    store = AnswerStore(tmp_path / "ab.jsonl")
    for number in range(1, 4):
        trial = make_trial(source, number, CLOSER)
        store.append(answer_trial(trial, "left" if trial.dw[0] < trial.dw[1] else "right"))
    code = main(["science", "ab-stats", str(store.path), "--min", "3", "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 0 and doc[0]["question"] == "closer" and doc[0]["ready"]
    assert doc[0]["metrics"][0]["agree"] == 3 and doc[0]["metrics"][0]["total"] == 3
    assert "3/3" in captured.err


def test_merge_check_command(tmp_path, capsys):
    from lib_stylemix.lora import MergeTerm, merge, open_lora, write_lora
    from lib_stylemix.lora.synthetic import make_lora_file

    module = ["lora_unet_down_blocks_0_attentions_0_proj_in"]
    a = make_lora_file(tmp_path / "a.safetensors", modules=module, rank=2, seed=1, dtype="fp32")
    b = make_lora_file(tmp_path / "b.safetensors", modules=module, rank=2, seed=2, dtype="fp32")
    merged = merge([MergeTerm(open_lora(a), 0.5), MergeTerm(open_lora(b), 0.5)])
    out = write_lora(merged, tmp_path / "m.safetensors", dtype="fp16").path
    assert main(["science", "merge-check", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["method"] == "concat" and doc["relative_error_fp32"] < 1e-6 < doc["relative_error_stored"] < 5e-3
    assert "as stored (fp16)" in captured.err
    assert main(["science", "merge-check", str(a)]) == 1
    assert "no StyleMix recipe" in capsys.readouterr().err
