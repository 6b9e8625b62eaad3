from __future__ import annotations

from PIL import Image, ImageFont

from lib_stylemix.dataset.drawing import Caption, fit_text, label_font, labelled_grid, text_size


def test_labels_use_a_scalable_font_at_the_asked_size() -> None:
    font = label_font(24)
    assert isinstance(font, ImageFont.FreeTypeFont) and font.size == 24
    assert text_size("Ag", label_font(24))[1] > text_size("Ag", label_font(12))[1]


def test_fit_text_wraps_words_and_cuts_overlong_ones() -> None:
    font = label_font(16)
    wrapped = fit_text("a red house at dusk with warm light", font, 120)
    assert "\n" in wrapped and all(text_size(line, font)[0] <= 120 for line in wrapped.split("\n"))
    cut = fit_text("boy_walking_on_beach_02_extra_long_name", font, 100)
    assert cut.endswith("…") and text_size(cut, font)[0] <= 100


def test_grid_places_cells_and_placeholders() -> None:
    red = Image.new("RGB", (50, 50), (255, 0, 0))
    sheet = labelled_grid(
        [[red, None], [red]],
        row_labels=["one", "two"],
        col_labels=["A", "B"],
        captions=[[Caption("x"), None], [None]],
        cell=(50, 50),
    )
    pixels = sheet.load()
    reds = sum(1 for x in range(sheet.width) for y in range(sheet.height) if pixels[x, y] == (255, 0, 0))
    greys = sum(1 for x in range(sheet.width) for y in range(sheet.height) if pixels[x, y] == (215, 215, 215))
    # one grey placeholder (give or take an anti-aliased text pixel); the short second row stays blank
    assert reds == 2 * 50 * 50 and 50 * 50 <= greys < 50 * 50 + 20
