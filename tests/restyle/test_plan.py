from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lib_stylemix.dataset.images import ImageSet
from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.plan import (
    CannyUnit,
    RestylePlan,
    make_plan,
    parse_styles,
    validate_template,
    with_canny,
)


def test_jobs_cover_images_times_styles_image_major(image_set: ImageSet) -> None:
    plan = make_plan(image_set, "Claude Monet, Hokusai")
    assert [j.job_id for j in plan.jobs] == [
        "claude_monet__boy_walking_on_beach_02",
        "hokusai__boy_walking_on_beach_02",
        "claude_monet__red_house",
        "hokusai__red_house",
        "claude_monet__sleeping_cat",
        "hokusai__sleeping_cat",
    ]
    first = plan.jobs[0]
    assert first.prompt == "Claude Monet art, boy walking on beach"
    assert plan.jobs[2].prompt == "Claude Monet art, a red house, at dusk"  # sidecar description
    assert (first.sampler, first.steps, first.cfg_scale, first.batch_size) == ("DDIM", 20, 7.0, 1)
    assert first.canny == CannyUnit() and first.trigger == "claude_monet"
    assert [j.job_id for j in make_plan(image_set, ["Claude Monet", "Hokusai"]).jobs] == [j.job_id for j in plan.jobs]


def test_per_image_seeds_are_shared_by_styles_and_stable(image_set: ImageSet) -> None:
    plan = make_plan(image_set, "A, B, C", seed=7)
    by_image: dict[str, set[int]] = {}
    for job in plan.jobs:
        by_image.setdefault(job.image_stem, set()).add(job.seed)
    assert all(len(seeds) == 1 for seeds in by_image.values())
    assert len({next(iter(s)) for s in by_image.values()}) == 3
    assert [j.seed for j in make_plan(image_set, "A, B, C", seed=7).jobs] == [j.seed for j in plan.jobs]
    assert [j.seed for j in make_plan(image_set, "A, B, C", seed=8).jobs] != [j.seed for j in plan.jobs]


def test_fixed_and_random_seed_policies(image_set: ImageSet) -> None:
    fixed = make_plan(image_set, "A, B", seed_policy="fixed", seed=42)
    assert {j.seed for j in fixed.jobs} == {42}
    drawn = make_plan(image_set, "A, B", seed_policy="random", rng=random.Random(3))
    assert len({j.seed for j in drawn.jobs}) == len(drawn.jobs)
    assert RestylePlan.from_json(drawn.to_json()).jobs == drawn.jobs  # recorded, so reproducible
    webui_random = make_plan(image_set, "A, B", seed_policy="fixed", seed=-1, rng=random.Random(5))
    assert 0 <= webui_random.seed <= 2**32 - 1 and {j.seed for j in webui_random.jobs} == {webui_random.seed}


def test_json_round_trip(image_set: ImageSet, tmp_path: Path) -> None:
    plan = make_plan(
        image_set,
        ["Hokusai", "Egon Schiele"],
        template="{trigger}, {style} style, {description} ({image})",
        negative_prompt="blurry, lowres",
        width=768,
        height=512,
        batch_size=2,
        canny=CannyUnit(low=50, high=150, weight=0.8, control_mode="ControlNet is more important"),
        target_steps_per_epoch=120,
        train_batch_size=2,
        canny_per_image={"red_house": CannyUnit(low=20, high=40)},
    )
    again = RestylePlan.from_json(plan.to_json())
    assert again == plan
    assert next(j for j in again.jobs if j.image_stem == "red_house").canny.low == 20
    assert again.jobs[0].repeats == 80  # round(120 × 2 / 3)
    path = plan.save(tmp_path / "plan.json")
    assert RestylePlan.load(path) == plan
    with pytest.raises(StyleMixError, match="already exists"):
        plan.save(path)
    assert with_canny(plan, CannyUnit(low=1, high=2)).jobs[3].canny.high == 2


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{artist} art", "unknown placeholder"),
        ("{} art", "named placeholders"),
        ("{0} art", "named placeholders"),
        ("{style:>10} art", "no format spec"),
        ("{style!r} art", "no format spec"),
        ("{style art", "brace"),
        ("an image of {description}", "needs {style}"),
    ],
)
def test_template_errors_are_specific(template: str, message: str) -> None:
    with pytest.raises(StyleMixError, match=message):
        validate_template(template)


def test_literal_braces_are_allowed() -> None:
    assert validate_template("{{literal}} {style} {description}") == ("style", "description")


def test_bad_settings_are_refused(image_set: ImageSet) -> None:
    for kwargs, message in [
        ({"width": 500}, "multiple of 8"),
        ({"steps": 0}, "steps"),
        ({"cfg_scale": 0.5}, "CFG"),
        ({"batch_size": 0}, "batch size"),
        ({"seed": -2}, "seed"),
        ({"seed_policy": "lucky"}, "seed policy"),
        ({"sampler": " "}, "sampler"),
    ]:
        with pytest.raises(StyleMixError, match=message):
            make_plan(image_set, "A", **kwargs)
    with pytest.raises(StyleMixError, match="low must not exceed high"):
        CannyUnit(low=200, high=100)
    with pytest.raises(StyleMixError, match="control mode"):
        CannyUnit(control_mode="Prompt wins")


def test_styles_are_cleaned_and_slug_clashes_refused() -> None:
    assert parse_styles(" Claude  Monet ,, Hokusai ") == ["Claude Monet", "Hokusai"]
    with pytest.raises(StyleMixError, match="share the folder name"):
        parse_styles(["Van Gogh", "van-gogh"])
    with pytest.raises(StyleMixError, match="no styles"):
        parse_styles(" , ")


def test_broken_plan_files_name_the_problem(image_set: ImageSet, tmp_path: Path) -> None:
    data = make_plan(image_set, "A").to_dict()
    cases = [
        ("{", "not valid JSON"),
        (json.dumps({**data, "format": "other"}), "not a restyle plan"),
        (json.dumps({**data, "version": 9}), "version"),
        (json.dumps({**data, "colour": 1}), "unknown fields colour"),
        (json.dumps({**data, "jobs": [{**data["jobs"][0], "mood": 1}]}), "unknown fields mood"),
        (json.dumps({**data, "jobs": [data["jobs"][0], data["jobs"][0]]}), "not unique"),
        (json.dumps({**data, "canny": {**data["canny"], "low": 0}}), "within 1..255"),
    ]
    for i, (text, message) in enumerate(cases):
        path = tmp_path / f"p{i}.json"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(StyleMixError, match=message) as info:
            RestylePlan.load(path)
        assert str(path) in str(info.value)


def test_make_plan_accepts_a_folder(image_folder: Path) -> None:
    plan = make_plan(image_folder, ["Hokusai"])
    assert [j.image_stem for j in plan.jobs] == ["boy_walking_on_beach_02", "red_house", "sleeping_cat"]
    assert plan.images[1] == {
        "stem": "red_house",
        "path": str((image_folder / "red_house.png").resolve()),
        "description": "a red house, at dusk",
    }
