"""``screener report`` on fixture result sets: contents, physics of the overlays, offline, size and speed."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from screener import physics
from screener.cli.main import cli
from screener.config import ReportConfig
from screener.report.data import load_report_data, ranking_queries
from screener.report.figures import HARDNESS_CONTOURS, PUGH_RATIO
from screener.report.page import render_report, write_report

from .report_fixtures import ERRORS, demo_model_id, figures_of, write_fixture


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("small") / "results", 50)


@pytest.fixture(scope="module")
def small_page(small: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("page") / "report.html"
    write_report([small], out)
    return out.read_text(encoding="utf-8")


def test_summary_names_counts_errors_and_model(small_page: str) -> None:
    assert "Run summary" in small_page
    assert "20260101T000000-fixture" in small_page
    assert "gzip stream is corrupt" in small_page  # one example message per stage and error type
    for stage, kind, _ in ERRORS:
        assert f"<td>{stage}</td><td>{kind}</td>" in small_page
    assert "<td>read</td><td>InputError</td><td class=num>2</td>" in small_page
    assert demo_model_id() in small_page
    assert "de Jong" in small_page  # what the model was trained on, from the bundle's manifest
    assert "test R²" in small_page
    assert "53" in small_page and ">50<" in small_page  # found, predicted


def test_every_ranking_query_has_a_table_and_its_command(small: Path, small_page: str) -> None:
    names = [spec.name for spec in ranking_queries()]
    assert {"stiffest_stable", "superhard", "ductile_stiff", "high_debye", "uncertain"} <= set(names)
    assert "similar_to" not in names and "run_summary" not in names
    for name in names:
        assert f"id='q-{name}'" in small_page
        assert f"screener query {name} --results {small} --limit 15" in small_page
    assert small_page.count("<table class=sortable>") >= 4
    assert "onclick='sortTable(this)'" in small_page


def test_ashby_chart_points_pugh_line_and_hardness_contours(small_page: str) -> None:
    figure = figures_of(small_page)["ashby"]
    assert figure["layout"]["xaxis"]["type"] == figure["layout"]["yaxis"]["type"] == "log"
    assert figure["layout"]["xaxis"]["range"] == figure["layout"]["yaxis"]["range"]
    points = [t for t in figure["data"] if t.get("mode") == "markers"]
    assert len(points) == 1 and len(points[0]["x"]) == 50
    hover = points[0]["text"][0]
    for word in ("id ", "file ", "bulk modulus", "shear modulus", "Young", "formation energy", "Debye", "±", "OOD score"):
        assert word in hover
    assert "eV/atom" in points[0]["marker"]["colorbar"]["title"]["text"]
    pugh = next(t for t in figure["data"] if t.get("name", "").startswith("Pugh"))
    np.testing.assert_allclose(np.array(pugh["x"]) / np.array(pugh["y"]), PUGH_RATIO, rtol=1e-3)
    contours = [t for t in figure["data"] if t.get("legendgroup") == "chen"]
    assert len(contours) == len(HARDNESS_CONTOURS)
    for hv, trace in zip(HARDNESS_CONTOURS, contours):
        k, g = np.array(trace["x"]), np.array(trace["y"])
        np.testing.assert_allclose(physics.vickers_hardness(k, g), hv, rtol=2e-3)


def test_distributions_and_uncertainty_with_dft_next(small: Path, small_page: str) -> None:
    figures = figures_of(small_page)
    for target in ("bulk_modulus", "shear_modulus", "youngs_modulus", "formation_energy", "debye_temperature"):
        bars = figures[f"dist-{target}"]["data"][0]
        assert sum(bars["y"]) == 50
    assert figures["dist-bulk_modulus"]["layout"]["xaxis"]["type"] == "log"
    assert figures["dist-formation_energy"]["layout"]["xaxis"]["type"] == "linear"
    data = load_report_data([small])
    marked = next(t for t in figures["uncertainty"]["data"] if "DFT next" in t["name"])
    assert 0 < len(marked["x"]) == len(data.dft_next) <= ReportConfig().dft_next


def test_offline_no_remote_script_or_link(small_page: str) -> None:
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", small_page, re.I)
    assert tags and not [t for t in tags if "http" in t.lower() or "src=" in t.lower() or "href=" in t.lower()]
    assert "Plotly.newPlot" in small_page and "cdn.plot.ly/plotly" not in small_page.split("<script>", 2)[1][:200]


def test_large_run_is_sampled_small_and_fast(tmp_path: Path) -> None:
    results = write_fixture(tmp_path / "big", 100_000, seed=1)
    start = time.perf_counter()
    path, size, _ = write_report([results], tmp_path / "big.html")
    seconds = time.perf_counter() - start
    assert size < 20e6, f"{size / 1e6:.1f} MB"
    assert seconds < 60, f"{seconds:.1f} s"  # about 3 s on a quiet 2-core machine
    figure = figures_of(path.read_text(encoding="utf-8"))["ashby"]
    assert any(t["type"] == "heatmap" for t in figure["data"])  # a density of all rows behind the sample
    points = next(t for t in figure["data"] if t.get("mode") == "markers")
    assert len(points["x"]) <= ReportConfig().max_points and points["type"] == "scattergl"
    assert "100,000" in points["name"] or "100,000" in json.dumps(figure)


def test_cli_writes_the_page_and_refuses_a_missing_folder(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--results", str(small), "--out", str(out), "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and out.stat().st_size > 1e6
    result = CliRunner().invoke(cli, ["report", "--results", str(tmp_path / "nope"), "--out", str(out)])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_render_escapes_names(small: Path) -> None:
    data = load_report_data([small])
    data.columns["formula"][0] = "<script>alert(1)</script>"
    page = render_report(data)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # hover text and tables both escape it
