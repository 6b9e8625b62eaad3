from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from lib_stylemix.cli import main
from lib_stylemix.dataset.images import ImageSet
from lib_stylemix.restyle.infotext import parse_infotext
from lib_stylemix.restyle.plan import CannyUnit, make_plan
from lib_stylemix.restyle.preview import PreviewGenerator, style_colour


def test_preview_draws_the_canny_edges_in_the_style_colour(image_set: ImageSet) -> None:
    plan = make_plan(image_set, "Hokusai, Egon Schiele", width=128, height=96, batch_size=2, canny=CannyUnit(50, 150))
    job = plan.jobs[0]
    images = PreviewGenerator().generate(job)
    assert len(images) == 2 and images[0].image.size == (128, 96) and images[0].infotext == ""
    pixels = np.asarray(images[0].image)
    colour = np.array(style_colour("Hokusai"))
    edge_pixels = np.all(pixels == colour, axis=-1).sum()
    assert edge_pixels > 50  # the rectangle's outline
    again = np.asarray(PreviewGenerator().generate(job)[0].image)
    assert np.array_equal(pixels, again)
    other = np.asarray(PreviewGenerator().generate(plan.jobs[1])[0].image)
    assert not np.array_equal(pixels, other) and style_colour("Hokusai") != style_colour("Egon Schiele")


def test_cli_plan_then_run_with_preview_backend(image_folder: Path, tmp_path: Path, capsys) -> None:
    plan_path = tmp_path / "plan.json"
    code = main(
        [
            "restyle", "plan", "--images", str(image_folder), "--styles", "Claude Monet, Hokusai",
            "--size", "64", "--canny-auto", "--negative", "lowres", "-o", str(plan_path), "--json",
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["jobs"] == 6 and summary["first_prompt"] == "Claude Monet art, boy walking on beach"
    out = tmp_path / "out"
    assert main(["restyle", "run", str(plan_path), "--backend", "preview", "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["written"]) == 6 and result["manifest_path"].endswith("manifest.json")
    first = Path(result["written"]["hokusai__red_house"][0])
    with Image.open(first) as image:
        parsed = parse_infotext(image.text["parameters"])
    assert parsed["Negative prompt"] == "lowres" and parsed["StyleMix backend"] == "preview"
    assert main(["restyle", "run", str(plan_path), "--backend", "preview", "-o", str(out), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["skipped"]) == 6


def test_cli_refuses_bad_input(image_folder: Path, tmp_path: Path, capsys) -> None:
    plan = str(tmp_path / "p.json")
    base = ["restyle", "plan", "--images", str(image_folder), "-o", plan]
    assert main([*base, "--styles", "A", "--template", "{artist}"]) == 1
    assert "unknown placeholder" in capsys.readouterr().err
    assert main([*base, "--styles", "A", "--canny-low", "90", "--canny-high", "20"]) == 1
    assert main(["restyle", "run", str(tmp_path / "missing.json"), "--backend", "preview", "-o", str(tmp_path)]) == 1
    assert "cannot read plan" in capsys.readouterr().err
    assert not Path(plan).exists()


def test_cli_refuses_to_run_another_plan_into_a_run_folder(image_folder: Path, tmp_path: Path, capsys) -> None:
    """Issue 12 item 13: `restyle run -o DIR` never replaces another run's manifest and grid pages."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for path, styles in ((first, "ink"), (second, "pop art")):
        assert main(["restyle", "plan", "--images", str(image_folder), "--styles", styles, "--size", "64",
                     "-o", str(path)]) == 0
    out = tmp_path / "out"
    assert main(["restyle", "run", str(first), "--backend", "preview", "-o", str(out)]) == 0
    manifest = (out / "manifest.json").read_bytes()
    capsys.readouterr()
    assert main(["restyle", "run", str(second), "--backend", "preview", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "holds another restyle run (ink" in err and "choose a new output folder" in err
    assert (out / "manifest.json").read_bytes() == manifest and not (out / "pop_art").exists()
