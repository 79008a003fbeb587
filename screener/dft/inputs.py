"""Structures to compute: a folder of POSCAR/CIF files, one file, or a labels file with structures.

Label files understood:

- a JSON list of records with a ``structure`` (pymatgen dict) and an id (``mp_id``, ``material_id``,
  ``id``, ``name``), as the MP binary elasticity and WBM sets of matcalc ship them;
- pandas ``orient="split"`` JSON (keys ``index``/``columns``/``data``), as matminer ships de Jong 2015;
- CSV or Parquet tables with an id column and a ``structure`` column (pymatgen JSON, CIF or POSCAR
  text), the same id aliases and target columns ``screener train`` reads.

Either may be gzipped. Target columns are recognized by the aliases of :mod:`screener.targets`
(``K_VRH``, ``bulk_modulus_vrh``, ``corrected_formation_energy_per_atom``, …) and carried as labels.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..targets import TARGETS

if TYPE_CHECKING:
    from pymatgen.core import Structure

ID_KEYS = ("mp_id", "material_id", "id", "name", "task_id")
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR")
#: When several aliases of one target are present, the first listed here wins (MP2020-corrected
#: formation energies are what Materials Project reports).
_PREFERRED_ALIASES = {"formation_energy": ("corrected_formation_energy_per_atom", "formation_energy_per_atom", "e_form")}


@dataclass
class StructureInput:
    """One structure to compute.

    Attributes:
        id: material id (label files) or file stem (structure files); unique within a run.
        source: where it came from (file name; the record's index for label files).
        structure: the structure, or None when it could not be parsed (``error`` says why).
        labels: target name → value in the target's unit (GPa, eV/atom, K).
        error: why the structure cannot be computed, or None.
    """

    id: str
    source: str
    structure: Structure | None
    labels: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _open_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _is_structure_file(path: Path) -> bool:
    name = path.name
    return path.is_file() and (
        name.lower().endswith(STRUCTURE_SUFFIXES) or any(name.startswith(n) for n in STRUCTURE_NAMES)
    )


def _label_columns(keys: list[str]) -> dict[str, str]:
    """target name → the source key holding it."""
    lower = {k.lower(): k for k in keys}
    found: dict[str, str] = {}
    for target in TARGETS:
        candidates = _PREFERRED_ALIASES.get(target.name, ()) + (target.name,) + target.aliases
        for alias in candidates:
            if alias.lower() in lower:
                found[target.name] = lower[alias.lower()]
                break
    return found


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _parse_structure(value: Any) -> Structure:
    from pymatgen.core import Structure

    if isinstance(value, dict):
        return Structure.from_dict(value)
    text = str(value).strip()
    if text.startswith("{"):
        return Structure.from_dict(json.loads(text))
    fmt = "cif" if "_cell_length_a" in text else "poscar"
    return Structure.from_str(text, fmt=fmt)


def _records(path: Path) -> tuple[list[dict], str]:
    """(records as dicts, description) of a labels file."""
    suffixes = [s.lower() for s in path.suffixes]
    if ".json" in suffixes:
        try:
            data = json.loads(_open_text(path))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable JSON labels file ({exc})") from None
        if isinstance(data, dict) and {"columns", "data"} <= set(data):
            columns = list(data["columns"])
            return [dict(zip(columns, row)) for row in data["data"]], "pandas split JSON"
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            return data, "JSON records"
        raise ConfigError(f"{path}: JSON must be a list of records or pandas 'split' layout")
    if ".csv" in suffixes or ".parquet" in suffixes or ".pq" in suffixes:
        import pandas as pd

        try:
            frame = pd.read_parquet(path) if (".parquet" in suffixes or ".pq" in suffixes) else pd.read_csv(path)
        except Exception as exc:  # pandas raises many types on malformed tables
            raise ConfigError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from None
        return frame.to_dict(orient="records"), "table"
    raise ConfigError(f"{path}: unknown labels format (expected .json[.gz], .csv or .parquet)")


def iter_label_file(path: str | Path) -> Iterator[StructureInput]:
    """Structures and labels of one labels file, in file order."""
    path = Path(path)
    records, _ = _records(path)
    if not records:
        return
    keys = list(records[0])
    id_key = next((k for k in ID_KEYS if k in keys), None)
    if id_key is None:
        raise ConfigError(f"{path}: no id column (expected one of {', '.join(ID_KEYS)})")
    if "structure" not in keys:
        raise ConfigError(f"{path}: no 'structure' column; `screener dft` needs structures")
    label_keys = _label_columns(keys)
    for index, record in enumerate(records):
        material_id = str(record[id_key])
        labels = {t: v for t, k in label_keys.items() if (v := _number(record.get(k))) is not None}
        source = f"{path.name}#{index}"
        try:
            structure = _parse_structure(record["structure"])
        except Exception as exc:  # pymatgen raises many types on malformed structures
            yield StructureInput(material_id, source, None, labels, f"cannot parse the structure: {exc}")
            continue
        yield StructureInput(material_id, source, structure, labels)


def iter_structure_file(path: str | Path) -> StructureInput:
    """One POSCAR/CIF file as an input (id = the file stem)."""
    from pymatgen.core import Structure

    path = Path(path)
    stem = path.name.split(".")[0] if not path.name.startswith(STRUCTURE_NAMES) else path.parent.name + "_" + path.name
    try:
        return StructureInput(stem, str(path), Structure.from_file(path))
    except Exception as exc:  # pymatgen raises many types on malformed files
        return StructureInput(stem, str(path), None, error=f"cannot parse the structure: {exc}")


def _is_label_file(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return any(s in suffixes for s in (".json", ".csv", ".parquet", ".pq"))


def iter_inputs(paths: list[str | Path]) -> Iterator[StructureInput]:
    """Every structure of ``paths`` (folders of structure files, structure files, label files).

    Duplicated ids keep the first structure; labels of later records fill the ones still missing
    (so an id in two label sets is computed once with both sets' labels).
    """
    seen: dict[str, StructureInput] = {}
    pending: list[StructureInput] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if _is_structure_file(p))
            if not files:
                raise ConfigError(f"{path}: no POSCAR/CIF files found (names *.cif, *.vasp, *.poscar, POSCAR*, CONTCAR*)")
            items: Iterator[StructureInput] = (iter_structure_file(p) for p in files)
        elif not path.exists():
            raise ConfigError(f"{path}: no such file or folder")
        elif _is_label_file(path):
            items = iter_label_file(path)
        else:
            items = iter([iter_structure_file(path)])
        for item in items:
            first = seen.get(item.id)
            if first is None:
                seen[item.id] = item
                pending.append(item)
            else:
                for target, value in item.labels.items():
                    first.labels.setdefault(target, value)
    yield from pending
