from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from lib_stylemix.cli import main
from tests.dataset.conftest import file_hashes, salient_object


def test_prepare_json_and_source_untouched(messy_folder: Path, tmp_path: Path, capsys) -> None:
    before = file_hashes(messy_folder)
    code = main(["dataset", "prepare", str(messy_folder), str(tmp_path / "out"), "--crop", "focal", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    document = json.loads(captured.out)
    assert len(document["images"]) == 5 and document["manifest"].endswith("images.json")
    # 400 px wide once upright, 40 px tiny: both below 512 and not upscaled
    assert {"tiny_thumb.png", "rotated_photo.jpg"} <= {s["file"] for s in document["skipped"]}
    assert "tiny_thumb.png" in captured.err and "warning" in captured.err
    assert file_hashes(messy_folder) == before


def test_user_errors_exit_1_with_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["dataset", "prepare", str(tmp_path / "empty"), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "no readable images" in err[0]


def test_canny_folder_writes_sheet_and_reports_densities(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    salient_object(size=(320, 256), centre=(160, 128), radius=60).save(folder / "busy.png")
    Image.new("RGB", (256, 256), (50, 50, 50)).save(folder / "flat.png")
    sheet = tmp_path / "sheet.png"
    assert main(["canny", str(folder), "--auto", "-o", str(sheet), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {r["file"]: r for r in document["images"]}
    assert rows["flat.png"]["density"] == 0.0 and "too sparse" in rows["flat.png"]["warning"]
    assert rows["busy.png"]["density"] > 0.0
    assert sheet.is_file() and Image.open(sheet).width > 256

    single = tmp_path / "edges.png"
    assert main(["canny", str(folder / "busy.png"), "--low", "50", "--high", "150", "-o", str(single)]) == 0
    assert Image.open(single).size == (640, 512)  # short side scaled to the default 512
    assert main(["canny", str(folder / "busy.png"), "--low", "50", "--high", "150", "-o", str(single)]) == 1
    assert main(["canny", str(folder), "--low", "220", "--high", "20", "-o", str(tmp_path / "x.png")]) == 1


def test_descriptions_round_trip_through_csv(messy_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["dataset", "prepare", str(messy_folder), str(out)]) == 0
    csv_path = tmp_path / "edit.csv"
    assert main(["dataset", "list", str(out), "--csv", str(csv_path)]) == 0
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    first_file = lines[1].split(",")[0]
    lines[1] = f'{first_file},"a castle, at night"'
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["dataset", "describe", str(out), "--from-csv", str(csv_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == 1
    manifest = json.loads((out / "images.json").read_text(encoding="utf-8"))
    assert {e["file"]: e["description"] for e in manifest["images"]}[first_file] == "a castle, at night"
    assert main(["dataset", "list", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["images"]
    assert [e["description"] for e in listed if Path(e["path"]).name == first_file] == ["a castle, at night"]


def test_describe_refuses_an_unprepared_folder_and_unknown_files(messy_folder: Path, tmp_path: Path, capsys) -> None:
    before = file_hashes(messy_folder)
    csv_path = tmp_path / "edit.csv"
    csv_path.write_text("file,description\nnope.png,a dog\n", encoding="utf-8")
    assert main(["dataset", "describe", str(messy_folder), "--from-csv", str(csv_path)]) == 1
    assert "has no images.json" in capsys.readouterr().err
    assert file_hashes(messy_folder) == before
    out = tmp_path / "out"
    assert main(["dataset", "prepare", str(messy_folder), str(out)]) == 0
    assert main(["dataset", "describe", str(out), "--from-csv", str(csv_path)]) == 1
    assert "no such image(s) in the set: nope.png" in capsys.readouterr().err
