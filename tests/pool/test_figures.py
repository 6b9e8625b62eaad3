"""Figure geometry (linkage order, classical MDS) and PNG writing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lib_stylemix.errors import StyleMixError
from lib_stylemix.pool.figures import (
    average_linkage_order,
    classical_mds,
    heatmap_figure,
    lineage_figure,
    pool_map_figure,
    save_png,
)


def test_average_linkage_puts_clusters_next_to_each_other():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    points = centres[labels] + 0.1 * rng.standard_normal((9, 2))
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    order = average_linkage_order(d)
    assert sorted(order) == list(range(9))
    runs = [labels[i] for i in order]
    changes = sum(a != b for a, b in itertools.pairwise(runs))
    assert changes == 2  # three contiguous groups
    assert average_linkage_order(np.zeros((1, 1))) == [0]
    assert average_linkage_order(np.zeros((0, 0))) == []


def test_classical_mds_recovers_planar_distances():
    rng = np.random.default_rng(1)
    points = rng.standard_normal((7, 2)) * 3
    gram = points @ points.T
    xy = classical_mds(gram)
    want = np.linalg.norm(points[:, None] - points[None], axis=-1)
    got = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert classical_mds(np.ones((1, 1))).shape == (1, 2)


def test_figures_render_and_png_is_never_overwritten(tmp_path):
    names = ["a", "b", "c"]
    d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    gram = np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 2.0]])
    path = save_png(heatmap_figure(names, d), tmp_path / "h.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(StyleMixError, match="already exists"):
        save_png(heatmap_figure(names, d), path)
    save_png(pool_map_figure(names, gram, [(0, 2), (1, 2)], [0, 0, 1]), tmp_path / "m.png")
    save_png(lineage_figure(names, [(), (), ("a", "b")], [0, 0, 1], [True, False, True]), tmp_path / "l.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png", "l.png", "m.png"]


def _text_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    return renderer, [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]


def test_pool_map_labels_stay_clear_of_the_colour_bar_and_inside_the_figure():
    """Issue 12 item 17: long labels of right-most points used to run under the colour bar."""
    rng = np.random.default_rng(3)
    points = rng.normal(size=(9, 5))
    gram = points @ points.T
    names = [f"synthetic_style_{i:02d}_long_name" for i in range(9)]
    fig = pool_map_figure(names, gram, [(0, 8)], [0] * 8 + [1])
    renderer, boxes = _text_boxes(fig)
    assert len(fig.axes) == 2  # plot + colour bar
    bar = fig.axes[1].get_window_extent(renderer)
    width, height = fig.canvas.get_width_height()
    assert len(boxes) == len(names)
    for text, box in boxes:
        assert not box.overlaps(bar), text
        assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, text
    assert bar.y1 < fig.axes[0].get_window_extent(renderer).y0  # the bar lies under the plot


def test_lineage_labels_are_readable_and_do_not_collide():
    names = [f"gen0_style_number_{i}" for i in range(10)] + ["child_of_two_parents"]
    parents = [()] * 10 + [("gen0_style_number_0", "gen0_style_number_9")]
    fig = lineage_figure(names, parents, [0] * 10 + [1], [True] * 11)
    _, boxes = _text_boxes(fig)
    assert min(t.get_fontsize() for t in fig.axes[0].texts if t.get_text()) >= 8
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            assert not boxes[a][1].overlaps(boxes[b][1]), (boxes[a][0], boxes[b][0])
    width, _ = fig.canvas.get_width_height()
    assert width <= 1600  # shown at panel width without shrinking the 8 pt labels much


def test_layout_leaves_no_engine_and_the_same_pixels(tmp_path, monkeypatch):
    """Figures come laid out but without a layout engine (which would make `savefig` draw everything twice);
    the PNG is byte-identical to the one `Figure.tight_layout` gives."""
    import lib_stylemix.pool.figures as figures

    names = [f"style_{i}" for i in range(5)]
    d = np.abs(np.subtract.outer(np.arange(5.0), np.arange(5.0)))
    fig = heatmap_figure(names, d)
    assert fig.get_layout_engine() is None
    ours = save_png(fig, tmp_path / "ours.png").read_bytes()
    monkeypatch.setattr(figures, "tight_layout", lambda f: f.tight_layout())
    theirs = save_png(heatmap_figure(names, d), tmp_path / "theirs.png").read_bytes()
    assert ours == theirs
