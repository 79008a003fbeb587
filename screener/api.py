"""The Python API: load a model and predict, screen folders into Parquet, query the results.

Notebook use::

    import screener
    model = screener.load_model()                       # the shipped demo bundle
    row = model.predict_file("runs/mp-149/CHGCAR")      # dict: bulk_modulus (GPa), ...
    table = model.predict_files(paths)                  # pyarrow Table (.to_pandas() for pandas)
    summary = screener.screen(["runs/"], "results/")    # what ``screener run`` does
    top = screener.query("stiffest_stable", "results/", min_bulk=100)

Every prediction has the columns of ``screener run``'s ``predictions`` table (without ``run_id``
and ``created_at``): moduli in GPa, formation energy in eV/atom, Debye temperature in K,
``volume`` in Å³, ``density`` in g/cm³. The command line calls these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .config import BOHR_TO_ANGSTROM, Engine, Precision, RunConfig
from .errors import ConfigError, InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from .screening.pipeline import RunSummary

DensityUnits = Literal["e/A3", "e/bohr3", "rho*V"]

#: factor to e/Å³ of each accepted unit (``rho*V`` is divided by the cell volume instead).
_UNIT_SCALE: dict[str, float] = {"e/A3": 1.0, "e/bohr3": 1.0 / BOHR_TO_ANGSTROM**3, "rho*V": 1.0}

__all__ = ["Model", "load_model", "screen", "query"]


def load_model(
    path: str | Path | None = None,
    *,
    device: str = "auto",
    precision: Precision = "auto",
    batch_size: int = 8,
) -> Model:
    """Load a model bundle (verified: hashes, versions, grid) for predictions in this process.

    Args:
        path: bundle directory (None: the demo bundle shipped with screener).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:i]``.
        precision: ``auto`` (bf16 on CUDA, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``.
        batch_size: densities per network call.

    Raises:
        BundleError: a missing, altered or incompatible bundle (the message names the file and why).
    """
    from .models.predictor import Predictor
    from .screening.pipeline import default_model_path
    from .screening.stages import PredictBatch

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    bundle = Path(path) if path is not None else default_model_path()
    predictor = Predictor.from_path(bundle, device=device, precision=precision, batch_size=batch_size)
    return Model(PredictBatch(predictor), path=bundle)


class Model:
    """A loaded bundle; build it with :func:`load_model`.

    Attributes:
        path: the bundle directory.
        model_id: the bundle's id (the ``model_id`` column of every prediction).
        targets: the predicted properties (columns ``<target>``, ``<target>_lgbm``,
            ``<target>_attcnn``, ``<target>_std``).
    """

    def __init__(self, stage: Any, *, path: Path) -> None:
        self._stage = stage  # screening.stages.PredictBatch over a loaded Predictor
        self.path = path
        self.model_id: str = stage.model_id
        self.targets: tuple[str, ...] = tuple(stage.predictor.bundle.target_names)

    def __repr__(self) -> str:
        return f"Model(model_id={self.model_id!r}, path={str(self.path)!r}, device={str(self._stage.predictor.device)!r})"

    # -- files ---------------------------------------------------------------------------------

    def predict_file(self, path: str | Path) -> dict[str, Any]:
        """Predict one CHGCAR/CHG/AECCAR/PARCHG (plain or compressed) or Gaussian cube file.

        Returns:
            One predictions row as a dict (``bulk_modulus`` in GPa, ...; ``grid`` a list of 3 ints).

        Raises:
            InputError: the file cannot be used (the message says why and where).
        """
        return self.predict_files([path], batch_size=1).to_pylist()[0]

    def predict_files(self, paths: Iterable[str | Path], *, batch_size: int | None = None) -> pa.Table:
        """Predict several files, one row each, in the order given.

        Args:
            paths: density files (as :meth:`predict_file`). A file's ``name`` is its folder name
                for VASP output names (``mp-149/CHGCAR`` → ``mp-149``), else its file name.
            batch_size: files read and predicted together (default: the model's).

        Returns:
            A pyarrow Table with the columns of ``screener run``'s predictions (``.to_pandas()``
            for a DataFrame).

        Raises:
            InputError: the first file that cannot be used (nothing is returned then); use
                :func:`screen` to record bad files and go on.
        """
        from .screening.stages import read_batch

        paths = [Path(p) for p in paths]
        size = batch_size or self._stage.predictor.batch_size
        if size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {size}")
        rows: list[dict] = []
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            batch = read_batch({
                "path": np.array([str(p) for p in chunk], dtype=object),
                "root": np.array([str(_name_root(p)) for p in chunk], dtype=object),
            })  # fmt: skip
            rows += self._predict_rows(batch)
        return _table(rows)

    # -- in-memory densities ----------------------------------------------------------------------

    def predict_density(self, structure: Any, rho: np.ndarray, *, units: DensityUnits = "e/A3", name: str | None = None) -> dict[str, Any]:
        """Predict from a pymatgen ``Structure`` and its density on a grid over the cell.

        Args:
            structure: the cell (pymatgen ``Structure``); grid axis i runs along lattice vector i.
            rho: density values, shape (nx, ny, nz), index [x, y, z] with x along the first vector.
            units: ``e/A3`` (electrons per Å³), ``e/bohr3`` (Gaussian cube) or ``rho*V`` (VASP
                CHGCAR values: ρ times the cell volume in Å³, as pymatgen's ``Chgcar.data["total"]``).
            name: the row's ``name`` (default: the reduced formula).

        Returns:
            One predictions row as a dict; its ``id`` is the SHA-256 of the density (float32, e/Å³)
            and the lattice, ``path`` is empty.

        Raises:
            InputError: a density that is not 3-D, not finite, or holds no electrons.
            ConfigError: unknown ``units``.
        """
        from .screening.stages import density_row, rows_to_batch

        scale = _UNIT_SCALE.get(units)
        if scale is None:
            raise ConfigError(f"units must be one of {', '.join(map(repr, _UNIT_SCALE))}, got {units!r}")
        label = name or structure.composition.reduced_formula
        values = np.asarray(rho, dtype=np.float64)
        if values.ndim != 3 or min(values.shape) < 2:
            raise InputError(label, f"the density must be a 3-D grid with at least 2 points per axis, got shape {values.shape}", stage="validate")
        if not np.isfinite(values).all():
            raise InputError(label, "the density holds NaN or infinite values", stage="validate")
        volume = float(structure.volume)
        density = values * (1.0 / volume if units == "rho*V" else scale)
        n_electrons = float(density.mean() * volume)
        if not n_electrons > 0:
            raise InputError(label, f"the density integrates to {n_electrons:.4g} electrons; check units= ({units!r} given)", stage="validate")
        density32 = np.asarray(density, dtype=np.float32)
        digest = hashlib.sha256(np.ascontiguousarray(density32).tobytes())
        digest.update(np.ascontiguousarray(structure.lattice.matrix, dtype=np.float64).tobytes())
        row = density_row(structure, density32, name=label, path="", file_id=digest.hexdigest(), n_electrons=n_electrons, volume=volume)
        return self._predict_rows(rows_to_batch([row], n_tabular=len(row["tabular"])))[0]

    def predict_chgcar(self, chgcar: Any, *, name: str | None = None) -> dict[str, Any]:
        """Predict from a pymatgen ``Chgcar`` (or any ``VolumetricData``) object.

        ``data["total"]`` holds ρ·V (VASP's convention) and is divided by the cell volume; the
        spin block (``data["diff"]``) is ignored. The result equals :meth:`predict_file` on the file
        the object was read from (up to the ``id``, ``name`` and ``path`` columns).
        """
        data = getattr(chgcar, "data", None)
        structure = getattr(chgcar, "structure", None)
        if not isinstance(data, Mapping) or "total" not in data or structure is None:
            raise ConfigError(
                f"predict_chgcar expects a pymatgen Chgcar or VolumetricData (with .structure and .data['total']), "
                f"got {type(chgcar).__name__}"
            )
        return self.predict_density(structure, np.asarray(data["total"]), units="rho*V", name=name)

    # -- internals ----------------------------------------------------------------------------------

    def _predict_rows(self, batch: dict[str, np.ndarray]) -> list[dict]:
        from .screening.outputs import prediction_row

        bad = [i for i, status in enumerate(batch["status"]) if status != "ok"]
        if bad:
            i = bad[0]
            raise InputError(batch["path"][i], str(batch["message"][i]), stage=str(batch["stage"][i]))
        out = self._stage(batch)
        failed = [i for i, status in enumerate(out["status"]) if status != "ok"]
        if failed:
            i = failed[0]
            raise InputError(out["path"][i] or out["name"][i], f"prediction failed: {out['error_type'][i]}: {out['message'][i]}", stage="predict")
        return [prediction_row(out, i) for i in range(len(out["path"]))]


def _name_root(path: Path) -> Path:
    """The root a file's record name is taken relative to: VASP output names are known by their folder."""
    from .io.naming import looks_like_density

    return path.parent.parent if looks_like_density(path.name) and not path.name.endswith(".cube") else path.parent


def _table(rows: list[dict]) -> pa.Table:
    import pyarrow as pa

    from .io.paths import display_path, raw_path_bytes
    from .screening.schema import PREDICTIONS_SCHEMA

    rows = [{**row, "path": display_path(row["path"]), "path_bytes": raw_path_bytes(row["path"])} for row in rows]

    schema = pa.schema([f for f in PREDICTIONS_SCHEMA if f.name not in ("run_id", "created_at")])
    return pa.Table.from_pylist(rows, schema=schema)


def screen(
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    model: str | Path | None = None,
    engine: Engine = "auto",
    gpus: int = 0,
    cpus: int | None = None,
    batch_size: int = 8,
    precision: Precision = "auto",
    address: str | None = None,
    resume: bool = True,
    retry_errors: bool = False,
    limit: int | None = None,
    rows_per_part: int = 256,
    progress: bool = False,
) -> RunSummary:
    """Screen folders of densities into Parquet, exactly as ``screener run`` does.

    Args:
        inputs: folders (searched recursively), files, or text files listing paths.
        output: results folder (``predictions/``, ``latents/``, ``errors/``, ``manifest.json``);
            rerunning into it continues where a run stopped.
        model: bundle directory (None: the shipped demo bundle).
        engine: ``auto`` (in this process for small inputs, Ray for large ones), ``local`` or ``ray``.
        gpus: GPU model replicas (Ray); 0 uses CPUs.
        cpus: CPUs of a local Ray instance (None: all).
        batch_size: densities per model call.
        precision: ``auto`` (bf16 on CUDA, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``.
        address: Ray cluster to join (None: in this process or a private local instance).
        resume: continue an output folder that already holds results (False: refuse it).
        retry_errors: read again the inputs an earlier run recorded as failed.
        limit: at most this many discovered inputs.
        rows_per_part: rows per Parquet part file.
        progress: print the steps and a progress bar on standard error.

    Returns:
        The run summary: counts (``discovered == predicted + failed + duplicates + skipped``),
        seconds, the engine used, the first error reasons, the skipped non-density files.

    Raises:
        ConfigError: impossible options (e.g. ``engine="local"`` with ``gpus``), an output folder of
            another model, or a cluster that cannot hold the replicas.
        BundleError: a bad model bundle. FileNotFoundError: an input that does not exist.
    """
    from .screening.pipeline import run_screen

    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    config = RunConfig(engine=engine, gpus=gpus, cpus=cpus, batch_size=batch_size, precision=precision, resume=resume,
                       limit=limit, address=address, rows_per_part=rows_per_part, retry_errors=retry_errors)  # fmt: skip
    return run_screen(list(inputs), output, model=model, config=config, progress=progress)


def query(
    name_or_sql: str | Path,
    results: str | Path | Sequence[str | Path],
    *,
    limit: int | None = None,
    **params: Any,
) -> pa.Table:
    """Run a shipped query (by name) or a ``.sql`` file over results folders; a pyarrow Table.

    Args:
        name_or_sql: a shipped query (``screener query --list``), e.g. ``"stiffest_stable"``, or a
            ``.sql`` file path.
        results: one or more output folders of :func:`screen` / ``screener run``.
        limit: at most this many rows (None: all), in the query's order.
        **params: the query's parameters as Python values (``k=5``, ``ref="NaCl"``); defaults fill the rest.

    Raises:
        ConfigError: unknown query or parameter (with the nearest names), a value of the wrong type,
            or a results folder that does not exist.
    """
    from .query.views import query_results

    return query_results(name_or_sql, results, limit=limit, **params)
