from __future__ import annotations

import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.restyle.layout import (
    caption_text,
    image_folder,
    output_name,
    repeats_for,
    steps_per_epoch,
    style_slug,
)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Claude Monet", "claude_monet"),
        ("Hokusai (北斎)", "hokusai"),
        ("  Égon--Schiele!! ", "egon_schiele"),
        ("M.C. Escher", "m_c_escher"),
    ],
)
def test_style_slug(name: str, slug: str) -> None:
    assert style_slug(name) == slug


def test_non_ascii_names_get_distinct_hash_slugs() -> None:
    a, b = style_slug("北斎"), style_slug("広重")
    assert a.startswith("style_") and b.startswith("style_") and a != b and a == style_slug("北斎")
    with pytest.raises(StyleMixError):
        style_slug("  ")


@pytest.mark.parametrize(
    ("n", "target", "batch", "repeats"),
    [(12, 100, 2, 17), (12, 100, 1, 8), (500, 100, 1, 1), (1, 100, 4, 400), (30, 100, 1, 3)],
)
def test_repeats_for_aims_at_the_target(n: int, target: int, batch: int, repeats: int) -> None:
    assert repeats_for(n, target, batch) == repeats
    if repeats > 1:  # no other repeat count gets closer to the target
        best = min(range(1, 1000), key=lambda r: abs(steps_per_epoch(n, r, batch) - target))
        assert abs(steps_per_epoch(n, repeats, batch) - target) <= abs(steps_per_epoch(n, best, batch) - target) + 1


def test_repeats_for_refuses_nonsense() -> None:
    for args in [(0, 100, 1), (5, 0, 1), (5, 100, 0)]:
        with pytest.raises(StyleMixError):
            repeats_for(*args)


def test_folder_names_and_captions(tmp_path) -> None:
    assert image_folder(tmp_path, "hokusai", 17, "hokusai") == tmp_path / "hokusai" / "img" / "17_hokusai"
    assert output_name("cat", 0) == "cat" and output_name("cat", 2) == "cat-3"
    assert caption_text("hokusai", "a  red\nhouse ") == "hokusai, a red house"
    assert caption_text("hokusai", "") == "hokusai"
