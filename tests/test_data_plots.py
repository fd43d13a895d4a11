"""Plot helpers: band choice, false colour, PNG output (headless)."""

from __future__ import annotations

import numpy as np

from mifomo_lite.data import synthetic_scene
from mifomo_lite.data.plots import (false_colour, label_rgb, pick_rgb_bands, plot_label_map,
                                    save_false_colour_png, save_label_map_png)


def test_rgb_bands_follow_wavelengths():
    wl = np.linspace(400, 1000, 61)                   # 10 nm steps
    assert pick_rgb_bands(61, wl) == (24, 15, 6)      # 640, 550, 460 nm
    assert pick_rgb_bands(100) == (74, 50, 25)


def test_false_colour_and_pngs(tmp_path):
    s = synthetic_scene(24, 20, 30, n_classes=25, seed=0)
    rgb = false_colour(s)
    assert rgb.shape == (24, 20, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert false_colour(s.cube, bands=(1, 2, 3)).shape == (24, 20, 3)
    colours = label_rgb(s.labels)
    assert colours.shape == (24, 20, 3) and (colours[s.labels == 0] == 0).all()
    p1 = save_false_colour_png(s, tmp_path / "a" / "fc.png")
    p2 = save_label_map_png(s, tmp_path / "a" / "gt.png", title="labels")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(p1).shape[:2] == (24, 20)


def test_plot_label_map_on_given_axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    s = synthetic_scene(16, 16, 10, n_classes=3, seed=0)
    assert plot_label_map(s, ax=ax, title="t") is ax
    assert len(ax.get_legend().get_texts()) == 3
