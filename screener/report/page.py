"""The report page: one self-contained HTML file (plotly.js, data, CSS and the table script inline).

Why plotly.js: it is already installed (pymatgen depends on plotly), it draws log axes, colour
bars, WebGL scatters of many thousands of points and rich hover boxes, and its minified bundle
(about 4.7 MB) can be written into the page, so the file opens offline, from a mail attachment or a
shared drive, with nothing fetched. Figures are built as plain JSON (:mod:`.figures`), not through
plotly's Python objects, which keeps 100,000 rows to a second or two.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ReportConfig
from ..targets import TARGETS
from .data import DFT_NEXT_QUERY, Ranking, ReportData, load_report_data
from .figures import LABELS, ashby_figure, distribution_figures, target_unit, uncertainty_figure

__all__ = ["render_report", "write_report"]

_CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --accent:#2f6fab; --bad:#d64545; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 Inter, 'Segoe UI', Helvetica, Arial, sans-serif; color:var(--ink); background:#f5f7fa; }
header { background:#1f2933; color:white; padding:18px 32px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header p { margin:4px 0 0; color:#cbd2d9; font-size:13px; }
main { max-width:1280px; margin:0 auto; padding:20px 24px 60px; }
section { background:white; border:1px solid var(--line); border-radius:8px; padding:18px 22px; margin:18px 0; }
h2 { font-size:18px; margin:0 0 10px; }
h3 { font-size:15px; margin:18px 0 6px; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px; margin:6px 0 12px; }
.kpi { border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
.kpi b { display:block; font-size:22px; }
.kpi span { color:var(--muted); font-size:12px; }
.kpi.bad b { color:var(--bad); }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:14px; }
.grid3 { display:grid; grid-template-columns:repeat(3, 1fr); gap:10px; }
@media (max-width: 1000px) { .grid2, .grid3 { grid-template-columns:1fr; } }
.note { color:var(--muted); font-size:12.5px; }
table { border-collapse:collapse; width:100%; font-size:12.5px; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor:pointer; user-select:none; background:#f5f7fa; position:sticky; top:0; }
table.sortable th:after { content:' \\2195'; color:#9aa5b1; font-size:11px; }
table.sortable th.asc:after { content:' \\2191'; color:var(--ink); }
table.sortable th.desc:after { content:' \\2193'; color:var(--ink); }
.scroll { overflow-x:auto; max-height:460px; overflow-y:auto; }
code, pre { font-family: 'JetBrains Mono', Menlo, Consolas, monospace; font-size:12px; background:#f5f7fa; padding:1px 4px; border-radius:3px; }
pre { padding:8px 10px; white-space:pre-wrap; word-break:break-all; margin:6px 0; }
details summary { cursor:pointer; color:var(--accent); }
.chart { width:100%; }
.ashby-row { display:grid; grid-template-columns:720px 1fr; gap:18px; align-items:start; }
@media (max-width: 1100px) { .ashby-row { grid-template-columns:1fr; } }
#js-errors { display:none; background:#fde8e8; color:#8a1c1c; padding:10px 32px; }
"""

# Sort a table by a clicked header (numbers numerically, NULLs last); report script errors on the page.
_SCRIPT = """
window.__reportErrors = [];
window.addEventListener('error', function (e) {
  window.__reportErrors.push(String(e.message));
  var box = document.getElementById('js-errors');
  if (box) { box.style.display = 'block'; box.textContent = 'Script error: ' + window.__reportErrors.join('; '); }
});
function sortTable(th) {
  var table = th.closest('table'), body = table.tBodies[0], index = Array.prototype.indexOf.call(th.parentNode.children, th);
  var asc = !th.classList.contains('asc');
  Array.prototype.forEach.call(th.parentNode.children, function (h) { h.classList.remove('asc', 'desc'); });
  th.classList.add(asc ? 'asc' : 'desc');
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[index].getAttribute('data-v'), y = b.cells[index].getAttribute('data-v');
    if (x === '' && y === '') return 0; if (x === '') return 1; if (y === '') return -1;
    var nx = parseFloat(x), ny = parseFloat(y), c;
    if (!isNaN(nx) && !isNaN(ny) && isFinite(x) && isFinite(y)) c = nx - ny; else c = x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
}
function drawCharts() {
  var figures = JSON.parse(document.getElementById('figures').textContent);
  var drawn = 0;
  Object.keys(figures).forEach(function (id) {
    var el = document.getElementById(id);
    if (!el) return;
    var fig = figures[id];
    Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false,
      displayModeBar: id.indexOf('dist-') === 0 ? false : 'hover',
      toImageButtonOptions: {format: 'svg', filename: id}});
    drawn += 1;
  });
  document.body.setAttribute('data-charts-drawn', String(drawn));
}
document.addEventListener('DOMContentLoaded', drawCharts);
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.1f}"


def _kpi(value: str, label: str, *, bad: bool = False) -> str:
    return f'<div class="kpi{" bad" if bad else ""}"><b>{value}</b><span>{_esc(label)}</span></div>'


def _summary_section(data: ReportData) -> str:
    runs = data.runs
    discovered = sum(r.counts.get("discovered", 0) for r in runs)
    failed = sum(r.counts.get("failed", 0) for r in runs)
    duplicates = sum(r.counts.get("duplicates", 0) for r in runs)
    seconds = sum(r.seconds for r in runs)
    processed = sum(r.counts.get("predicted", 0) + r.counts.get("failed", 0) + r.counts.get("duplicates", 0) for r in runs)
    throughput = processed / seconds if seconds > 0 else float("nan")
    kpis = "".join(
        [
            _kpi(f"{discovered:,}" if runs else "–", "input files found"),
            _kpi(f"{data.n_rows:,}", f"predictions ({data.n_materials:,} distinct materials)"),
            _kpi(f"{failed:,}", "failed (see below)", bad=failed > 0),
            _kpi(f"{duplicates:,}", "duplicates (same bytes, predicted once)"),
            _kpi(f"{throughput:.2f}/s" if math.isfinite(throughput) else "–", f"files per second ({seconds:,.0f} s in {len(runs)} run{'s' if len(runs) != 1 else ''})"),
        ]
    )
    run_rows = "".join(
        f"<tr><td><code>{_esc(r.run_id)}</code></td><td>{_esc(r.started)}</td><td>{_esc(', '.join(r.inputs))}</td>"
        f"<td class=num>{r.counts.get('discovered', 0):,}</td><td class=num>{r.counts.get('predicted', 0):,}</td>"
        f"<td class=num>{r.counts.get('failed', 0):,}</td><td class=num>{r.counts.get('duplicates', 0):,}</td>"
        f"<td class=num>{r.counts.get('skipped_already_done', 0):,}</td><td class=num>{r.seconds:,.1f}</td>"
        f"<td class=num>{r.throughput:.2f}</td><td><code>{_esc(r.model_id)}</code></td>"
        f"<td>{_esc(r.replicas.get('predict', ''))} × {'GPU' if r.replicas.get('gpus') else 'CPU'}</td></tr>"
        for r in runs
    )
    runs_table = (
        "<h3>Runs</h3><div class=scroll><table><thead><tr><th>run</th><th>started (UTC)</th><th>inputs</th>"
        "<th class=num>found</th><th class=num>predicted</th><th class=num>failed</th><th class=num>duplicates</th>"
        "<th class=num>already done</th><th class=num>seconds</th><th class=num>files/s</th><th>model</th><th>replicas</th>"
        f"</tr></thead><tbody>{run_rows}</tbody></table></div>"
        if runs
        else "<p class=note>No manifest.json: these results carry no run records.</p>"
    )
    if data.errors:
        error_rows = "".join(
            f"<tr><td>{_esc(stage)}</td><td>{_esc(kind)}</td><td class=num>{n:,}</td><td>{_esc(msg)}</td>"
            f"<td><code>{_esc(path)}</code></td></tr>"
            for stage, kind, n, msg, path in data.errors
        )
        errors = (
            "<h3>Failed inputs by stage and reason (stage <i>duplicate</i>: same bytes as a predicted file, not a failure)</h3><div class=scroll><table><thead><tr><th>stage</th><th>error</th>"
            f"<th class=num>files</th><th>example message</th><th>example file</th></tr></thead><tbody>{error_rows}</tbody></table></div>"
            f"<p class=note>All of them: <code>screener query --results {_esc(' --results '.join(data.results))} "
            "my_errors.sql</code> over the <code>errors</code> view, or read <code>errors/*.parquet</code>.</p>"
        )
    else:
        errors = "<p class=note>No input failed.</p>"
    return f"<section id=summary><h2>Run summary</h2><div class=kpis>{kpis}</div>{runs_table}{errors}{_models_block(data)}</section>"


def _models_block(data: ReportData) -> str:
    blocks = []
    for model_id, manifest in data.models.items():
        info = manifest.get("info", {}) if manifest else {}
        if not manifest:
            blocks.append(f"<h3>Model <code>{_esc(model_id)}</code></h3><p class=note>The run's bundle folder is gone or now holds another model; "
                          "nothing more is known here.</p>")
            continue
        training = info.get("training_data", {})
        splits = training.get("split_sizes", {})
        labels = training.get("labels_per_target", {})
        metrics = (info.get("metrics") or {}).get("test") or (info.get("metrics") or {}).get("val") or {}
        which = "test" if (info.get("metrics") or {}).get("test") else "validation"
        metric_rows = ""
        for target in TARGETS:
            blend = (metrics.get(target.name) or {}).get("blend") or {}
            if not blend:
                continue
            ci = (blend.get("ci") or {}).get("r2") or [float("nan"), float("nan")]
            metric_rows += (
                f"<tr><td>{LABELS[target.name]}</td><td class=num>{blend.get('n', '')}</td>"
                f"<td class=num>{_num(blend.get('r2', float('nan')))} [{_num(ci[0])}, {_num(ci[1])}]</td>"
                f"<td class=num>{_num(blend.get('mae', float('nan')))} {target.unit}</td></tr>"
            )
        trained = ", ".join(f"{k} {v:,}" for k, v in splits.items()) or "unknown"
        labelled = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in labels.items())
        blocks.append(
            f"<h3>Model <code>{_esc(model_id)}</code></h3>"
            f"<p>{_esc(info.get('data_description', 'No description of the training data in the bundle.'))}</p>"
            f"<p class=note>Grid {manifest.get('grid', '?')}³, latent {manifest.get('latent_shape', '?')}, "
            f"made {_esc(manifest.get('created_at', '?'))} by screener {_esc(manifest.get('screener_version', '?'))}. "
            f"Densities: {training.get('n_densities', '?'):,} ({trained}); labels per target: {_esc(labelled or 'unknown')}.</p>"
            + (
                f"<table style='width:auto'><thead><tr><th>target</th><th class=num>n</th><th class=num>{which} R² [95% CI]</th>"
                f"<th class=num>{which} MAE</th></tr></thead><tbody>{metric_rows}</tbody></table>"
                if metric_rows
                else ""
            )
        )
    return "".join(blocks)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "<td class=num data-v=''>–</td>"
    if isinstance(value, bool):
        return f"<td data-v='{int(value)}'>{str(value).lower()}</td>"
    if isinstance(value, (int, float)):
        number = float(value)
        shown = _num(value) if isinstance(value, float) else f"{value:,}"
        return f"<td class=num data-v='{number!r}'>{shown}</td>" if math.isfinite(number) else "<td class=num data-v=''>–</td>"
    text = str(value)
    if column == "id":
        return f"<td data-v='{_esc(text)}' title='{_esc(text)}'><code>{_esc(text[:12])}…</code></td>"
    if column == "run_id":
        return f"<td data-v='{_esc(text)}'><code>{_esc(text)}</code></td>"
    return f"<td data-v='{_esc(text)}'>{_esc(text)}</td>"


def _ranking_section(ranking: Ranking) -> str:
    spec = ranking.spec
    defaults = ", ".join(f"{p.name} = {p.default_text()}" for p in spec.params) or "none"
    header = "".join(
        f"<th class=num onclick='sortTable(this)'>{_esc(c)}{(' (' + target_unit(c) + ')') if target_unit(c) else ''}</th>"
        if any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in ranking.rows)
        else f"<th onclick='sortTable(this)'>{_esc(c)}</th>"
        for c in ranking.columns
    )
    rows = "".join("<tr>" + "".join(_cell(c, r.get(c)) for c in ranking.columns) + "</tr>" for r in ranking.rows)
    shown = f"top {len(ranking.rows)} of {ranking.total:,}" if ranking.rows else "no rows pass its thresholds"
    table = (
        f"<div class=scroll><table class=sortable><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>"
        if ranking.rows
        else ""
    )
    dft = " These rows are the red diamonds in the uncertainty chart." if spec.name == DFT_NEXT_QUERY else ""
    return (
        f"<h3 id='q-{_esc(spec.name)}'>{_esc(spec.name)} <span class=note>({shown})</span></h3>"
        f"<p>{_esc(spec.description)}{dft}</p>{table}"
        f"<p class=note>Parameters (defaults used here): {_esc(defaults)}. Reproduce, or change a threshold with "
        f"<code>--param NAME=VALUE</code>:</p><pre>{_esc(ranking.command)}</pre>"
        f"<details><summary>the physics behind the thresholds</summary><pre>{_esc(spec.notes)}</pre></details>"
    )


def _stiffness_facts(data: ReportData) -> str:
    """A few counts beside the Ashby chart: how many materials fall where."""
    c = data.columns
    have = (c["bulk_modulus"] > 0) & (c["shear_modulus"] > 0)
    n = int(have.sum())
    if n == 0:
        return ""
    ductile = int((c["pugh_ratio"][have] > 1.75).sum())
    stable = int((c["formation_energy"][have] < 0).sum())
    hard = int((c["vickers_hardness"][have] >= 20).sum())
    superhard = int((c["vickers_hardness"][have] >= 40).sum())
    ood = int((c["ood_score"][have] > 1).sum())
    items = [
        (ductile, "ductile by Pugh's criterion (K/G &gt; 1.75)"),
        (stable, "with formation energy below 0 eV/atom (below their elements; not a hull check)"),
        (hard, "with Chen hardness ≥ 20 GPa"),
        (superhard, "superhard (≥ 40 GPa)"),
        (ood, "out of distribution (OOD score &gt; 1): trust these predictions less"),
    ]
    rows = "".join(f"<tr><td class=num><b>{k:,}</b></td><td class=num>{100 * k / n:.0f}%</td><td>{text}</td></tr>" for k, text in items)
    return f"<h3>Of {n:,} materials</h3><table style='width:auto'><tbody>{rows}</tbody></table>"


def render_report(data: ReportData, *, config: ReportConfig = ReportConfig()) -> str:
    """The whole page as one HTML string."""
    from plotly.offline import get_plotlyjs

    figures: dict[str, dict] = {"ashby": ashby_figure(data, config=config), "uncertainty": uncertainty_figure(data, config=config)}
    distributions = distribution_figures(data, config=config)
    for name, figure in distributions:
        figures[f"dist-{name}"] = figure
    payload = json.dumps(figures, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sources = ", ".join(data.results)
    ashby_note = (
        "Each point is one predicted material (hover for every prediction with its one-sigma spread and the OOD "
        "score); colour is the predicted formation energy. Below the dashed Pugh line (K/G &gt; 1.75) materials "
        "tend to be ductile, above it brittle. Dotted: Chen's hardness H<sub>v</sub> = 2(k²G)<sup>0.585</sup> − 3, "
        "k = G/K, at 5, 10, 20 and 40 GPa (40 GPa: superhard)."
    )
    if data.n_rows > config.max_points:
        ashby_note += (
            f" With {data.n_rows:,} rows the points are a random sample of {config.max_points:,} (every ranked "
            "candidate and DFT-next material included) over a grey density of all rows."
        )
    dist_divs = "".join(f"<div id='dist-{name}' class=chart></div>" for name, _ in distributions)
    rankings = "".join(_ranking_section(r) for r in data.rankings)
    body = f"""
<header><h1>Screening report</h1>
<p>{_esc(sources)} · {data.n_rows:,} predictions · written {created} by screener {_esc(__version__)}</p></header>
<div id=js-errors></div>
<main>
{_summary_section(data)}
<section id=ashby-section><h2>Stiffness map</h2><div class=ashby-row><div id=ashby></div>
<div><p>{ashby_note}</p>{_stiffness_facts(data)}</div></div></section>
<section id=distributions><h2>Distributions of the predictions</h2>
<p class=note>Blended predictions (LightGBM + attention CNN) of every row; dashed: the median. Moduli and θ<sub>D</sub>
on log axes (the models learn them in log10). E and θ<sub>D</sub> are predicted directly; their training labels were
partly derived from K, G and the structure (see the model above).</p><div class=grid3>{dist_divs}</div></section>
<section id=uncertainty-section><h2>What to send to DFT next</h2>
<p class=note>The largest relative one-sigma spread of K, G, E and θ<sub>D</sub> against the OOD score (above 1:
less familiar than 95% of the training densities). Dashed lines: the <code>uncertain</code> query's default
thresholds. Red diamonds: its top {len(data.dft_next)} rows, the most informative next DFT calculations (a diamond
inside both thresholds is there for the spread of its formation energy, which this chart does not show).</p>
<div id=uncertainty class=chart></div></section>
<section id=rankings><h2>Top candidates</h2>
<p class=note>Each shipped ranking query over these results (click a column to sort). Predictions are screening
estimates with the spreads shown; confirm candidates with DFT.</p>{rankings}</section>
<p class=note>Self-contained page: plotly.js {_esc(_plotly_version())} and all data are inside this file; it fetches nothing.</p>
</main>"""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Screening report: {_esc(sources)}</title><style>{_CSS}</style>"
        f"<script>{_SCRIPT}</script>"
        f"<script>{get_plotlyjs()}</script>"
        f"<script type='application/json' id=figures>{payload}</script>"
        f"</head><body>{body}</body></html>\n"
    )


def _plotly_version() -> str:
    try:
        from importlib.metadata import version

        return version("plotly")
    except Exception:  # noqa: BLE001 - only shown on the page
        return "?"


def write_report(
    results_dirs: list[str | Path], out: str | Path, *, config: ReportConfig = ReportConfig()
) -> tuple[Path, int, float]:
    """Write the report of ``results_dirs`` to ``out`` (atomically).

    Returns:
        (path, size in bytes, seconds taken).

    Raises:
        ConfigError: a missing or malformed results directory.
    """
    start = time.perf_counter()
    data = load_report_data(results_dirs, config=config)
    text = render_report(data, config=config)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path, path.stat().st_size, time.perf_counter() - start
