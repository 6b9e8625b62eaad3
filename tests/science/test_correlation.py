import json

import numpy as np
import pytest
from PIL import Image

from lib_stylemix.errors import StyleMixError
from lib_stylemix.science.correlation import (
    CorrelationSettings,
    bootstrap_rho,
    correlate,
    load_matrix,
    rank_average,
    spearman,
    upper,
)
from lib_stylemix.science.report import write_report


def points(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3))


def dist(x: np.ndarray) -> np.ndarray:
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def test_rank_average_handles_ties():
    assert list(rank_average(np.array([10.0, 20.0, 10.0, 30.0]))) == [1.5, 3.0, 1.5, 4.0]


def test_spearman_reference_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    # textbook example: d² = (0,1,1,0,4)... computed against the d² formula with no ties
    y = np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    d2 = np.sum((rank_average(x) - rank_average(y)) ** 2)
    assert spearman(x, y) == pytest.approx(1 - 6 * d2 / (5 * 24))
    assert np.isnan(spearman(x, np.ones(5)))


def test_perfect_monotone_gives_rho_one_and_ci_covers():
    dw = dist(points(8, 0))
    image = np.sqrt(dw) * 3 + 1  # monotone transform of every pair
    np.fill_diagonal(image, 0)
    names = [f"m{i}" for i in range(8)]
    report = correlate(names, dw, image, settings=CorrelationSettings(samples=300, seed=1))
    assert report.rho == pytest.approx(1.0)
    assert report.ci_low <= 1.0 <= report.ci_high + 1e-12
    assert report.ci_low == pytest.approx(1.0)
    assert all(d.gap == 0 for d in report.worst)


def test_anti_monotone_gives_minus_one():
    dw = dist(points(7, 2))
    image = 10.0 - dw
    np.fill_diagonal(image, 0)
    report = correlate([str(i) for i in range(7)], dw, image, settings=CorrelationSettings(samples=200))
    assert report.rho == pytest.approx(-1.0)
    assert report.ci_high == pytest.approx(-1.0)


def test_noise_gives_ci_containing_zero():
    dw = dist(points(12, 4))
    image = dist(points(12, 5))  # independent of dw
    report = correlate([str(i) for i in range(12)], dw, image, settings=CorrelationSettings(samples=500, seed=3))
    assert abs(report.rho) < 0.5
    assert report.ci_low < 0 < report.ci_high


def test_bootstrap_is_seeded_and_member_based():
    dw = dist(points(6, 6))
    image = dw + dist(points(6, 7)) * 0.5
    a = bootstrap_rho(dw, image, samples=100, seed=9)
    b = bootstrap_rho(dw, image, samples=100, seed=9)
    c = bootstrap_rho(dw, image, samples=100, seed=10)
    assert a == b and a != c
    assert a[2] <= 100


def test_block_variants_find_the_block_that_predicts_style():
    x_style, x_noise = points(8, 11), points(8, 12)
    k_style, k_noise = x_style @ x_style.T, x_noise @ x_noise.T
    dw_total = np.sqrt(np.maximum(np.add.outer(np.diag(k_style + k_noise), np.diag(k_style + k_noise))
                                  - 2 * (k_style + k_noise), 0))
    image = dist(x_style)  # what people see follows the "style" block only
    report = correlate([str(i) for i in range(8)], dw_total, image,
                       by_block={"style": k_style, "noise": k_noise}, settings=CorrelationSettings(samples=50))
    assert report.block_rho["style"] == pytest.approx(1.0)
    assert report.best_block == "style"
    assert report.block_rho["noise"] < 0.9


def test_disagreements_list_the_swapped_pair_first():
    dw = np.array([[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]], dtype=float)
    image = dw.copy()
    image[0, 1] = image[1, 0] = 6.5  # ΔW calls it the closest pair, the images the farthest
    report = correlate(list("abcd"), dw, image, settings=CorrelationSettings(samples=20, top=2))
    first = report.worst[0]
    assert (first.a, first.b) == ("a", "b") and first.dw_rank == 1 and first.image_rank == 6


def test_report_json_and_png(tmp_path):
    dw = dist(points(5, 1))
    report = correlate(list("abcde"), dw, dw * 2, settings=CorrelationSettings(samples=50))
    json_path, png_path = write_report(report, tmp_path)
    doc = json.loads(json_path.read_text())
    assert doc["spearman_rho"] == pytest.approx(1.0) and doc["pairs"] == 10
    assert doc["bootstrap"]["resampling"] == "members"
    with Image.open(png_path) as im:
        assert im.size[0] > 500
    with pytest.raises(StyleMixError, match="already exists"):
        write_report(report, tmp_path)


def test_bad_input_is_one_clear_error():
    with pytest.raises(StyleMixError, match="same size"):
        correlate(list("abc"), np.zeros((3, 3)), np.zeros((4, 4)))
    with pytest.raises(StyleMixError, match="at least"):
        correlate(list("ab"), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(StyleMixError, match="square"):
        load_matrix([[1, 2, 3]], "x.json")
    names, m = load_matrix({"names": ["a", "b"], "matrix": [[0, 1], [1, 0]]}, "x.json")
    assert names == ["a", "b"] and list(upper(m)) == [1.0]
