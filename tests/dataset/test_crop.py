from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib_stylemix.dataset import crop
from lib_stylemix.dataset.crop import crop_box, detect_faces, fit_image, focal_point
from tests.dataset.conftest import cartoon_face, salient_object


def _inside(box, region) -> bool:
    return box[0] <= region[0] and box[1] <= region[1] and box[2] >= region[2] and box[3] >= region[3]


def test_focal_crop_keeps_a_salient_object_that_center_crop_cuts() -> None:
    image = salient_object(centre=(900, 256), radius=70)
    disc = (830, 186, 970, 326)
    centre = fit_image(image, (512, 512), "center")
    focal = fit_image(image, (512, 512), "focal", faces=lambda im: [])
    assert not _inside(centre.box, disc)
    assert focal.method == "saliency" and _inside(focal.box, disc)
    assert focal.image is not None and focal.image.size == (512, 512)
    # the busy disc ends up in the output: high colour variance where it landed
    pixels = np.asarray(focal.image, dtype=np.float32)
    assert pixels[:, :100].std(axis=(0, 1)).max() < 1.0
    assert pixels[:, 300:].std(axis=(0, 1)).min() > 20.0


@pytest.mark.parametrize("centre", [(150, 260), (520, 250), (880, 250)])
def test_focal_crop_keeps_a_detected_face(centre) -> None:
    image = cartoon_face(centre=centre)
    faces = detect_faces(image)
    assert len(faces) == 1
    x, y, w, h = faces[0]
    assert abs(x + w / 2 - centre[0]) < 40 and abs(y + h / 2 - centre[1]) < 60
    fitted = fit_image(image, (512, 512), "focal")
    assert fitted.method == "face"
    assert _inside(fitted.box, (x, y, x + w, y + h))


def test_without_the_cascade_focal_falls_back_to_saliency(monkeypatch) -> None:
    monkeypatch.setattr(crop, "_face_cascade", lambda: None)
    image = cartoon_face(centre=(880, 250))
    assert detect_faces(image) == []
    _, _, method, _ = focal_point(image)
    assert method == "saliency"


def test_flat_image_focuses_on_the_centre() -> None:
    x, y, method, _ = focal_point(Image.new("RGB", (300, 200), (9, 9, 9)), faces=lambda im: [])
    assert (x, y, method) == (150, 100, "center")


def test_pad_letterboxes_with_the_background_colour() -> None:
    image = Image.new("RGB", (1024, 512), (200, 0, 0))
    fitted = fit_image(image, (512, 512), "pad", background=(0, 0, 255))
    assert fitted.image is not None and fitted.image.size == (512, 512) and not fitted.upscaled
    pixels = np.asarray(fitted.image)
    assert tuple(pixels[5, 256]) == (0, 0, 255) and tuple(pixels[256, 256]) == (200, 0, 0)


def test_small_sources_are_not_upscaled_unless_allowed() -> None:
    small = Image.new("RGB", (300, 300))
    for mode in ("center", "focal", "pad"):
        refused = fit_image(small, (512, 512), mode, faces=lambda im: [])
        assert refused.image is None and refused.upscaled
        allowed = fit_image(small, (512, 512), mode, allow_upscale=True, faces=lambda im: [])
        assert allowed.image is not None and allowed.image.size == (512, 512) and allowed.upscaled


def test_non_square_targets_keep_aspect_and_stay_in_bounds() -> None:
    image = Image.new("RGB", (1000, 1000))
    box = crop_box(image.size, (512, 768), (990, 10))
    assert box[0] >= 0 and box[1] == 0 and box[2] == pytest.approx(1000) and box[3] == pytest.approx(1000)
    assert (box[2] - box[0]) / (box[3] - box[1]) == pytest.approx(512 / 768)
    fitted = fit_image(image, (512, 768), "center")
    assert fitted.image is not None and fitted.image.size == (512, 768)
