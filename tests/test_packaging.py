"""Packaging promises: the README's commands are what CI runs, every command explains itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from screener.cli.main import COMMANDS, cli

REPO = Path(__file__).resolve().parents[1]


def _readme_block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```bash\n(.*?)\n```", section, re.S).group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    command = _readme_block("### Run the tests")
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert command in ci, f"{command!r} must be a line of .ci/run"


def test_readme_first_command_installs_and_runs_the_demo() -> None:
    command = _readme_block("## Quick start")
    assert "pip install torch==2.13.0" in command and command.endswith("screener demo")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output) > 200


def test_help_does_not_import_heavy_libraries() -> None:
    code = "import sys; from screener.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint(sorted(m for m in ('torch', 'ray', 'lightgbm', 'matminer') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_shipped_queries_are_package_data() -> None:
    from importlib.resources import files

    shipped = {p.name for p in (files("screener") / "queries").iterdir() if p.name.endswith(".sql")}
    assert shipped == {p.name for p in (REPO / "queries").glob("*.sql")} and shipped


def test_user_errors_are_one_line_not_tracebacks(tmp_path) -> None:
    bad = tmp_path / "CHGCAR"
    bad.write_text("not a chgcar\n")
    result = CliRunner().invoke(cli, ["inspect", "--json", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert '"error"' in result.output
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--model", str(tmp_path)])
    assert result.exit_code != 0 and "not a model bundle" in result.output


def test_wheel_ships_queries_and_the_demo_bundle(tmp_path) -> None:
    import zipfile

    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist()
    assert {f"screener/queries/{p.name}" for p in (REPO / "queries").glob("*.sql")} <= set(names)
    assert "screener/data/demo_bundle/manifest.json" in names
    assert "screener/data/demo_densities/part-00000.parquet" in names  # what `screener demo` screens
    assert not any(name.endswith((".pkl", ".pickle")) for name in names)
