from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lib_stylemix.dataset.descriptions import description_from_stem, read_descriptions, write_descriptions_csv
from lib_stylemix.dataset.images import load_image_set
from lib_stylemix.errors import StyleMixError


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("boy_walking_on_beach_02", "boy walking on beach"),
        ("redFox-3", "red fox"),
        ("Old Mill (2)", "old mill"),
        ("2024", "2024"),
        ("NASA_launch", "NASA launch"),
        ("a.b+c", "a b c"),
    ],
)
def test_description_from_stem(stem: str, expected: str) -> None:
    assert description_from_stem(stem) == expected


def test_csv_round_trip_keeps_awkward_text(tmp_path: Path) -> None:
    descriptions = {"a.png": 'a "quoted", comma: text', "b.png": "ünïcødé 北斎", "c.png": ""}
    path = write_descriptions_csv(tmp_path / "d.csv", descriptions)
    assert read_descriptions(path) == descriptions
    with pytest.raises(StyleMixError, match="already exists"):
        write_descriptions_csv(tmp_path / "d.csv", descriptions)


def test_edited_manifest_wins_over_sidecar_and_file_name(tmp_path: Path) -> None:
    for name in ("cat_on_sofa_1.png", "dog.png", "tree.png"):
        Image.new("RGB", (64, 64)).save(tmp_path / name)
    (tmp_path / "dog.txt").write_text("a brown dog\n", encoding="utf-8")
    first = load_image_set(tmp_path)
    assert [e.description for e in first.entries] == ["cat on sofa", "a brown dog", "tree"]
    manifest = {"images": [{"file": "tree.png", "description": "an oak in autumn"}]}
    (tmp_path / "images.json").write_text(json.dumps(manifest), encoding="utf-8")
    edited = load_image_set(tmp_path)
    assert [(e.description, e.description_source) for e in edited.entries] == [
        ("cat on sofa", "filename"),
        ("a brown dog", "sidecar"),
        ("an oak in autumn", "manifest"),
    ]
    csv_path = write_descriptions_csv(tmp_path / "edit.csv", {"dog.png": "a dog, asleep"})
    assert load_image_set(tmp_path, manifest=csv_path).entries[1].description == "a dog, asleep"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("m.json", "{not json", "not valid JSON"),
        ("m.json", '{"images": 3}', "'images' list"),
        ("m.json", '{"images": [{"description": "x"}]}', "needs a 'file'"),
        ("m.csv", "name,text\na,b\n", "needs the columns"),
    ],
)
def test_broken_manifests_name_the_problem(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StyleMixError, match=message):
        read_descriptions(path)


def test_a_foreign_images_json_is_ignored_with_a_warning(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64)).save(tmp_path / "old_barn.png")
    (tmp_path / "images.json").write_text('["someone else\'s list"]', encoding="utf-8")
    image_set = load_image_set(tmp_path)
    assert image_set.entries[0].description == "old barn"
    assert any("images.json" in w and "'images' list" in w for w in image_set.warnings)
    with pytest.raises(StyleMixError, match="'images' list"):
        load_image_set(tmp_path, manifest=tmp_path / "images.json")
