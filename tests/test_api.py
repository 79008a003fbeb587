"""The Python API (screener/api.py): each entry point on a tiny random bundle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import screener
from screener.errors import ConfigError, InputError

from .conftest import write_tiny_chgcar


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    from screener.models.random_bundle import write_random_bundle

    return write_random_bundle(tmp_path_factory.mktemp("api") / "random16", grid=16, seed=0)


@pytest.fixture(scope="module")
def model(bundle_dir):
    return screener.load_model(bundle_dir, device="cpu")


@pytest.fixture()
def chgcars(tmp_path) -> list[Path]:
    paths = []
    for i in range(3):
        path = tmp_path / "runs" / f"calc-{i}" / "CHGCAR"
        path.parent.mkdir(parents=True)
        write_tiny_chgcar(path, grid=(8 + 2 * i, 10, 12), electrons=8.0 + i, seed=i)
        paths.append(path)
    return paths


def test_import_screener_is_light_and_names_the_api() -> None:
    code = "import sys, screener; print(sorted(m for m in ('torch', 'ray', 'pyarrow', 'duckdb', 'pymatgen') if m in sys.modules), sorted(screener.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] ['Model', '__version__', 'load_model', 'query', 'screen']"


def test_predict_file_and_files_have_the_columns_of_screener_run(model, chgcars) -> None:
    from screener.screening.schema import PREDICTIONS_SCHEMA

    row = model.predict_file(chgcars[0])
    assert row["name"] == "calc-0" and row["formula"] == "NaCl" and row["model_id"] == model.model_id
    assert row["bulk_modulus"] > 0 and row["n_electrons"] == pytest.approx(8.0) and len(row["id"]) == 64
    table = model.predict_files(chgcars, batch_size=2)
    expected = [f.name for f in PREDICTIONS_SCHEMA if f.name not in ("run_id", "created_at")]
    assert table.column_names == expected and table.num_rows == 3
    assert table.column("path").to_pylist() == [str(p) for p in chgcars]
    assert table.to_pylist()[0]["bulk_modulus"] == pytest.approx(row["bulk_modulus"])


def test_a_bad_file_is_an_input_error_naming_it(model, chgcars, tmp_path) -> None:
    bad = tmp_path / "broken" / "CHGCAR"
    bad.parent.mkdir()
    bad.write_text("nonsense\n")
    with pytest.raises(InputError, match="broken/CHGCAR"):
        model.predict_files([chgcars[0], bad])


def test_chgcar_object_and_its_file_give_the_same_prediction(model, chgcars) -> None:
    from pymatgen.io.vasp import Chgcar

    from_file = model.predict_file(chgcars[1])
    chgcar = Chgcar.from_file(str(chgcars[1]))
    from_object = model.predict_chgcar(chgcar)
    for column in ("bulk_modulus", "shear_modulus", "formation_energy", "debye_temperature", "recon_error", "n_electrons", "volume"):
        assert from_object[column] == pytest.approx(from_file[column], rel=1e-4), column
    # the same density given in e/Å³ and in e/bohr³, and a spin block that is ignored
    rho = chgcar.data["total"] / chgcar.structure.volume
    in_angstrom = model.predict_density(chgcar.structure, rho)
    in_bohr = model.predict_density(chgcar.structure, rho * 0.529177210903**3, units="e/bohr3")
    assert in_bohr["bulk_modulus"] == pytest.approx(in_angstrom["bulk_modulus"], rel=1e-5)
    assert in_angstrom["bulk_modulus"] == pytest.approx(from_file["bulk_modulus"], rel=1e-4)
    chgcar.data["diff"] = np.ones_like(chgcar.data["total"])
    assert model.predict_chgcar(chgcar)["bulk_modulus"] == pytest.approx(from_object["bulk_modulus"], rel=1e-6)


def test_predict_density_refuses_bad_input_with_clear_errors(model) -> None:
    from .conftest import tiny_structure

    structure = tiny_structure()
    with pytest.raises(ConfigError, match="units must be one of"):
        model.predict_density(structure, np.ones((4, 4, 4)), units="e/nm3")
    with pytest.raises(InputError, match="3-D grid"):
        model.predict_density(structure, np.ones((4, 4)))
    with pytest.raises(InputError, match="NaN"):
        model.predict_density(structure, np.full((4, 4, 4), np.nan))
    with pytest.raises(InputError, match="electrons"):
        model.predict_density(structure, np.zeros((4, 4, 4)))
    with pytest.raises(ConfigError, match="Chgcar or VolumetricData"):
        model.predict_chgcar({"total": np.ones((4, 4, 4))})


def test_screen_and_query(bundle_dir, chgcars, tmp_path) -> None:
    out = tmp_path / "results"
    summary = screener.screen(chgcars[0].parent.parent, out, model=bundle_dir, engine="local")
    assert (summary.discovered, summary.predicted, summary.engine) == (3, 3, "local")
    sql = tmp_path / "names.sql"
    sql.write_text("-- Names above a bulk modulus.\n-- @param min_bulk float = 0 : GPa\nSELECT name FROM predictions WHERE bulk_modulus > $min_bulk ORDER BY name\n")
    assert screener.query(sql, out, limit=2).column("name").to_pylist() == ["calc-0", "calc-1"]
    assert screener.query(sql, out, min_bulk=1e9).num_rows == 0
    assert screener.query("stiffest_stable", out).num_rows <= 3
    counts = screener.query("run_summary", [out])
    assert counts.num_rows >= 1
    with pytest.raises(ConfigError, match="did you mean 'stiffest_stable'"):
        screener.query("stifest_stable", out)
    with pytest.raises(ConfigError, match="did you mean 'min_hardness'"):
        screener.query("superhard", out, min_hardnes=3)
    with pytest.raises(ConfigError, match="--engine local"):
        screener.screen(chgcars[0], out, model=bundle_dir, engine="local", gpus=1)


def test_load_model_errors_are_the_projects(tmp_path) -> None:
    from screener.errors import BundleError

    with pytest.raises(BundleError):
        screener.load_model(tmp_path / "nowhere")


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch) -> None:
    """The README's Python block, on four small CHGCARs where ``screener demo`` writes its examples."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```python\n(.*?)\n```", readme.split("## Python API", 1)[1], re.S).group(1)
    for i in range(4):
        path = tmp_path / "screener-demo" / "chgcars" / f"example-{i}" / "CHGCAR"
        path.parent.mkdir(parents=True)
        write_tiny_chgcar(path, grid=(8, 10, 12), electrons=8.0 + i, seed=i)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "screener-demo" / "api-results" / "manifest.json").is_file()
