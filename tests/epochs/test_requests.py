"""Epoch grid jobs reach the generator as `Txt2ImgRequest`s with the LoRA as data; rendered as tags they give
exactly the prompt the plan shows."""

from __future__ import annotations

import dataclasses

import pytest

from lib_stylemix.epochs import find_run, make_plan, with_loras
from lib_stylemix.seams import Txt2ImgRequest
from lib_stylemix.settings import StyleMixSettings


def test_requests_carry_the_epoch_file_as_data(run_folder):
    settings = StyleMixSettings(width=32, height=48, steps=5, sampler="Euler", cfg_scale=4.5)
    plan = make_plan(find_run(run_folder, "ink"), settings, strengths=(0.5, 1.0), prompts=["a cat", "a dog"],
                     seeds=(7, 8))
    for job in plan.jobs:
        request = plan.request(job)
        assert "<lora:" not in request.prompt and request.loras == ((job.file.name, job.strength),)
        assert with_loras(request.prompt, request.loras) == job.prompt
        assert (request.seed, request.width, request.height, request.steps, request.sampler, request.cfg) == (
            job.seed, 32, 48, 5, "Euler", 4.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.request(plan.jobs[0]).prompt = "x"  # type: ignore[misc]
    assert Txt2ImgRequest("p").batch == 1
