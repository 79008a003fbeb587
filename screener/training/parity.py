"""Parity plots of ``screener evaluate``: predicted against true, drawn to be read and reused.

Every panel is square with equal x and y limits and a y = x line; moduli and the Debye temperature
are on log axes with plain-number ticks at 1, 2 and 5 per decade (1 per decade beyond three decades),
so labels never run together; axes carry the property and its unit; each title gives n, R² with
its bootstrap 95% interval and the MAE with its unit, and the figure names the subset evaluated.
Labels that were derived rather than given (E from K and G; θ_D from K, G and the structure) are
drawn as open circles and the legend says so. Written as PNG (300 dpi) and SVG side by side.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..targets import TARGETS, TARGETS_BY_NAME

__all__ = ["DERIVED_FROM", "parity_figures"]

LABELS = {
    "bulk_modulus": "bulk modulus K",
    "shear_modulus": "shear modulus G",
    "youngs_modulus": "Young's modulus E",
    "formation_energy": "formation energy",
    "debye_temperature": "Debye temperature θ$_D$",
}
#: how a missing label of this target is derived (``training/labels.py``, ``fill_from_physics``).
DERIVED_FROM = {"youngs_modulus": "derived from K and G", "debye_temperature": "derived from K, G and the structure"}
MODELS = (("lgbm", "_lgbm", "LightGBM"), ("attcnn", "_attcnn", "attention CNN"), ("blend", "", "blend"))


def _limits(values: np.ndarray, *, log: bool) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if log:
        values = values[values > 0]
        lo, hi = float(values.min()), float(values.max())
        pad = (hi / lo) ** 0.05 if hi > lo else 1.2
        return lo / pad, hi * pad
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - pad, hi + pad


def _format_axes(axis, *, log: bool, limits: tuple[float, float]) -> None:
    from matplotlib import ticker

    axis.set_xlim(*limits)
    axis.set_ylim(*limits)
    axis.set_aspect("equal", adjustable="box")
    if log:
        axis.set_xscale("log")
        axis.set_yscale("log")
        decades = math.log10(limits[1] / limits[0])
        subs = (1.0, 2.0, 5.0) if decades <= 2.2 else (1.0, 3.0) if decades <= 3.5 else (1.0,)
        for which in (axis.xaxis, axis.yaxis):
            which.set_major_locator(ticker.LogLocator(base=10, subs=subs))
            which.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            which.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(1, 10)))
            which.set_minor_formatter(ticker.NullFormatter())
    else:
        axis.xaxis.set_major_locator(ticker.MaxNLocator(6))
        axis.yaxis.set_major_locator(ticker.MaxNLocator(6))
    axis.grid(True, which="major", color="#e4e7eb", lw=0.6)
    axis.set_axisbelow(True)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"


def _title(model: str, report: dict, unit: str) -> str:
    ci = (report.get("ci") or {}).get("r2")
    r2 = _fmt(report.get("r2", float("nan")))
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return f"{model}\nn = {report.get('n', 0)}, R² = {r2}{interval}, MAE = {_fmt(report.get('mae', float('nan')))} {unit}"


def _panel(axis, truth: np.ndarray, predicted: np.ndarray, derived: np.ndarray, *, target: str, title: str, limits, log: bool) -> None:
    spec = TARGETS_BY_NAME[target]
    keep = np.isfinite(truth) & np.isfinite(predicted)
    if log:
        keep &= (truth > 0) & (predicted > 0)
    given, made = keep & ~derived, keep & derived
    axis.plot(limits, limits, color="#1f2933", lw=0.9, zorder=1, label="y = x")
    if given.any():
        axis.scatter(truth[given], predicted[given], s=10, alpha=0.55, color="#2f6fab", lw=0, zorder=2, label="given label")
    if made.any():
        axis.scatter(truth[made], predicted[made], s=12, alpha=0.7, facecolors="none", edgecolors="#c05621", lw=0.7,
                     zorder=2, label=f"label {DERIVED_FROM.get(target, 'derived')}")
    _format_axes(axis, log=log, limits=limits)
    word = LABELS[target]
    derived_note = f" ({DERIVED_FROM[target]})" if made.any() and not given.any() and target in DERIVED_FROM else ""
    axis.set_xlabel(f"true {word}{derived_note} ({spec.unit})")
    axis.set_ylabel(f"predicted {word} ({spec.unit})")
    axis.set_title(title, fontsize=9.5)
    if made.any():
        axis.legend(loc="upper left", fontsize=7.5, frameon=True)


def _save(figure, path: Path) -> list[Path]:
    png, svg = path.with_suffix(".png"), path.with_suffix(".svg")
    figure.savefig(png, dpi=300, bbox_inches="tight")
    figure.savefig(svg, bbox_inches="tight")
    return [png, svg]


def parity_figures(
    out: Path,
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    metrics: dict,
    *,
    derived: np.ndarray | None = None,
    subset: str | None = None,
) -> list[Path]:
    """Write ``parity_<target>.png/.svg`` (LightGBM, attention CNN and blend) and ``parity_all.png/.svg``.

    Args:
        out: folder.
        truth: (N, T) labels in physical units, columns in :data:`screener.targets.TARGETS` order (NaN: none).
        predictions: ``<target>``, ``<target>_lgbm``, ``<target>_attcnn`` arrays of length N.
        metrics: ``metrics[target][model]`` reports (n, r2, mae, ci) as :func:`regression_report` writes them.
        derived: (N, T) bool, True where the label was derived from others rather than given.
        subset: the split evaluated (``test``...), or None for every labelled density.

    Returns:
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    derived = np.zeros_like(truth, dtype=bool) if derived is None else np.asarray(derived, dtype=bool)
    where = f"{subset} split" if subset else "all labelled densities"
    written: list[Path] = []
    shown = [(j, t) for j, t in enumerate(TARGETS) if np.isfinite(truth[:, j]).sum() >= 2 and t.name in predictions]
    with plt.rc_context({"font.size": 9, "axes.titlesize": 9.5, "svg.fonttype": "none"}):
        for j, target in shown:
            column = truth[:, j]
            values = np.concatenate([column] + [predictions[target.name + s] for _, s, _ in MODELS])
            limits = _limits(values[np.isfinite(values)], log=target.log10)
            figure, axes = plt.subplots(1, 3, figsize=(13.5, 4.9), constrained_layout=True)
            for axis, (key, suffix, label) in zip(axes, MODELS):
                report = (metrics.get(target.name) or {}).get(key, {})
                _panel(axis, column, predictions[target.name + suffix], derived[:, j], target=target.name,
                       title=_title(label, report, target.unit), limits=limits, log=target.log10)  # fmt: skip
            figure.suptitle(f"{LABELS[target.name]}: predicted vs true, {where}", fontsize=11)
            written += _save(figure, out / f"parity_{target.name}")
            plt.close(figure)
        if shown:
            columns = min(3, len(shown))
            rows = math.ceil(len(shown) / columns)
            figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 4.6 * rows), constrained_layout=True, squeeze=False)
            for axis, (j, target) in zip(axes.ravel(), shown):
                column = truth[:, j]
                values = np.concatenate([column, predictions[target.name]])
                limits = _limits(values[np.isfinite(values)], log=target.log10)
                report = (metrics.get(target.name) or {}).get("blend", {})
                _panel(axis, column, predictions[target.name], derived[:, j], target=target.name,
                       title=_title(LABELS[target.name] + " (blend)", report, target.unit),
                       limits=limits, log=target.log10)  # fmt: skip
            for axis in axes.ravel()[len(shown):]:
                axis.set_visible(False)
            figure.suptitle(f"Blend of LightGBM and attention CNN, predicted vs true, {where}", fontsize=11)
            written += _save(figure, out / "parity_all")
            plt.close(figure)
    return written
