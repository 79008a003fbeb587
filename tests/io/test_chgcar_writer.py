"""Writing CHGCARs: the vectorized Fortran E formatter and a round trip through pymatgen."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np


def test_format_fortran_e_matches_python_formatting() -> None:
    from screener.io.chgcar_writer import format_fortran_e

    rng = np.random.default_rng(3)
    v = rng.standard_normal(2003) * np.exp(rng.uniform(-60, 60, 2003))
    v[:6] = [0.0, -0.0, 1.0, 0.1, 9.9999999999999, 1e-120]
    for digits in (1, 4, 11):
        text = format_fortran_e(v, significant_digits=digits)
        lines = text.decode().splitlines()
        assert len(lines) == -(-v.size // 5) and all(len(line.split()) == 5 for line in lines[:-1])
        assert re.fullmatch(r"( [ -]0\.\d{%d}E[+-]\d\d){5}" % digits, lines[0])
        back = np.array(text.split(), dtype=float)
        expected = np.array([float(f"{x:.{digits - 1}e}") if abs(x) >= 1e-99 else 0.0 for x in v])
        np.testing.assert_array_equal(back, expected)


def test_write_chgcar_round_trips_through_pymatgen(tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.vasp import Chgcar

    from screener.io.chgcar_writer import write_chgcar
    from screener.synth.procrystal import procrystal_density

    s = Structure(Lattice.from_parameters(4.0, 4.4, 5.1, 80, 95, 110), ["Na", "Cl", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.5, 0.75]])
    rho = procrystal_density(s, (10, 12, 14))
    for digits, rtol in ((11, 1e-10), (5, 1e-4)):
        path = write_chgcar(tmp_path / "run" / "CHGCAR", s, rho, significant_digits=digits)
        assert sorted(p.name for p in path.parent.iterdir()) == ["CHGCAR"]  # no temporary files left
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chg = Chgcar.from_file(str(path))
        assert chg.structure.matches(s) and chg.structure.lattice == s.lattice
        assert [site.specie.symbol for site in chg.structure] == ["Na", "Cl", "Na"]
        np.testing.assert_allclose(chg.structure.frac_coords, s.frac_coords, atol=1e-12)
        np.testing.assert_allclose(chg.data["total"], rho * s.volume, rtol=rtol, atol=1e-12)
    lines = path.read_text().splitlines()
    assert lines[5].split() == ["Na", "Cl", "Na"] and lines[6].split() == ["1", "1", "1"]
    assert lines[11] == "" and lines[12].split() == ["10", "12", "14"]
    assert len(lines[13].split()) == 5
