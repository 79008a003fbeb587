"""``screener query`` and :mod:`screener.query` on a fixture results set with known values.

Expected rows are computed from :mod:`query_fixtures`' records and from each query's own
header defaults, never copied from a query's output.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from screener.cli.main import cli
from screener.errors import ConfigError
from screener.query.export import EXPORT_FORMATS
from screener.query.params import list_queries, load_query, parse_query
from screener.query.views import connect, execute_query, run_query
from screener.screening.schema import ERRORS_SCHEMA, LATENTS_SCHEMA, PREDICTIONS_SCHEMA

from .query_fixtures import (
    ERRORS,
    MATERIALS,
    OLD_MISSING_COLUMNS,
    RUN_A,
    RUN_B,
    Material,
    materials,
    write_results,
)

SHIPPED = ("stiffest_stable", "superhard", "ductile_stiff", "high_debye", "uncertain", "similar_to", "run_summary")
INJECTION = "x'; DROP TABLE predictions; --"


# --------------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"run_a": dir, "run_b": dir}`` written once for the module."""
    return write_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def both(results: dict[str, Path]) -> list[Path]:
    return [results["run_a"], results["run_b"]]


def defaults(name: str) -> dict[str, object]:
    """A shipped query's header defaults (the contract the tests check against)."""
    return {p.name: p.default for p in load_query(name).params}


def keys(table) -> list[tuple[str, str]]:  # noqa: ANN001 - a pyarrow Table
    """(id, run_id) of each result row, in order."""
    return list(zip(table.column("id").to_pylist(), table.column("run_id").to_pylist()))


def ranked(rows: list[Material], value) -> list[tuple[str, str]]:  # noqa: ANN001 - a key function
    """(id, run) sorted as the queries sort: value descending, then id, then run."""
    return [(m.id, m.run) for m in sorted(rows, key=lambda m: (-value(m), m.id, m.run))]


def invoke(*args: str):  # noqa: ANN201 - click Result
    result = CliRunner().invoke(cli, ["query", *args])
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


# --------------------------------------------------------------------------------------------------
# the shipped queries on the fixture
# --------------------------------------------------------------------------------------------------


def test_every_shipped_query_is_listed_and_declares_what_it_uses() -> None:
    specs = {spec.name: spec for spec in list_queries()}
    assert set(SHIPPED) <= set(specs)
    for spec in specs.values():
        assert spec.description, spec.name
        assert spec.notes, f"{spec.name}: the header should explain the physics of its thresholds"
        assert {p.name for p in spec.params} == spec.used, spec.name
        assert all(p.description for p in spec.params), spec.name
    assert [p.name for p in specs["similar_to"].params if p.required] == ["ref"]
    required = {s.name for s in specs.values() if any(p.required for p in s.params)}
    assert required == {"similar_to"}


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "similar_to"])
def test_every_shipped_query_runs_with_its_defaults_alone(name: str, both: list[Path]) -> None:
    table = run_query(name, both)
    assert table.num_rows > 0


def test_stiffest_stable(both: list[Path]) -> None:
    threshold = defaults("stiffest_stable")["max_formation_energy"]
    table = run_query("stiffest_stable", both)
    expected = ranked([m for m in MATERIALS if m.formation_energy < threshold], lambda m: m.bulk)
    assert keys(table) == expected
    assert 0 < len(expected) < len(MATERIALS)  # the filter bites, and elements (Ef = 0) are out
    assert table.column("bulk_modulus").to_pylist() == sorted(table.column("bulk_modulus").to_pylist(), reverse=True)


def test_stiffest_stable_with_parameters_and_limit(both: list[Path]) -> None:
    table = run_query("stiffest_stable", both, {"max_formation_energy": "-0.5", "max_ood_score": "1"}, limit=3)
    eligible = [m for m in MATERIALS if m.formation_energy < -0.5 and m.ood is not None and m.ood <= 1]
    assert keys(table) == ranked(eligible, lambda m: m.bulk)[:3]


def test_superhard(both: list[Path]) -> None:
    threshold = defaults("superhard")["min_hardness"]
    table = run_query("superhard", both)
    expected = ranked([m for m in MATERIALS if m.hardness >= threshold], lambda m: m.hardness)
    assert keys(table) == expected
    assert [MATERIALS[0].id, MATERIALS[1].id] == [k for k, _ in expected]  # diamond, then c-BN
    stds = table.column("vickers_hardness_std").to_pylist()
    for (id_, run), std in zip(expected, stds):
        m = next(x for x in MATERIALS if (x.id, x.run) == (id_, run))
        assert std == pytest.approx((m.hardness + 3) * m.rel_std * np.hypot(1.755, 1.17))


def test_ductile_stiff(both: list[Path]) -> None:
    d = defaults("ductile_stiff")
    table = run_query("ductile_stiff", both)
    eligible = [m for m in MATERIALS if m.pugh > d["min_pugh_ratio"] and m.youngs > d["min_youngs_modulus"]]
    assert keys(table) == ranked(eligible, lambda m: m.youngs)
    assert len(eligible) >= 3 and any(m.pugh > d["min_pugh_ratio"] and m not in eligible for m in MATERIALS)


def test_high_debye_breaks_ties_by_id(both: list[Path]) -> None:
    table = run_query("high_debye", both)
    assert keys(table) == ranked(list(MATERIALS), lambda m: m.debye)
    assert len({m.debye for m in MATERIALS}) < len(MATERIALS)  # the fixture has a tie (TiC, MgO)
    table = run_query("high_debye", both, {"min_debye_temperature": "900", "max_formation_energy": "-1"})
    eligible = [m for m in MATERIALS if m.debye >= 900 and m.formation_energy < -1]
    assert keys(table) == ranked(eligible, lambda m: m.debye)


def _uncertainty(m: Material, d: dict) -> tuple[float, str] | None:
    """(priority, reason) as uncertain.sql defines them, or None when below every threshold."""
    positive = ("bulk_modulus", "shear_modulus", "youngs_modulus", "debye_temperature")
    rel = max(m.std(t) / abs(m.value(t)) for t in positive)
    ratios = {
        "ood": None if m.ood is None else m.ood / d["min_ood_score"],
        "relative_std": rel / d["min_relative_std"],
        "formation_energy_std": m.ef_std / d["min_formation_energy_std"],
    }
    priority = max(r for r in ratios.values() if r is not None)
    reason = next(k for k, r in ratios.items() if r == priority)
    return (priority, reason) if priority > 1 else None


def test_uncertain(both: list[Path]) -> None:
    d = defaults("uncertain")
    table = run_query("uncertain", both)
    scored = {(m.id, m.run): _uncertainty(m, d) for m in MATERIALS}
    eligible = [m for m in MATERIALS if scored[(m.id, m.run)] is not None]
    assert keys(table) == ranked(eligible, lambda m: scored[(m.id, m.run)][0])
    assert table.column("reason").to_pylist() == [scored[k][1] for k in keys(table)]
    assert set(table.column("reason").to_pylist()) == {"ood", "relative_std", "formation_energy_std"}
    assert table.column("priority").to_pylist() == pytest.approx([scored[k][0] for k in keys(table)])


def _expected_similar(references: list[Material], k: int) -> list[tuple[str, float, str]]:
    """(id, best cosine similarity, closest reference id) as similar_to.sql defines them."""
    model = references[0].model_id
    refs = {r.id: np.asarray(r.embedding, dtype=np.float64) for r in references}
    rows = {}
    for m in MATERIALS:
        if m.embedding is None or not any(m.embedding) or m.model_id != model or m.id in refs:
            continue  # no embedding, no direction (all zero), another model's space, or a reference
        v = np.asarray(m.embedding, dtype=np.float32).astype(np.float64)
        sims = {rid: float(v @ r / (np.linalg.norm(v) * np.linalg.norm(r))) for rid, r in sorted(refs.items())}
        best = max(sims, key=sims.get)
        rows[m.id] = (m.id, sims[best], best)
    return sorted(rows.values(), key=lambda row: (-row[1], row[0]))[:k]


@pytest.mark.parametrize("how", ["formula", "name", "id", "id_prefix"])
def test_similar_to(both: list[Path], how: str) -> None:
    diamond = MATERIALS[0]
    reference = {"formula": "C", "name": "diamond", "id": diamond.id, "id_prefix": diamond.id[:12]}[how]
    references = [m for m in MATERIALS if m.formula == "C"] if how == "formula" else [diamond]
    assert len(references) == (2 if how == "formula" else 1)  # diamond and graphite are both "C"
    table = run_query("similar_to", both, {"ref": reference})
    expected = _expected_similar(references, int(defaults("similar_to")["k"]))
    assert table.column("id").to_pylist() == [i for i, _, _ in expected]
    assert table.column("similarity").to_pylist() == pytest.approx([s for _, s, _ in expected], rel=1e-6)
    assert table.column("closest_reference").to_pylist() == [r for _, _, r in expected]
    if how == "formula":
        assert len(set(table.column("closest_reference").to_pylist())) == 2
    # Fe was screened in both runs and appears once; Cu (no embedding), quartz (other model) and
    # solid He (all-zero embedding: NaN similarity) never.
    fe = next(m for m in MATERIALS if m.name == "Fe")
    assert table.column("id").to_pylist().count(fe.id) == 1
    assert not {m.id for m in MATERIALS if m.name in ("Cu", "quartz", "solid-He")} & set(table.column("id").to_pylist())


def test_similar_to_k_and_no_match(both: list[Path]) -> None:
    fe = next(m for m in MATERIALS if m.name == "Fe")
    table = run_query("similar_to", both, {"ref": "Fe", "k": "3"})
    assert table.column("id").to_pylist() == [i for i, _, _ in _expected_similar([fe], 3)]
    formula_of = {m.id: m.formula for m in MATERIALS}
    assert table.column("formula").to_pylist() == [formula_of[i] for i in table.column("id").to_pylist()]
    assert run_query("similar_to", both, {"ref": MATERIALS[0].id[:4]}).num_rows == 0  # too short a prefix
    assert run_query("similar_to", both, {"ref": "SiO2"}).num_rows == 0  # alone in its model's space


def test_run_summary(both: list[Path]) -> None:
    d = defaults("run_summary")
    rows = run_query("run_summary", both).to_pylist()
    expected = []
    for run in (RUN_A, RUN_B):
        ms = materials(run)
        expected.append(
            {
                "run_id": run,
                "status": "predicted",
                "stage": None,
                "error_type": None,
                "n": len(ms),
                "n_materials": len({m.id for m in ms}),
                "n_predicted_stable": sum(m.formation_energy < d["max_formation_energy"] for m in ms),
                "n_ood": sum(m.ood is not None and m.ood > d["ood_threshold"] for m in ms),
                "example": None,
            }
        )
        groups: dict[tuple[str, str], list[str]] = {}
        for r, _path, stage, etype, message in ERRORS:
            if r == run:
                groups.setdefault((stage, etype), []).append(message)
        for (stage, etype), messages in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            expected.append(
                {
                    "run_id": run,
                    "status": "error",
                    "stage": stage,
                    "error_type": etype,
                    "n": len(messages),
                    "n_materials": len(messages),
                    "n_predicted_stable": None,
                    "n_ood": None,
                    "example": min(messages),
                }
            )
    assert rows == expected


# --------------------------------------------------------------------------------------------------
# views: several directories, older schemas, empty parts
# --------------------------------------------------------------------------------------------------


def test_views_combine_runs_and_older_schemas(both: list[Path], results: dict[str, Path]) -> None:
    con = connect(both)
    try:
        described = {r[0]: r[1] for r in con.execute("DESCRIBE predictions").fetchall()}
        assert list(described) == PREDICTIONS_SCHEMA.names
        assert (described["grid"], described["created_at"], described["n_sites"]) == (
            "INTEGER[]",
            "TIMESTAMP WITH TIME ZONE",
            "INTEGER",
        )
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == len(MATERIALS)
        missing = ", ".join(f"count({c})" for c in OLD_MISSING_COLUMNS)
        counts = con.execute(f"SELECT run_id, {missing} FROM predictions GROUP BY run_id ORDER BY run_id").fetchall()
        assert counts == [(RUN_A, len(materials(RUN_A)), len(materials(RUN_A))), (RUN_B, 0, 0)]
        assert con.execute("SELECT count(*) FROM errors").fetchone()[0] == len(ERRORS)
    finally:
        con.close()
    # run_b alone: no errors part file at all, yet the view exists with the full schema.
    con = connect(results["run_b"])
    try:
        assert [r[0] for r in con.execute("DESCRIBE errors").fetchall()] == ERRORS_SCHEMA.names
        assert [r[0] for r in con.execute("DESCRIBE latents").fetchall()] == LATENTS_SCHEMA.names
        assert con.execute("SELECT count(*) FROM errors").fetchone()[0] == 0
        assert con.execute("SELECT count(ood_score) FROM predictions").fetchone()[0] == 0
    finally:
        con.close()


def test_newer_columns_are_kept_after_the_schema(tmp_path: Path) -> None:
    import pyarrow as pa

    (tmp_path / "predictions").mkdir()
    newer = pa.table({"id": ["x"], "bulk_modulus": [1.0], "future_column": [7]})
    pq.write_table(newer, tmp_path / "predictions" / "p.parquet")
    con = connect(tmp_path)
    try:
        columns = [r[0] for r in con.execute("DESCRIBE predictions").fetchall()]
        assert columns == [*PREDICTIONS_SCHEMA.names, "future_column"]
        assert con.execute("SELECT future_column FROM predictions").fetchall() == [(7,)]
    finally:
        con.close()


def test_bad_results_directories(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        connect(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="does not look like a screener results directory"):
        connect(tmp_path)
    with pytest.raises(ConfigError, match="at least one"):
        connect([])


# --------------------------------------------------------------------------------------------------
# parameters are values, never SQL
# --------------------------------------------------------------------------------------------------


def test_injection_is_only_a_value(both: list[Path], tmp_path: Path) -> None:
    echo = tmp_path / "echo.sql"
    echo.write_text(
        "-- Echo a formula and count its rows.\n"
        "-- @param formula str : reduced formula\n"
        "SELECT $formula AS echoed, count(*) AS n FROM predictions WHERE formula = $formula\n"
    )
    con = connect(both)
    try:
        table = execute_query(con, echo, {"formula": INJECTION})
        assert table.to_pylist() == [{"echoed": INJECTION, "n": 0}]
        assert execute_query(con, "similar_to", {"ref": INJECTION}).num_rows == 0
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == len(MATERIALS)
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert {"predictions", "latents", "errors"} <= views
    finally:
        con.close()


def test_similar_to_unknown_reference_exits_1_with_closest_names(both: list[Path]) -> None:
    dirs = [a for d in both for a in ("--results", str(d))]
    result = invoke("similar_to", *dirs, "--param", "ref=NaCI")  # a capital I for the l
    assert result.exit_code == 1 and result.stdout == ""
    assert "no material matches ref=NaCI; closest names: NaCl" in result.stderr


def test_similar_to_says_which_rows_are_the_reference(both: list[Path]) -> None:
    dirs = [a for d in both for a in ("--results", str(d))]
    result = invoke("similar_to", *dirs, "--param", "ref=C", "--param", "k=2")  # diamond and graphite
    assert result.exit_code == 0
    assert len({m.id for m in MATERIALS if m.formula == "C"}) == 2
    assert "ref=C matches 2 rows" in result.stderr and "closest_reference" in result.stderr
    assert "diamond" in result.stderr and "graphite" in result.stderr
    result = invoke("similar_to", *dirs, "--param", "ref=NaCl")
    assert result.exit_code == 0 and "reference: NaCl (NaCl, id " in result.stderr


def test_injection_through_the_cli(both: list[Path]) -> None:
    dirs = [a for d in both for a in ("--results", str(d))]
    result = invoke("similar_to", *dirs, "--param", f"ref={INJECTION}", "--format", "json")
    assert result.exit_code == 1 and result.stdout == "" and "no material matches ref=" in result.stderr
    result = invoke("stiffest_stable", *dirs, "--param", "max_formation_energy=0; DROP TABLE predictions")
    assert result.exit_code != 0 and "expects a number" in result.output
    result = invoke("stiffest_stable", *dirs, "--param", "x=1; DROP TABLE predictions; --=1")
    assert result.exit_code != 0 and "has no parameter" in result.output
    assert run_query("run_summary", both).num_rows > 0


def test_query_files_must_be_one_select(tmp_path: Path, both: list[Path]) -> None:
    two = tmp_path / "two.sql"
    two.write_text("-- Two statements.\nSELECT 1;\nDROP VIEW predictions;\n")
    with pytest.raises(ConfigError, match="exactly one SELECT"):
        load_query(two)
    drop = tmp_path / "drop.sql"
    drop.write_text("-- Not a select.\nDROP VIEW predictions\n")
    with pytest.raises(ConfigError, match="exactly one SELECT"):
        load_query(drop)


def test_queries_cannot_read_other_files(tmp_path: Path, both: list[Path]) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    spec = parse_query("-- Read a file.\nSELECT * FROM read_csv('" + str(outside) + "')\n", name="peek")
    con = connect(both)
    try:
        with pytest.raises(ConfigError, match="(?i)permission|disabled"):
            execute_query(con, spec)
    finally:
        con.close()


# --------------------------------------------------------------------------------------------------
# header format and parameter checks
# --------------------------------------------------------------------------------------------------


def test_header_format() -> None:
    spec = parse_query(
        "-- First line of the description\n"
        "-- and its second line.\n"
        "--\n"
        "-- Notes: physics.\n"
        "-- @param n int = 3 : how many\n"
        "-- @param label str = \"a : b\" : quoted default with a colon\n"
        "-- @param cutoff float = null : optional bound (GPa)\n"
        "-- @param flag bool = false\n"
        "-- @param ref str : required one\n"
        "SELECT $n AS n, $label AS label, $cutoff AS cutoff, $flag AS flag, $ref AS ref;\n",
        name="demo",
    )
    assert spec.description == "First line of the description and its second line."
    assert spec.notes == "Notes: physics."
    params = {p.name: p for p in spec.params}
    assert [(p.type, p.default, p.required) for p in params.values()] == [
        ("int", 3, False),
        ("str", "a : b", False),
        ("float", None, False),
        ("bool", False, False),
        ("str", None, True),
    ]
    assert params["cutoff"].description == "optional bound (GPa)"
    bound = spec.bind({"ref": "x", "flag": "yes", "n": "7"})
    assert bound == {"n": 7, "label": "a : b", "cutoff": None, "flag": True, "ref": "x"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- @parm x int = 1\nSELECT $x", "unknown header tag"),
        ("-- @param x integer = 1\nSELECT $x", "unknown type"),
        ("-- @param x int = 1.5\nSELECT $x", "bad default"),
        ("-- @param x int = 1\n-- @param x int = 2\nSELECT $x", "declared twice"),
        ("-- @param x int = 1\nSELECT $x, $y", r"uses \$y"),
        ("-- @param x int = 1 junk\nSELECT $x", "cannot read"),
        ("-- @param _x int = 1\nSELECT 1", "cannot read"),
        ("-- nothing\nSELEC 1", "does not parse"),
    ],
)
def test_header_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_query(text, name="bad")


def test_parameter_checks() -> None:
    spec = load_query("similar_to")
    with pytest.raises(ConfigError, match="no default for 'ref'"):
        spec.bind({})
    with pytest.raises(ConfigError, match="has no parameter 'kk'.*k, ref"):
        spec.bind({"ref": "C", "kk": "3"})
    for bad in ("3.5", "three", True):
        with pytest.raises(ConfigError, match="'k' expects an integer"):
            spec.bind({"ref": "C", "k": bad})
    with pytest.raises(ConfigError, match="expects a number"):
        load_query("superhard").bind({"min_hardness": "nan"})
    bound = load_query("superhard").bind({"min_hardness": 30})
    assert bound == {"min_hardness": 30.0, "max_formation_energy": None}
    with pytest.raises(ConfigError, match="unknown query 'nope'.*stiffest_stable"):
        load_query("nope")
    with pytest.raises(ConfigError, match="cannot read query file"):
        load_query("missing.sql")


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def test_cli_list_documents_every_query() -> None:
    result = invoke("--list")
    assert result.exit_code == 0
    for spec in list_queries():
        assert spec.name in result.output and spec.description in result.output
        for p in spec.params:
            assert f"--param {p.name}={p.default_text()}" in result.output


def test_cli_show_prints_the_file() -> None:
    result = invoke("superhard", "--show")
    assert result.exit_code == 0 and "Intermetallics 19, 1275 (2011)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown query 'nope'"),
        (["similar_to"], "no default for 'ref'"),
        (["superhard", "--param", "min_hardness=hard"], "expects a number"),
        (["superhard", "--param", "colour=red"], "has no parameter 'colour'"),
        (["superhard", "--param", "novalue"], "expects KEY=VALUE"),
        (["superhard", "--param", "a=1", "--param", "a=2"], "given twice"),
        (["superhard"], "--results"),
        (["superhard", "--results", "RESULTS", "--format", "parquet"], "--out"),
        ([], "give a query NAME"),
        (["superhard", "--results", "/nonexistent/dir"], "does not exist"),
    ],
)
def test_cli_errors_are_one_clear_line(args: list[str], message: str, both: list[Path]) -> None:
    args = [str(both[0]) if a == "RESULTS" else a for a in args]
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_cli_table_and_limit(both: list[Path]) -> None:
    result = invoke("high_debye", "-r", str(both[0]), "-r", str(both[1]), "--limit", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "name", "formula"]
    top = ranked(list(MATERIALS), lambda m: m.debye)[:2]
    assert [line.split()[0] for line in lines[2:4]] == [i[:12] + "…" for i, _ in top]
    assert lines[-1] == "(2 rows)" and "--limit 0 for all" in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "table"])
def test_cli_exports_read_back(fmt: str, both: list[Path], tmp_path: Path) -> None:
    expected = run_query("uncertain", both, limit=0)
    out = tmp_path / f"uncertain.{fmt}"
    result = invoke("uncertain", "-r", str(both[0]), "-r", str(both[1]), "-f", fmt, "-o", str(out), "-n", "0")
    assert result.exit_code == 0 and f"wrote {expected.num_rows} rows" in result.stderr
    if fmt == "parquet":
        assert pq.read_table(out).equals(expected)
        return
    text = out.read_text()
    if fmt == "table":
        assert text.splitlines()[0].split() == expected.column_names
        assert text.rstrip().endswith(f"({expected.num_rows} rows)")
        return
    if fmt == "json":
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == expected.column("id").to_pylist()
    priorities = [float(r["priority"]) for r in rows]
    assert priorities == expected.column("priority").to_pylist()  # full precision survives
    if fmt == "json":
        assert rows == expected.to_pylist()


def test_cli_json_to_stdout_is_json_lines(both: list[Path]) -> None:
    result = invoke("run_summary", "-r", str(both[0]), "-f", "json")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["status"] == "predicted" and rows[0]["n"] == len(materials(RUN_A))


def test_cli_formats_match_library() -> None:
    from screener.cli.query_cmd import FORMATS

    assert FORMATS == EXPORT_FORMATS


def test_no_heavy_imports(both: list[Path]) -> None:
    """The query command imports neither the ML stack nor pandas (which costs ~0.3 s to import)."""
    code = (
        "import sys; from screener.cli.main import main\n"
        "try: main(['query', 'stiffest_stable', '-r', sys.argv[1], '-r', sys.argv[2], '-f', 'csv'])\n"
        "except SystemExit as exc: assert exc.code in (0, None), exc\n"
        "bad = [m for m in ('torch', 'ray', 'lightgbm', 'pymatgen', 'pandas') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code, *map(str, both)], check=True, capture_output=True)
