"""The whole workflow across areas, as files flow between them: image set → restyle → training → epoch pick.

Each area is tested on its own elsewhere; this checks that what one stage writes is what the next one reads
(the restyle output as an sd-scripts dataset, the trainer's epoch files as an epoch grid), with the GPU-bound
parts replaced by their stand-ins (the preview backend, the stand-in trainer, a fake txt2img).
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from lib_stylemix.dataset.images import load_image_set, prepare_image_set
from lib_stylemix.epochs import find_run, run_grid, write_choice
from lib_stylemix.epochs import make_plan as make_epoch_plan
from lib_stylemix.epochs.tags import with_loras
from lib_stylemix.restyle.execute import execute
from lib_stylemix.restyle.generator import GeneratedImage
from lib_stylemix.restyle.plan import make_plan
from lib_stylemix.restyle.preview import PreviewGenerator
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.training import TrainSettings, apply_overrides, plan_training, run_training, validate_job
from tests.training.conftest import make_checkpoint, make_fake_sd_scripts

SUBJECTS = ("boy_walking_on_beach", "red_castle", "old_face")


class _SolidTxt2Img:
    """Fake txt2img: one image whose colour depends on the LoRA tag in the prompt."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def generate(self, request) -> list[GeneratedImage]:
        prompt, width, height = with_loras(request.prompt, request.loras), request.width, request.height
        self.prompts.append(prompt)
        shade = sum(map(ord, prompt)) % 256
        return [GeneratedImage(Image.new("RGB", (width, height), (shade, 255 - shade, 128)))]


def _sources(folder: Path) -> Path:
    folder.mkdir()
    for i, stem in enumerate(SUBJECTS):
        image = Image.new("RGB", (160, 120), (40 * i, 90, 200 - 40 * i))
        ImageDraw.Draw(image).ellipse((30 + 10 * i, 20, 110, 100), fill=(240, 220, 30))
        image.save(folder / f"{stem}_0{i}.jpg")
    return folder


def test_image_set_to_restyle_to_training_to_epoch_choice(tmp_path: Path) -> None:
    prepared = tmp_path / "prepared"
    prepare_image_set(_sources(tmp_path / "src"), prepared, 64)
    image_set = load_image_set(prepared)
    assert [e.description for e in image_set.entries] == ["boy walking on beach", "old face", "red castle"]

    restyled = tmp_path / "restyled"
    plan = make_plan(image_set, ["ink wash", "watercolor"], width=64, height=64)
    assert "ink wash art, boy walking on beach" in {j.prompt for j in plan.jobs}
    assert {(j.sampler, j.steps) for j in plan.jobs} == {("DDIM", 20)}
    result = execute(plan, PreviewGenerator(), restyled)
    assert len(result.written) == 6 and not result.failed

    manifest = json.loads((restyled / "manifest.json").read_text(encoding="utf-8"))
    ink = next(s for s in manifest["styles"] if s["style"] == "ink wash")
    train_data_dir = restyled / ink["train_data_dir"]
    concept = [d for d in train_data_dir.iterdir() if d.is_dir()]
    assert len(concept) == 1 and concept[0].name.split("_", 1)[0].isdigit()  # sd-scripts' N_name folder
    assert sorted(p.suffix for p in concept[0].iterdir()) == [".png"] * 3 + [".txt"] * 3

    sd = make_fake_sd_scripts(tmp_path / "sd-scripts")
    settings = apply_overrides(TrainSettings(), ["max_train_epochs=3"])
    job = plan_training(train_data_dir, make_checkpoint(tmp_path / "sd15.safetensors", "sd1"), sd=sd,
                        style="ink wash", settings=settings, output_root=tmp_path / "Lora" / "stylemix")
    assert "train_network.py" in " ".join(job.command)
    assert job.toml_args["train_data_dir"] == str(train_data_dir.resolve())  # the PARENT of the N_name folder
    validate_job(job)
    trained = run_training(job)
    assert trained.status == "succeeded", trained.error

    epochs = find_run(job.output_dir, job.output_name)
    assert [e.epoch for e in epochs] == [1, 2, 3] and epochs[-1].final
    grid_plan = make_epoch_plan(epochs, StyleMixSettings(), strengths=[0.5, 1.0], prompts=["a red castle"], seeds=[7])
    generator = _SolidTxt2Img()
    grid = run_grid(grid_plan, generator)
    assert not grid.cancelled and len(generator.prompts) == 6
    assert all("<lora:" in p for p in generator.prompts)
    sidecar = write_choice(epochs[1].path, 0.8, epoch=2, arch="sd1")
    chosen = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    assert chosen["preferred weight"] == 0.8 and chosen["sd version"] == "SD1"
