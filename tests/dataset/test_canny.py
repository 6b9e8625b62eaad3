from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lib_stylemix.dataset.canny import (
    MESSY_ABOVE,
    SPARSE_BELOW,
    auto_thresholds,
    canny_map,
    contact_sheet,
    density_warning,
    edge_density,
)


def _stripes(period: int = 32, size: int = 512, dark: int = 60, light: int = 200) -> Image.Image:
    image = Image.new("L", (size, size), dark)
    draw = ImageDraw.Draw(image)
    for x in range(0, size, period):
        draw.rectangle((x, 0, x + period // 2 - 1, size), fill=light)
    return image.convert("RGB")


def test_canny_map_matches_its_thresholds() -> None:
    image = _stripes()
    edges = canny_map(image, 100, 200)
    assert edges.shape == (512, 512) and edges.dtype == np.uint8 and set(np.unique(edges)) <= {0, 255}
    # 32 stripe borders, each a one-pixel line over the full height (2 sides each)
    density = edge_density(edges)
    assert 0.05 < density < 0.08
    assert density_warning(density) is None
    # a 30-level step gives a 3x3 Sobel gradient of 120: below a high threshold of 200, above one of 100
    faint = _stripes(dark=90, light=120)
    assert edge_density(canny_map(faint, 100, 200)) == 0.0
    assert edge_density(canny_map(faint, 50, 100)) == pytest.approx(density)


def test_resolution_resizes_the_short_side_first() -> None:
    assert canny_map(_stripes(size=256), resolution=512).shape == (512, 512)
    assert canny_map(Image.new("RGB", (600, 300)), resolution=150).shape == (150, 300)


def test_blank_is_sparse_and_noise_is_messy() -> None:
    blank = canny_map(Image.new("RGB", (256, 256), (128, 128, 128)))
    assert edge_density(blank) == 0.0
    assert "too sparse" in density_warning(edge_density(blank))
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    dense = edge_density(canny_map(noise, *auto_thresholds(noise)))
    assert dense > MESSY_ABOVE and "too messy" in density_warning(dense)
    assert density_warning(SPARSE_BELOW) is None and density_warning(MESSY_ABOVE) is None


@pytest.mark.parametrize(("grey", "expected"), [(100, (67, 133)), (240, (160, 255)), (0, (1, 2))])
def test_auto_thresholds_follow_the_median(grey: int, expected: tuple[int, int]) -> None:
    image = Image.new("L", (200, 200), grey)
    ImageDraw.Draw(image).rectangle((0, 0, 20, 20), fill=255 - grey)  # a minority does not move the median
    assert auto_thresholds(image.convert("RGB")) == expected


def test_contact_sheet_lays_out_rows_of_cells() -> None:
    maps = [canny_map(_stripes(period=p, size=128)) for p in (8, 16, 32, 64, 128)]
    sheet = contact_sheet(maps, [f"m{i}" for i in range(5)], columns=2, cell=128, title="sheet")
    assert sheet.mode == "RGB"
    assert 2 * 128 <= sheet.width <= 2 * 128 + 60
    assert 3 * 128 <= sheet.height <= 3 * 128 + 3 * 80 + 60


def test_one_threshold_rule_everywhere(tmp_path) -> None:
    """Dataset panel, Restyle plan (CLI and Script) and the canny CLI share `check_thresholds`: low ≤ high."""
    from lib_stylemix.dataset.canny import check_thresholds
    from lib_stylemix.errors import StyleMixError
    from lib_stylemix.restyle.plan import CannyUnit
    from lib_stylemix.ui.dataset_logic import _thresholds
    from lib_stylemix.webui.script import canny_preview

    assert check_thresholds(120, 120) == (120, 120) == _thresholds(120.0, 120.0)
    assert CannyUnit(low=120, high=120).low == 120
    for bad in ((200, 100), (0, 100), (10, 256)):
        with pytest.raises(StyleMixError, match="canny thresholds"):
            check_thresholds(*bad)
        with pytest.raises(StyleMixError, match="canny thresholds"):
            _thresholds(*bad)
        with pytest.raises(StyleMixError, match="canny thresholds"):
            CannyUnit(low=bad[0], high=bad[1])
    Image.new("RGB", (64, 48), (90, 90, 90)).save(tmp_path / "a.png")
    image, text = canny_preview(str(tmp_path), [], 200, 100)
    assert image is None and "low must not exceed high" in text
    image, text = canny_preview(str(tmp_path), [], 120, 120)
    assert image is not None and "120/120" in text
