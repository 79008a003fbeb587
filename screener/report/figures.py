"""The report's charts as plotly.js figure specifications (plain dicts: ``{"data": [...], "layout": {...}}``).

Built with numpy, not with plotly's Python objects, so 100,000 rows cost milliseconds; the page
draws them with the plotly.js bundled inline (:mod:`screener.report.page`).

Physics on the Ashby chart (``/work/shared/DESIGN.md`` §3):

* Pugh's ratio K/G = 1.75 separates ductile (K/G above, below the line G = K/1.75) from brittle
  behaviour (Pugh, Phil. Mag. 45, 823, 1954).
* Chen's hardness Hv = 2 (k² G)^0.585 − 3 with k = G/K (GPa; Chen et al., Intermetallics 19, 1275,
  2011). A contour of constant Hv is G = K^(2/3) ((Hv + 3)/2)^(1/1.755).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from ..config import ReportConfig
from ..targets import TARGETS, TARGETS_BY_NAME
from .data import ReportData

__all__ = ["ashby_figure", "distribution_figures", "hover_texts", "scatter_sample", "uncertainty_figure"]

PUGH_RATIO = 1.75
ASHBY_SIZE = (700, 640)  # px: with its margins, a square plot area
HARDNESS_CONTOURS = (5.0, 10.0, 20.0, 40.0)  # GPa; 40 = superhard

LABELS = {
    "bulk_modulus": "bulk modulus K",
    "shear_modulus": "shear modulus G",
    "youngs_modulus": "Young's modulus E",
    "formation_energy": "formation energy",
    "debye_temperature": "Debye temperature θ<sub>D</sub>",
}
_FONT = {"family": "Inter, 'Segoe UI', Helvetica, Arial, sans-serif", "size": 13, "color": "#1f2933"}
_GRID = "#e4e7eb"
_SAMPLE_COLOUR = "#3e4c59"
_DFT_COLOUR = "#d64545"


def _axis(title: str, *, log: bool = False, **extra: Any) -> dict:
    axis = {
        "title": {"text": title},
        "type": "log" if log else "linear",
        "gridcolor": _GRID,
        "zeroline": False,
        "linecolor": "#9aa5b1",
        "mirror": True,
        "ticks": "outside",
        "showline": True,
    }
    axis.update(extra)
    if log and "range" in axis:
        axis.update(log_ticks(10 ** axis["range"][0], 10 ** axis["range"][1]))
    elif log:
        axis["dtick"] = "D2"
    return axis


def log_ticks(lo: float, hi: float) -> dict:
    """Tick values and plain-number labels for a log axis from ``lo`` to ``hi``: 1, 2, 5 per decade
    (1 and 3 beyond three decades, 1 beyond six), so labels read "20, 50, 100" and never run together."""
    decades = math.log10(hi / lo)
    mantissas = (1, 2, 5) if decades <= 3 else (1, 3) if decades <= 6 else (1,)
    values = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in mantissas]
    values = [v for v in values if lo <= v <= hi]
    return {"tickmode": "array", "tickvals": values, "ticktext": [f"{v:g}" for v in values]}


def _layout(title: str, **extra: Any) -> dict:
    layout = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        "font": _FONT,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
        "hovermode": "closest",
        "legend": {"bgcolor": "rgba(255,255,255,0.85)", "bordercolor": _GRID, "borderwidth": 1},
    }
    layout.update(extra)
    return layout


def _list(values: np.ndarray, digits: int = 4) -> list:
    """Floats for JSON: rounded to ``digits`` significant digits, NaN/inf as None."""
    out = []
    for v in np.asarray(values, dtype=np.float64).tolist():
        out.append(float(f"{v:.{digits}g}") if math.isfinite(v) else None)
    return out


def _esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def _fmt(value: float, unit: str = "", std: float | None = None) -> str:
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if std is not None and math.isfinite(std):
        text += f" ± {std:.2g}"
    return f"{text} {unit}".rstrip()


def hover_texts(data: ReportData, rows: np.ndarray) -> list[str]:
    """One hover box per row: formula, name, id, file, every prediction with its spread, derived columns, OOD."""
    c = data.columns
    texts = []
    for i in rows.tolist():
        lines = [
            f"<b>{_esc(c['formula'][i] or '?')}</b>  {_esc(c['name'][i] or '')}",
            f"id {_esc(str(c['id'][i])[:12])}…",
            f"file {_esc(c['path'][i] or '')}",
        ]
        for target in TARGETS:
            lines.append(
                f"{LABELS[target.name].split(' θ')[0]}: {_fmt(c[target.name][i], target.unit, c[target.name + '_std'][i])}"
            )
        lines.append(
            f"K/G {_fmt(c['pugh_ratio'][i])} · ν {_fmt(c['poisson_ratio'][i])} · H<sub>v</sub> {_fmt(c['vickers_hardness'][i], 'GPa')}"
        )
        lines.append(f"OOD score {_fmt(c['ood_score'][i])}")
        texts.append("<br>".join(lines))
    return texts


def scatter_sample(data: ReportData, usable: np.ndarray, *, config: ReportConfig) -> tuple[np.ndarray, bool]:
    """Rows drawn as points: all usable rows, or ``max_points`` of them (candidates always in).

    Returns:
        (row indices, whether the set was downsampled).
    """
    rows = np.flatnonzero(usable)
    if len(rows) <= config.max_points:
        return rows, False
    keep: set[int] = set(data.dft_next.tolist())
    position = {value: index for index, value in reversed(list(enumerate(data.columns["id"])))}
    for ranking in data.rankings:
        keep.update(position[r["id"]] for r in ranking.rows if r.get("id") in position)
    keep = {i for i in keep if usable[i]}
    rest = np.setdiff1d(rows, np.fromiter(keep, np.int64, len(keep)))
    rng = np.random.default_rng(config.seed)
    extra = rng.choice(rest, size=max(0, config.max_points - len(keep)), replace=False)
    return np.sort(np.concatenate([np.fromiter(keep, np.int64, len(keep)), extra])), True


def _density_trace(x: np.ndarray, y: np.ndarray, *, bins: int, log_x: bool, log_y: bool, name: str) -> dict:
    """A grey 2D histogram of all rows (counts per cell on a log scale), as a heatmap in data coordinates."""
    fx = np.log10(x) if log_x else x
    fy = np.log10(y) if log_y else y
    counts, ex, ey = np.histogram2d(fx, fy, bins=bins)
    cx, cy = (ex[:-1] + ex[1:]) / 2, (ey[:-1] + ey[1:]) / 2
    z = np.where(counts > 0, np.log10(np.maximum(counts, 1)) + 0.3, np.nan).T
    return {
        "type": "heatmap",
        "x": _list(10**cx if log_x else cx),
        "y": _list(10**cy if log_y else cy),
        "z": [_list(row, 3) for row in z],
        "colorscale": [[0, "#f0f2f5"], [1, "#7b8794"]],
        "showscale": False,
        "hoverinfo": "skip",
        "name": name,
        "showlegend": True,
        "zsmooth": False,
    }


def ashby_figure(data: ReportData, *, config: ReportConfig = ReportConfig()) -> dict:
    """Shear against bulk modulus on log axes, coloured by formation energy, with the Pugh line and hardness contours."""
    c = data.columns
    k, g = c["bulk_modulus"], c["shear_modulus"]
    usable = np.isfinite(k) & np.isfinite(g) & (k > 0) & (g > 0)
    traces: list[dict] = []
    if not usable.any():
        return {"data": [], "layout": _layout("Shear vs bulk modulus: no predictions with K and G")}
    lo = min(np.nanmin(k[usable]), np.nanmin(g[usable])) / 1.5
    hi = max(np.nanmax(k[usable]), np.nanmax(g[usable])) * 1.5
    lo, hi = max(lo, 0.1), max(hi, 1.0)
    rows, sampled = scatter_sample(data, usable, config=config)
    if sampled:
        traces.append(
            _density_trace(k[usable], g[usable], bins=config.density_bins, log_x=True, log_y=True,
                           name=f"all {int(usable.sum()):,} materials (density)")
        )
    grid_k = np.geomspace(lo, hi, 120)
    traces.append(
        {
            "type": "scatter", "mode": "lines", "x": _list(grid_k), "y": _list(grid_k / PUGH_RATIO),
            "line": {"color": "#1f2933", "width": 1.6, "dash": "dash"},
            "name": f"Pugh K/G = {PUGH_RATIO} (ductile below, brittle above)", "hoverinfo": "skip",
        }
    )
    for hv in HARDNESS_CONTOURS:
        contour_g = grid_k ** (2 / 3) * ((hv + 3) / 2) ** (1 / 1.755)
        inside = (contour_g >= lo) & (contour_g <= hi)
        traces.append(
            {
                "type": "scatter", "mode": "lines", "x": _list(grid_k[inside]), "y": _list(contour_g[inside]),
                "line": {"color": "#9b6b9e", "width": 1, "dash": "dot"},
                "name": "Chen H<sub>v</sub> contours (GPa)", "legendgroup": "chen", "showlegend": hv == HARDNESS_CONTOURS[0],
                "hoverinfo": "skip",
            }
        )
    ef = c["formation_energy"][rows]
    finite = ef[np.isfinite(ef)]
    span = float(np.nanpercentile(np.abs(finite), 98)) if len(finite) else 1.0
    label = f"{len(rows):,} materials" + (f" (a sample of {int(usable.sum()):,}; ranked and DFT-next always in)" if sampled else "")
    traces.append(
        {
            "type": "scattergl" if len(rows) > 1500 else "scatter",
            "mode": "markers",
            "x": _list(k[rows]),
            "y": _list(g[rows]),
            "text": hover_texts(data, rows),
            "hovertemplate": "%{text}<extra></extra>",
            "name": label,
            "marker": {
                "size": 9 if len(rows) <= 500 else 6,
                "color": [v if v is not None else 0.0 for v in _list(ef)],
                "colorscale": "RdBu",
                "cmin": -max(span, 0.05),
                "cmax": max(span, 0.05),
                "line": {"width": 0.5, "color": "rgba(30,30,30,0.55)"},
                "colorbar": {"title": {"text": "E<sub>f</sub> (eV/atom)", "side": "right"}, "thickness": 14, "len": 0.8, "x": 1.02},
            },
        }
    )
    # hardness labels at the right edge of each contour
    annotations = []
    for hv in HARDNESS_CONTOURS:
        gk = hi / 1.15
        gg = gk ** (2 / 3) * ((hv + 3) / 2) ** (1 / 1.755)
        if lo < gg < hi:
            annotations.append(
                {"x": math.log10(gk), "y": math.log10(gg), "text": f"H<sub>v</sub> {hv:g}", "showarrow": False,
                 "font": {"size": 11, "color": "#7c4d80"}, "xanchor": "right", "yanchor": "bottom"}
            )
    axis_range = [math.log10(lo), math.log10(hi)]
    layout = _layout(
        "Shear vs bulk modulus (predicted)",
        xaxis=_axis("bulk modulus K (GPa)", log=True, range=axis_range),
        yaxis=_axis("shear modulus G (GPa)", log=True, range=axis_range),
        annotations=annotations,
        legend={"x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top", "bgcolor": "rgba(255,255,255,0.85)",
                "bordercolor": _GRID, "borderwidth": 1, "font": {"size": 11}},
        # a fixed square plot area (530 × 530 px): equal decades on both axes, as on an Ashby chart
        width=ASHBY_SIZE[0], height=ASHBY_SIZE[1], autosize=False, margin={"l": 70, "r": 100, "t": 50, "b": 60},
    )
    return {"data": traces, "layout": layout}


def distribution_figures(data: ReportData, *, config: ReportConfig = ReportConfig()) -> list[tuple[str, dict]]:
    """One histogram per target (log-spaced bins for the moduli and Debye temperature), median marked."""
    figures = []
    for target in TARGETS:
        values = data.columns[target.name]
        values = values[np.isfinite(values)]
        log = target.log10
        if log:
            values = values[values > 0]
        if len(values) == 0:
            continue
        bins = int(np.clip(2 * math.sqrt(len(values)), 8, config.histogram_bins))
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            hi = lo * 1.1 + 1e-9 if not log else lo * 1.1
        edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
        counts, _ = np.histogram(values, bins=edges)
        centres = np.sqrt(edges[:-1] * edges[1:]) if log else (edges[:-1] + edges[1:]) / 2
        median = float(np.median(values))
        trace = {
            "type": "bar", "x": _list(centres), "y": counts.tolist(), "width": _list(np.diff(edges)),
            "marker": {"color": "#52606d", "line": {"width": 0}},
            "hovertemplate": f"%{{x:.3g}} {target.unit}: %{{y}} materials<extra></extra>", "name": target.name,
        }
        layout = _layout(
            f"{LABELS[target.name]}<br><span style='font-size:12px;color:#616e7c'>median {median:.3g} {target.unit} (dashed), n = {len(values):,}</span>",
            xaxis=_axis(f"{LABELS[target.name]} ({target.unit})", log=log,
                        **({"range": [math.log10(edges[0]), math.log10(edges[-1])]} if log else {})),
            yaxis=_axis("materials"),
            shapes=[{"type": "line", "x0": median, "x1": median, "yref": "paper", "y0": 0, "y1": 1,
                     "line": {"color": _DFT_COLOUR, "width": 1.5, "dash": "dash"}}],
            showlegend=False, bargap=0.05, height=310, margin={"l": 60, "r": 15, "t": 62, "b": 55},
        )
        figures.append((target.name, {"data": [trace], "layout": layout}))
    return figures


def relative_spread(data: ReportData) -> np.ndarray:
    """Largest std/value over K, G, E and θ_D per row (as the ``uncertain`` query computes it)."""
    c = data.columns
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.stack(
            [c[f"{t}_std"] / np.abs(c[t]) for t in ("bulk_modulus", "shear_modulus", "youngs_modulus", "debye_temperature")]
        )
    ratios[~np.isfinite(ratios)] = np.nan
    out = np.full(ratios.shape[1], np.nan)
    have = ~np.all(np.isnan(ratios), axis=0)
    out[have] = np.nanmax(ratios[:, have], axis=0)
    return out


def uncertainty_figure(data: ReportData, *, config: ReportConfig = ReportConfig()) -> dict:
    """Largest relative spread of the moduli and θ_D against the OOD score; DFT-next rows marked."""
    ood = data.columns["ood_score"]
    spread = relative_spread(data) * 100.0
    usable = np.isfinite(ood) & np.isfinite(spread) & (ood > 0) & (spread > 0)
    if not usable.any():
        return {"data": [], "layout": _layout("Uncertainty vs OOD score: no rows with both")}
    rows, sampled = scatter_sample(data, usable, config=config)
    traces: list[dict] = []
    if sampled:
        traces.append(_density_trace(ood[usable], spread[usable], bins=config.density_bins, log_x=True, log_y=True,
                                     name=f"all {int(usable.sum()):,} materials (density)"))
    dft = set(data.dft_next.tolist())
    plain = np.array([r for r in rows if r not in dft], dtype=np.int64)
    marked = np.array([r for r in data.dft_next.tolist() if usable[r]], dtype=np.int64)
    for subset, name, marker in (
        (plain, "screened materials", {"size": 7 if len(rows) <= 500 else 5, "color": _SAMPLE_COLOUR, "opacity": 0.55}),
        (marked, f"send to DFT next (top {len(marked)} of <i>uncertain</i>)",
         {"size": 12, "color": _DFT_COLOUR, "symbol": "diamond", "line": {"width": 1, "color": "#1f2933"}}),
    ):
        if len(subset) == 0:
            continue
        traces.append(
            {
                "type": "scattergl" if len(subset) > 1500 else "scatter", "mode": "markers",
                "x": _list(ood[subset]), "y": _list(spread[subset]), "text": hover_texts(data, subset),
                "hovertemplate": "%{text}<extra></extra>", "name": name, "marker": marker,
            }
        )
    x_lo, x_hi = float(np.nanmin(ood[usable])), float(np.nanmax(ood[usable]))
    y_lo, y_hi = float(np.nanmin(spread[usable])), float(np.nanmax(spread[usable]))
    shapes = [
        {"type": "line", "x0": 1, "x1": 1, "yref": "paper", "y0": 0, "y1": 1, "line": {"color": "#9aa5b1", "dash": "dash"}},
        {"type": "line", "y0": 20, "y1": 20, "xref": "paper", "x0": 0, "x1": 1, "line": {"color": "#9aa5b1", "dash": "dash"}},
    ]
    layout = _layout(
        "Uncertainty vs out-of-distribution score",
        xaxis=_axis("OOD score (reconstruction error / training 95th percentile)", log=True,
                    range=[math.log10(min(x_lo, 0.9) / 1.2), math.log10(max(x_hi, 1.1) * 1.2)]),
        yaxis=_axis("largest relative spread of K, G, E, θ<sub>D</sub> (%)", log=True,
                    range=[math.log10(min(y_lo, 18) / 1.2), math.log10(max(y_hi, 22) * 1.2)]),
        shapes=shapes,
        annotations=[
            {"x": 0, "y": 1, "xref": "x", "yref": "paper", "text": "OOD = 1", "showarrow": False, "xanchor": "left",
             "yanchor": "top", "font": {"size": 11, "color": "#616e7c"}},
            {"x": 1, "y": math.log10(20), "xref": "paper", "yref": "y", "text": "20% spread", "showarrow": False,
             "xanchor": "right", "yanchor": "bottom", "font": {"size": 11, "color": "#616e7c"}},
        ],
        legend={"x": 0.01, "y": 0.99, "xanchor": "left", "yanchor": "top", "bgcolor": "rgba(255,255,255,0.85)",
                "bordercolor": _GRID, "borderwidth": 1, "font": {"size": 11}},
        height=460,
    )
    return {"data": traces, "layout": layout}


def target_unit(name: str) -> str:
    """Unit of a predictions column, for table headers ('' when it has none)."""
    if name in TARGETS_BY_NAME:
        return TARGETS_BY_NAME[name].unit
    base = name.removesuffix("_std")
    if base in TARGETS_BY_NAME:
        return TARGETS_BY_NAME[base].unit
    return {"vickers_hardness": "GPa", "volume": "Å³", "density": "g/cm³"}.get(name, "")
