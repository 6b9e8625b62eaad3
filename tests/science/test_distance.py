import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.science.distance import distance_matrix, pairwise_w2, set_distance, w2, w2_squared
from lib_stylemix.science.features import StyleDescriptor, describe


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T


def general_w2_squared(mu1, cov1, mu2, cov2) -> float:
    """W₂² between two general Gaussians (Dowson–Landau / Givens–Shortt formula), computed independently."""
    root2 = _sqrtm_psd(cov2)
    cross = _sqrtm_psd(root2 @ cov1 @ root2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * cross))


def test_describe_is_channel_mean_and_population_variance():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2, 3, 4, 5)) * np.array([1.0, 2.0, 3.0])[None, :, None, None]
    d = describe(feats)
    assert len(d) == 2
    for b in range(2):
        for c in range(3):
            values = feats[b, c].ravel()
            assert d[b].mean[c] == pytest.approx(values.mean())
            assert d[b].var[c] == pytest.approx(np.mean((values - values.mean()) ** 2))


def test_describe_rejects_bad_shapes_and_nan():
    with pytest.raises(StyleMixError, match="B×C×H×W"):
        describe(np.zeros((2, 3)))
    bad = np.zeros((1, 2, 2, 2))
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(StyleMixError, match="NaN"):
        describe(bad)


def test_w2_closed_form():
    a = StyleDescriptor(np.array([0.0, 1.0]), np.array([1.0, 4.0]))
    b = StyleDescriptor(np.array([3.0, 1.0]), np.array([9.0, 1.0]))
    # ‖μ‖² = 9, ‖σ₁−σ₂‖² = (1−3)² + (2−1)² = 5
    assert w2_squared(a, b) == pytest.approx(14.0)
    assert w2(a, b) == pytest.approx(np.sqrt(14.0))
    assert w2(a, a) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_w2_matches_general_gaussian_formula_on_diagonal_covariances(seed):
    rng = np.random.default_rng(seed)
    c = 7
    mu1, mu2 = rng.normal(size=c), rng.normal(size=c)
    var1, var2 = rng.uniform(0.01, 5, size=c), rng.uniform(0.01, 5, size=c)
    expected = general_w2_squared(mu1, np.diag(var1), mu2, np.diag(var2))
    got = w2_squared(StyleDescriptor(mu1, var1), StyleDescriptor(mu2, var2))
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_pairwise_matches_pairs_and_is_a_metric_matrix():
    rng = np.random.default_rng(3)
    ds = describe(rng.normal(size=(5, 4, 3, 3)))
    m = pairwise_w2(ds)
    assert np.allclose(m, m.T) and np.all(np.diag(m) == 0)
    for i in range(5):
        for j in range(5):
            assert m[i, j] == pytest.approx(w2(ds[i], ds[j]), abs=1e-9)


def test_set_distance_averages_over_shared_renders_only():
    d0 = StyleDescriptor(np.zeros(2), np.ones(2))
    d3 = StyleDescriptor(np.array([3.0, 0.0]), np.ones(2))
    d1 = StyleDescriptor(np.array([1.0, 0.0]), np.ones(2))
    a = {"p0/1": d0, "p0/2": d0, "only-a": d3}
    b = {"p0/1": d3, "p0/2": d1}
    assert set_distance(a, b) == pytest.approx(2.0)
    m = distance_matrix([a, b, a])
    assert m[0, 1] == m[1, 0] == pytest.approx(2.0) and m[0, 2] == 0.0
    with pytest.raises(StyleMixError, match="share no"):
        set_distance({"x": d0}, {"y": d0})


def test_descriptor_json_round_trip():
    d = StyleDescriptor(np.array([1.5, -2.0]), np.array([0.25, 4.0]))
    back = StyleDescriptor.from_json(d.to_json())
    assert np.array_equal(back.mean, d.mean) and np.array_equal(back.var, d.var)
