"""Synthetic procrystal densities: valences, the density model, prototypes, the batches, the CLI."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ..conftest import CHGCAR_DIR

#: Real files the model must correlate with (r ≥ MIN_R; see benchmarks/PROCRYSTAL.md for all numbers).
REAL_FILES = (
    "aiida-vasp_Si_CHGCAR",
    "atomate_Al_CHGCAR.gz",
    "atomate_LiH_SCAN_relax_CHGCAR",
    "baderkit_Ca2N_CHGCAR.cube",
    "pawpyseed_Ga_CHGCAR",
    "pydefect_H2_CHGCAR",
    "pydefect_NaMgF3_CHG",
    "pyiron_Fe_bcc_CHGCAR_no_spin",
    "pymatgen_CHGCAR.nospin.gz",
    "pymatgen_chargemol_NaCl_CHGCAR.gz",
)
MIN_R = 0.9


def _structure(kind: str):
    from pymatgen.core import Lattice, Structure

    if kind == "nacl":
        return Structure(Lattice.cubic(5.64), ["Na", "Cl"] * 4, [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 0], [0, 0.5, 0]])
    if kind == "wurtzite":  # non-orthogonal cell
        a, c = 3.25, 5.21
        lat = Lattice([[a, 0, 0], [-a / 2, a * 3**0.5 / 2, 0], [0, 0, c]])
        return Structure(lat, ["Zn", "Zn", "O", "O"], [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]])
    if kind == "triclinic":
        lat = Lattice.from_parameters(4.1, 4.7, 5.3, 81, 97, 112)
        return Structure(lat, ["Fe", "O", "Li"], [[0.1, 0.2, 0.3], [0.6, 0.55, 0.7], [0.35, 0.8, 0.05]])
    raise ValueError(kind)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


# ------------------------------------------------------------------------------------------ valence
def test_valence_import_is_lazy() -> None:
    code = "import screener.synth.valence as v, screener.synth.procrystal, screener.synth.driver; print(v._zval_table.cache_info().currsize, v._lda_table.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "0"]


@pytest.mark.parametrize(
    ("element", "symbol", "zval"),
    [("Na", "Na_pv", 7), ("Fe", "Fe_pv", 14), ("Li", "Li_sv", 3), ("O", "O", 6), ("Ga", "Ga_d", 13), ("Yb", "Yb_2", 8), ("Po", "Po_d", 16)],
)
def test_default_valence_matches_mp_potcars(element: str, symbol: str, zval: int) -> None:
    from screener.synth.valence import default_potcar_symbol, default_valence, valence_shells

    assert default_potcar_symbol(element) == symbol
    assert default_valence(element) == zval
    assert sum(s.electrons for s in valence_shells(element)) == pytest.approx(zval)


def test_valence_shells_and_fallback() -> None:
    from screener.synth.valence import default_potcar_symbol, default_valence, valence_shells

    labels = lambda el, z=None: {s.label: s.electrons for s in valence_shells(el, z)}  # noqa: E731
    assert labels("Ga", 3) == {"4s": 2, "4p": 1}
    assert labels("Ga", 13) == {"3d": 10, "4s": 2, "4p": 1}
    assert labels("Fe", 8) == {"3d": 6, "4s": 2}
    assert labels("Y") == {"4s": 2, "4p": 6, "4d": 1, "5s": 2}
    assert labels("Dy") == {"5p": 6, "5d": 1, "6s": 2}  # Dy_3: 4f frozen in the core
    assert default_potcar_symbol("Bk") is None  # no POTCAR: noble-gas-core rule, 5f9 7s2
    assert default_valence("Bk") == 11
    assert labels("Bk") == {"5f": 9, "7s": 2}


def test_match_valence_drops_semicore_shells() -> None:
    from screener.synth.valence import match_valence

    assert match_valence({"Na": 1, "Cl": 1}, 8.0) == {"Na": 1.0, "Cl": 7.0}
    assert match_valence({"Na": 4, "Mg": 4, "F": 12}, 96.0) == {"Na": 1.0, "Mg": 2.0, "F": 7.0}
    assert match_valence({"Fe": 1}, 8.0) == {"Fe": 8.0}
    assert match_valence({"Na": 1, "Cl": 1}, 14.0) == {"Na": 7.0, "Cl": 7.0}  # MP default kept


def test_lda_radii_are_sane() -> None:
    from screener.synth.valence import BOHR, _lda_table, orbital_mean_radius

    table = _lda_table("H")
    energy, radius = table[(1, 0)]
    assert energy == pytest.approx(-0.2335, abs=0.003)  # NIST LDA: −0.233471 Ha
    assert radius == pytest.approx(1.5 * 1.11, rel=0.03)  # LDA H is more diffuse than the exact 1.5 bohr
    assert orbital_mean_radius("H", 1, 0) == pytest.approx(radius * BOHR, rel=1e-3)
    assert orbital_mean_radius("Fe", 3, 2) < orbital_mean_radius("Fe", 4, 0)


# ------------------------------------------------------------------------------------------ density
@pytest.mark.parametrize("kind", ["nacl", "wurtzite", "triclinic"])
def test_electron_count_is_conserved(kind: str) -> None:
    from screener.synth.procrystal import procrystal_density
    from screener.synth.valence import default_valence

    s = _structure(kind)
    expected = sum(default_valence(site.specie.symbol) for site in s)
    rho = procrystal_density(s, (18, 21, 24))
    assert rho.dtype == np.float64
    assert rho.mean() * s.volume == pytest.approx(expected, rel=1e-9)
    scaled = procrystal_density(s, (18, 21, 24), n_electrons=expected - 0.5)
    assert scaled.mean() * s.volume == pytest.approx(expected - 0.5, rel=1e-9)


def test_file_electron_count_selects_valences() -> None:
    from screener.synth.procrystal import procrystal_density

    s = _structure("nacl")
    rho8 = procrystal_density(s, (20, 20, 20), n_electrons=32.0)  # 4 × (Na 1 + Cl 7), as in a Na (not Na_pv) run
    rho_explicit = procrystal_density(s, (20, 20, 20), valence={"Na": 1, "Cl": 7})
    np.testing.assert_allclose(rho8, rho_explicit, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("kind", "grid"), [("nacl", (12, 14, 15)), ("wurtzite", (15, 15, 24)), ("triclinic", (13, 16, 18))])
def test_supercell_density_is_the_tiled_density(kind: str, grid: tuple[int, int, int]) -> None:
    from screener.synth.procrystal import procrystal_density

    s = _structure(kind)
    rho = procrystal_density(s, grid)
    for reps in ((2, 1, 1), (1, 1, 2), (1, 3, 1)):
        sc = s.copy()
        sc.make_supercell(reps)
        big = procrystal_density(sc, tuple(n * r for n, r in zip(grid, reps)))
        np.testing.assert_allclose(big, np.tile(rho, reps), rtol=0, atol=1e-10 * np.abs(rho).max())


def test_translation_by_a_grid_step_rolls_the_density() -> None:
    from screener.synth.procrystal import procrystal_density

    s = _structure("triclinic")
    grid = (12, 16, 18)
    rho = procrystal_density(s, grid)
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [2 / 12, -1 / 16, 5 / 18], frac_coords=True)
    np.testing.assert_allclose(procrystal_density(moved, grid), np.roll(rho, (2, -1, 5), axis=(0, 1, 2)), atol=1e-10 * rho.max())


def test_density_is_deterministic_and_physical() -> None:
    from screener.synth.procrystal import procrystal_density

    s = _structure("wurtzite")
    a = procrystal_density(s, (20, 20, 32))
    b = procrystal_density(s, (20, 20, 32))
    assert np.array_equal(a, b)
    assert a.min() > -0.05 * a.max()  # band-limited ringing stays small
    assert procrystal_density(s, (20, 20, 32), dtype=np.float32).dtype == np.float32


# ---------------------------------------------------------------------------------------- prototypes
def test_prototypes_are_valid_and_deterministic() -> None:
    from screener.synth.prototypes import generate_prototypes, prototype_candidates

    protos = generate_prototypes(80, seed=0)
    assert len(protos) == 80 and len(set(protos)) == 80
    assert list(generate_prototypes(80, seed=0)) == list(protos)
    assert list(generate_prototypes(10, seed=0)) == list(protos)[:10]
    assert list(generate_prototypes(10, seed=1)) != list(protos)[:10]
    assert len({name.split("_")[1] for name in list(protos)[:14]}) == 14  # any prefix is diverse
    for name, s in protos.items():
        assert s.is_ordered and len(s) >= 1
        assert 5.0 < s.volume / len(s) < 120.0, name
        if len(s) > 1:
            dmin = s.distance_matrix[~np.eye(len(s), dtype=bool)].min()
            assert dmin > 1.3, (name, dmin)
        assert name.split("_")[0] == s.composition.reduced_formula
    assert "NaCl_rocksalt" in {c[0] for c in prototype_candidates()}
    many = generate_prototypes(len(prototype_candidates()) + 3, seed=0)
    assert sum(name.endswith("_v1") for name in many) == 3


# ------------------------------------------------------------------------------------------- batches
def _poscar_folder(tmp_path: Path) -> Path:
    from screener.synth.prototypes import generate_prototypes

    src = tmp_path / "in"
    src.mkdir()
    for name, s in generate_prototypes(2, seed=5).items():
        s.to(filename=str(src / f"POSCAR_{name}"))
    s.to(filename=str(src / "extra.cif"))
    (src / "POSCAR_broken").write_text("not a poscar\n")
    (src / "notes.txt").write_text("ignored\n")
    return src


def test_synthesize_structures(tmp_path: Path) -> None:
    from pymatgen.io.vasp import Chgcar

    from screener.config import SynthConfig
    from screener.synth.driver import synthesize_structures

    src = _poscar_folder(tmp_path)
    calls: list[tuple[int, int, str]] = []
    summary = synthesize_structures(src, tmp_path / "out", config=SynthConfig(spacing=0.25), progress=lambda *a: calls.append(a))
    names = sorted(p.parent.name for p in summary.written)
    assert len(names) == 3 and "extra" in names and all(n.startswith("POSCAR_") or n == "extra" for n in names)
    assert [n for n, _ in summary.failed] == ["POSCAR_broken"]
    assert "cannot read structure file" in summary.failed[0][1]
    assert calls[-1][:2] == (4, 4)
    for path in summary.written:
        chg = Chgcar.from_file(str(path))
        assert chg.data["total"].mean() == pytest.approx(next(r.n_electrons for r in summary.results if r.path == path), rel=1e-9)


def test_synthesize_prototypes_with_workers(tmp_path: Path) -> None:
    from screener.config import SynthConfig
    from screener.synth.driver import synthesize_prototypes

    serial = synthesize_prototypes(tmp_path / "a", count=3, seed=2, config=SynthConfig(spacing=0.3))
    parallel = synthesize_prototypes(tmp_path / "b", count=3, seed=2, config=SynthConfig(spacing=0.3), workers=2)
    assert not serial.failed and not parallel.failed
    assert [r.name for r in serial.results] == [r.name for r in parallel.results]
    for a, b in zip(serial.written, parallel.written):
        assert a.read_bytes() == b.read_bytes()


def test_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from screener.cli.main import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["synth", "--prototypes", "--count", "2", "--seed", "1", "--spacing", "0.3", "--out", str(tmp_path / "o"), "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert len(list((tmp_path / "o").glob("*/CHGCAR"))) == 2
    for args in (["--out", "x"], ["--prototypes", "--out", "x"], ["--prototypes", "--count", "2", "--spacing", "-1", "--out", "x"]):
        bad = runner.invoke(cli, ["synth", *args])
        assert bad.exit_code == 2 and "Traceback" not in bad.output
    missing = runner.invoke(cli, ["synth", "--structures", str(tmp_path / "nope"), "--out", "x"])
    assert missing.exit_code == 1 and "not found" in missing.output and "Traceback" not in missing.output


# ---------------------------------------------------------------------------------------- real data
@pytest.mark.shared_data
@pytest.mark.parametrize("name", REAL_FILES)
def test_correlation_with_real_densities(name: str) -> None:
    path = CHGCAR_DIR / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (clone ../shared beside the repository)")
    from screener.synth.procrystal import procrystal_density

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.endswith(".cube"):
            from pymatgen.io.common import VolumetricData

            vol = VolumetricData.from_cube(str(path))
            structure, rho = vol.structure, vol.data["total"] / 0.529177210903**3  # e/bohr³ -> e/Å³
        else:
            from pymatgen.io.vasp import Chgcar

            chg = Chgcar.from_file(str(path))
            structure, rho = chg.structure, chg.data["total"] / chg.structure.volume
    n_file = float(rho.mean() * structure.volume)
    model = procrystal_density(structure, rho.shape, n_electrons=n_file)
    assert model.mean() * structure.volume == pytest.approx(n_file, rel=1e-9)
    assert pearson(model, rho) >= MIN_R


def test_density_equals_the_direct_fourier_sum() -> None:
    """The FFT bookkeeping (half spectrum, split Nyquist planes) against a brute-force sum over G."""
    import itertools

    from screener.synth.procrystal import atomic_form_factor, procrystal_density

    s = _structure("triclinic")
    shape = (4, 5, 6)
    rho = procrystal_density(s, shape)
    recip = 2 * np.pi * np.linalg.inv(s.lattice.matrix).T
    grid = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), -1)
    direct = np.zeros(shape, dtype=complex)

    def freqs(n: int) -> list[tuple[int, float]]:  # (m, weight); ±n/2 each with weight ½ for even n
        out = [(m, 1.0) for m in range(-((n - 1) // 2), (n - 1) // 2 + 1)]
        return out + ([(n // 2, 0.5), (-n // 2, 0.5)] if n % 2 == 0 else [])

    for (a, wa), (b, wb), (c, wc) in itertools.product(*(freqs(n) for n in shape)):
        m = np.array([a, b, c], dtype=float)
        g = np.linalg.norm(m @ recip)
        for site in s:
            f = atomic_form_factor(site.specie.symbol, g)
            direct += wa * wb * wc * f * np.exp(2j * np.pi * ((grid - site.frac_coords) @ m))
    direct /= s.volume
    assert np.abs(direct.imag).max() < 1e-12 * np.abs(direct.real).max()
    np.testing.assert_allclose(rho, direct.real, rtol=0, atol=1e-12 * np.abs(rho).max())


def test_centrosymmetric_structure_gives_inversion_symmetric_density() -> None:
    from screener.synth.procrystal import procrystal_density

    rho = procrystal_density(_structure("nacl"), (16, 18, 20))  # even sizes: Nyquist planes present
    inverted = np.roll(rho[::-1, ::-1, ::-1], (1, 1, 1), axis=(0, 1, 2))  # index i -> -i mod n
    np.testing.assert_allclose(inverted, rho, atol=1e-12 * rho.max())


def test_allelectron_density(tmp_path: Path) -> None:
    from screener.synth.procrystal import allelectron_density
    from screener.synth.valence import core_shells, valence_shells

    s = _structure("nacl")
    grid = (40, 40, 40)
    valence = allelectron_density(s, grid, part="valence", valence={"Na": 1, "Cl": 7})
    assert valence.mean() * s.volume == pytest.approx(32.0, rel=0.1)  # point sampling of cusps: approximate count
    assert valence.max() > 50  # nuclear cusps of the 3s orbitals, unlike the smooth pseudo density
    total = allelectron_density(s, grid, part="total")
    core = allelectron_density(s, grid, part="core")
    np.testing.assert_allclose(total, core + allelectron_density(s, grid, part="valence"), rtol=2e-3)  # log-interpolated tables
    assert sum(x.electrons for x in core_shells("Na")) + sum(x.electrons for x in valence_shells("Na")) == 11
    sc = s.copy()
    sc.make_supercell((1, 2, 1))
    small = allelectron_density(s, (10, 12, 14), part="valence")
    np.testing.assert_allclose(allelectron_density(sc, (10, 24, 14), part="valence"), np.tile(small, (1, 2, 1)), rtol=1e-9)


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "part"), [("pawpyseed_Ga_AECCAR2", "valence"), ("pyiron_H2O_bader_AECCAR0", "core")])
def test_allelectron_correlation_with_aeccar_files(name: str, part: str) -> None:
    path = CHGCAR_DIR / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (clone ../shared beside the repository)")
    from pymatgen.io.vasp import Chgcar

    from screener.synth.procrystal import allelectron_density

    chg = Chgcar.from_file(str(path))
    rho = chg.data["total"] / chg.structure.volume
    n_file = float(rho.mean() * chg.structure.volume) if part == "valence" else None
    model = allelectron_density(chg.structure, rho.shape, part=part, n_electrons=n_file)
    assert pearson(model, rho) >= MIN_R
