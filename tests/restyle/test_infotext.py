from __future__ import annotations

from dataclasses import replace

from lib_stylemix.dataset.images import ImageSet
from lib_stylemix.restyle.infotext import (
    build_infotext,
    controlnet_unit_text,
    merge_infotext,
    parse_controlnet_unit,
    parse_infotext,
)
from lib_stylemix.restyle.plan import CannyUnit, make_plan


def test_build_then_parse_restores_every_field(image_set: ImageSet) -> None:
    plan = make_plan(
        image_set,
        ["Claude Monet"],
        negative_prompt="blurry, (worst quality:1.4)",
        cfg_scale=6.5,
        width=768,
        height=512,
        canny=CannyUnit(low=40, high=120, weight=0.75, control_mode="My prompt is more important"),
    )
    job = replace(plan.jobs[1], prompt='Claude Monet art, a "red" house: at dusk\nsecond line')
    text = build_infotext(job, controlnet_model="control_v11p_sd15_canny [d14c016b]", backend="preview", index=1)
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == job.prompt
    assert parsed["Negative prompt"] == "blurry, (worst quality:1.4)"
    assert (parsed["Steps"], parsed["Sampler"], parsed["CFG scale"]) == ("20", "DDIM", "6.5")
    assert parsed["Seed"] == str(job.seed + 1)  # batch position 1, like the webui
    assert (parsed["Size-1"], parsed["Size-2"]) == ("768", "512")
    assert parsed["StyleMix job"] == job.job_id and parsed["StyleMix style"] == "Claude Monet"
    assert parsed["StyleMix batch index"] == "1" and parsed["StyleMix backend"] == "preview"
    unit = parse_controlnet_unit(parsed["ControlNet 0"])
    assert unit["Module"] == "canny" and unit["Model"] == "control_v11p_sd15_canny [d14c016b]"
    assert (unit["Threshold A"], unit["Threshold B"], unit["Weight"]) == ("40", "120", "0.75")
    assert unit["Control Mode"] == "My prompt is more important" and unit["Processor Res"] == "512"


def test_controlnet_unit_is_one_quoted_value() -> None:
    text = controlnet_unit_text(CannyUnit(), "bad, name: x")
    assert "," not in parse_controlnet_unit(text)["Model"] and ":" not in parse_controlnet_unit(text)["Model"]
    assert text.startswith("Module: canny, Model: ")


def test_parses_webui_style_infotext() -> None:
    text = (
        "portrait of a lady, oil\n"
        "Negative prompt: lowres\n"
        "Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x768, Model hash: 45dee52b, "
        'Lora hashes: "monet: 1a2b3c4d5e6f", Version: v1.10.1'
    )
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "portrait of a lady, oil" and parsed["Negative prompt"] == "lowres"
    assert parsed["Lora hashes"] == "monet: 1a2b3c4d5e6f" and parsed["Version"] == "v1.10.1"
    assert parsed["Size-2"] == "768"


def test_prompt_only_text_has_no_parameters() -> None:
    parsed = parse_infotext("just a prompt, with commas")
    assert parsed == {"Prompt": "just a prompt, with commas", "Negative prompt": ""}


def test_merge_keeps_the_webui_text_and_adds_ours(image_set: ImageSet) -> None:
    job = make_plan(image_set, ["Hokusai"]).jobs[0]
    webui = (
        "a wave\nNegative prompt: x\nSteps: 25, Sampler: Euler, CFG scale: 5, Seed: 9, Size: 512x512, Version: v1.9.4"
    )
    merged = merge_infotext(webui, job, backend="webui")
    assert merged.startswith(webui)
    parsed = parse_infotext(merged)
    assert parsed["Steps"] == "25" and parsed["Version"] == "v1.9.4"
    assert parsed["StyleMix job"] == job.job_id and parsed["StyleMix backend"] == "webui"
    assert merge_infotext(merged, job, backend="webui") == merged  # already tagged: unchanged
