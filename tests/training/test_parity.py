"""Parity plots: square, equal limits, y = x, readable log ticks, units, n / R² interval / MAE, subset, derived labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from screener.targets import TARGETS  # noqa: E402
from screener.training.metrics import regression_report  # noqa: E402
from screener.training.parity import _panel, _title, parity_figures  # noqa: E402


def _data(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = np.column_stack(
        [rng.lognormal(np.log(100), 0.8, n), rng.lognormal(np.log(50), 0.8, n), rng.lognormal(np.log(150), 0.8, n),
         rng.normal(-1, 0.8, n), rng.lognormal(np.log(400), 0.4, n)]
    )  # fmt: skip
    predictions = {}
    for j, t in enumerate(TARGETS):
        noise = rng.normal(0, 0.1, n)
        value = truth[:, j] * np.exp(noise) if t.log10 else truth[:, j] + noise
        predictions[t.name] = value
        predictions[t.name + "_lgbm"] = value * 1.01
        predictions[t.name + "_attcnn"] = value * 0.99
    metrics = {
        t.name: {m: regression_report(truth[:, j], predictions[t.name + s], log_target=t.log10, n_bootstrap=50)
                 for m, s in (("lgbm", "_lgbm"), ("attcnn", "_attcnn"), ("blend", ""))}
        for j, t in enumerate(TARGETS)
    }  # fmt: skip
    return truth, predictions, metrics


def test_panel_is_square_with_equal_limits_units_and_metrics() -> None:
    truth, predictions, metrics = _data()
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    derived = np.zeros(len(truth), bool)
    derived[::3] = True
    _panel(axis, truth[:, 2], predictions["youngs_modulus"], derived, target="youngs_modulus",
           title=_title("blend", metrics["youngs_modulus"]["blend"], "GPa"), limits=(10.0, 2000.0), log=True)  # fmt: skip
    figure.canvas.draw()
    assert axis.get_xlim() == axis.get_ylim() == (10.0, 2000.0)
    assert axis.get_aspect() == 1.0 and axis.get_xscale() == axis.get_yscale() == "log"
    line = axis.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), line.get_ydata())  # y = x
    assert "(GPa)" in axis.get_xlabel() and "(GPa)" in axis.get_ylabel()
    title = axis.get_title()
    assert "n = 80" in title and "R² = " in title and "[" in title and "MAE = " in title and "GPa" in title
    assert any("derived from K and G" in t.get_text() for t in axis.get_legend().get_texts())
    # tick labels are plain numbers and do not overlap
    renderer = figure.canvas.get_renderer()
    labels = [t for t in axis.get_xticklabels() if t.get_text() and axis.get_xlim()[0] <= t.get_position()[0] <= axis.get_xlim()[1]]
    assert len(labels) >= 3 and all("10^" not in t.get_text() and "$" not in t.get_text() for t in labels)
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in labels]
    plt.close(figure)


def test_parity_figures_write_png_and_svg_per_target_and_all(tmp_path: Path) -> None:
    truth, predictions, metrics = _data()
    derived = np.zeros_like(truth, bool)
    derived[:, 2] = True  # every Young's modulus derived: the axis label says so
    written = parity_figures(tmp_path, truth, predictions, metrics, derived=derived, subset="test")
    names = {p.name for p in written}
    for t in TARGETS:
        assert {f"parity_{t.name}.png", f"parity_{t.name}.svg"} <= names
    assert {"parity_all.png", "parity_all.svg"} <= names
    svg = (tmp_path / "parity_youngs_modulus.svg").read_text()
    assert "derived from K and G" in svg and "test split" in svg and "R² = " in svg
    assert "all labelled densities" not in svg
    assert (tmp_path / "parity_all.png").stat().st_size > 20_000


@pytest.mark.parametrize("span", [(5.0, 40.0), (1.0, 3000.0), (0.5, 80000.0)])
def test_log_ticks_never_overlap(span: tuple[float, float]) -> None:
    from screener.training.parity import _format_axes

    figure, axis = plt.subplots(figsize=(4.2, 4.2))
    _format_axes(axis, log=True, limits=span)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    labels = [t for t in axis.get_yticklabels() if t.get_text() and span[0] <= t.get_position()[1] <= span[1]]
    assert len(labels) >= 2
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in labels]
    plt.close(figure)
