"""Turning a folder of densities into a training cache: regridded grids, descriptors, metadata.

Each file is read, checked and regridded by the production code (:func:`read_density`,
:func:`regrid`) in worker processes; the cache lives in a work directory as ``.npy`` files (the
grids as a memory map, so the whole set is never in memory at once) plus ``meta.json``. A cache
whose fingerprint (files, sizes, times, regrid settings) matches is reused, which is what
``--resume`` relies on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..config import ReadLimits, RegridConfig
from ..errors import ScreenerError
from ..io.density_table import split_row_path
from ..io.discovery import InputFile

log = logging.getLogger(__name__)

#: per-sample scalars kept beside the grids, in order.
EXTRAS = ("volume", "n_electrons", "mass_density", "atoms_per_volume", "n_sites")


@dataclass
class DensityDataset:
    """A prepared set of densities on one grid.

    Attributes:
        names: record names (labels key on them), aligned with every array.
        ids: SHA-256 of each file.
        paths: source files.
        formulas: reduced formulas.
        grids: (N, n, n, n) float32 densities in e/Å³ on the model grid (a read-only memory map).
        tabular: (N, F) every per-file input (:func:`screener.models.features.input_feature_names`:
            MAGPIE, cell descriptors, invariant density descriptors).
        extras: (N, len(EXTRAS)) per-sample scalars.
        errors: files that could not be used, as {"path", "reason"}.
        fingerprint: digest of what the set was prepared from (files, sizes, times, regrid settings,
            descriptor and canonical-frame versions); "" for a set prepared before it was recorded.
    """

    names: list[str]
    ids: list[str]
    paths: list[str]
    formulas: list[str]
    grids: np.ndarray
    tabular: np.ndarray
    extras: np.ndarray
    errors: list[dict]
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.names)

    def physics_inputs(self) -> dict[str, tuple[float, float]]:
        """name → (mass density in g/cm³, atoms per Å³): what ``labels.fill_from_physics`` needs."""
        return dict(zip(self.names, zip(self.extra("mass_density"), self.extra("atoms_per_volume"))))

    def extra(self, name: str) -> np.ndarray:
        return self.extras[:, EXTRAS.index(name)]


def _fingerprint(files: Sequence[InputFile], regrid: RegridConfig) -> str:
    from ..grid.canonical import FRAME_VERSION
    from ..models.descriptors import DESCRIPTOR_VERSION

    digest = hashlib.sha256(json.dumps(asdict(regrid), sort_keys=True).encode())
    digest.update(DESCRIPTOR_VERSION.encode())  # a dataset prepared with other descriptors is prepared again
    if regrid.frame == "canonical":  # ... and one prepared on another canonical frame
        digest.update(f"frame-v{FRAME_VERSION}".encode())
    for item in files:
        row = split_row_path(item.path)  # a density-table row: the table file's stat stands for it
        stat = os.stat(row[0] if row else item.path)
        digest.update(f"{item.path}|{item.root}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _prepare_one(item: InputFile, regrid_config: RegridConfig, limits: ReadLimits) -> dict:
    """Worker: read, regrid and featurize one file (errors are returned, not raised)."""
    import torch

    from ..errors import InputError
    from ..grid.resample import regrid
    from ..io.reading import read_density
    from ..models.features import input_features

    torch.set_num_threads(1)
    try:
        record = read_density(item.path, root=item.root, limits=limits)
        from ..models.descriptors import model_density

        rho = model_density(record.rho, record.structure, n_electrons=record.n_electrons)
        canonical = None
        if regrid_config.frame == "canonical":
            from ..grid.canonical import canonical_transform

            canonical = canonical_transform(record.structure, rho)
        grid = regrid(rho, config=regrid_config, lattice=record.structure.lattice.matrix, canonical=canonical)[0].numpy()
        structure = record.structure
        return {
            "name": record.name,
            "id": record.sha256,
            "path": item.path,
            "formula": structure.composition.reduced_formula,
            "grid": grid.astype(np.float32),
            "tabular": input_features(structure, record.rho, n_electrons=record.n_electrons),
            "extras": np.array(
                [record.volume, record.n_electrons, structure.density, len(structure) / record.volume, len(structure)]
            ),
        }
    except InputError as exc:
        return {"path": item.path, "error": exc.reason}
    except Exception as exc:  # never lose a file: report the unexpected too
        return {"path": item.path, "error": f"{type(exc).__name__}: {exc}"}


def _prepare_star(args):
    return _prepare_one(*args)


def _map_or_explain(pool: ProcessPoolExecutor, tasks: list) -> Iterator[dict]:
    """pool.map, with a dead worker process (out of memory, killed) turned into one clear error."""
    try:
        yield from pool.map(_prepare_star, tasks, chunksize=8)
    except BrokenProcessPool as exc:
        raise ScreenerError(f"a worker reading densities died ({exc}); out of memory? retry with --workers 1") from None


def prepare_dataset(
    files: Sequence[InputFile],
    workdir: str | Path,
    *,
    regrid: RegridConfig,
    limits: ReadLimits = ReadLimits(),
    workers: int | None = None,
    keep: Callable[[InputFile], bool] | None = None,
    progress: bool = True,
) -> DensityDataset:
    """Read, regrid and featurize ``files`` into ``workdir`` (reusing a matching cache).

    Args:
        files: discovered inputs.
        workdir: cache folder (created).
        regrid: target grid and method.
        workers: processes (default: all CPUs).
        keep: optional filter applied before reading (e.g. "has a label").
        progress: show a progress bar.
    """
    from tqdm.auto import tqdm

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    selected = [f for f in files if keep is None or keep(f)]
    fingerprint = _fingerprint(selected, regrid)
    meta_path = workdir / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == fingerprint:
            log.info("reusing prepared dataset in %s (%d densities)", workdir, len(meta["names"]))
            return load_dataset(workdir)
    n = regrid.grid
    grids = np.lib.format.open_memmap(workdir / "grids.tmp.npy", mode="w+", dtype=np.float32, shape=(len(selected), n, n, n))
    names, ids, paths, formulas, tabular, extras, errors = [], [], [], [], [], [], []
    workers = workers or os.cpu_count() or 1
    tasks = [(item, regrid, limits) for item in selected]
    bar = tqdm(total=len(tasks), desc="reading densities", unit="file", disable=not progress)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for result in _map_or_explain(pool, tasks):
            bar.update()
            if "error" in result:
                errors.append({"path": result["path"], "reason": result["error"]})
                continue
            grids[len(names)] = result["grid"]
            names.append(result["name"])
            ids.append(result["id"])
            paths.append(result["path"])
            formulas.append(result["formula"])
            tabular.append(result["tabular"])
            extras.append(result["extras"])
    bar.close()
    grids.flush()
    count = len(names)
    del grids
    if count == len(selected):  # every file was usable: the array is complete as written
        os.replace(workdir / "grids.tmp.npy", workdir / "grids.npy")
    else:  # copy only the filled rows
        full = np.load(workdir / "grids.tmp.npy", mmap_mode="r")
        final = np.lib.format.open_memmap(workdir / "grids.npy", mode="w+", dtype=np.float32, shape=(count, n, n, n))
        for start in range(0, count, 256):
            final[start : start + 256] = full[start : start + 256]
        final.flush()
        del final, full
        (workdir / "grids.tmp.npy").unlink()
    feature_count = len(tabular[0]) if tabular else 0
    np.save(workdir / "tabular.npy", np.asarray(tabular, dtype=np.float64).reshape(count, feature_count))
    np.save(workdir / "extras.npy", np.asarray(extras, dtype=np.float64).reshape(count, len(EXTRAS)))
    meta = {
        "fingerprint": fingerprint,
        "regrid": asdict(regrid),
        "names": names,
        "ids": ids,
        "paths": paths,
        "formulas": formulas,
        "errors": errors,
    }
    meta_path.write_text(json.dumps(meta))
    duplicates = len(names) - len(set(names))
    if duplicates:
        log.warning("%d densities share a record name with another; labels cannot tell them apart", duplicates)
    return load_dataset(workdir)


def load_dataset(workdir: str | Path) -> DensityDataset:
    """Open a prepared dataset (grids memory-mapped read-only)."""
    workdir = Path(workdir)
    meta = json.loads((workdir / "meta.json").read_text())
    return DensityDataset(
        names=meta["names"],
        ids=meta["ids"],
        paths=meta["paths"],
        formulas=meta["formulas"],
        grids=np.load(workdir / "grids.npy", mmap_mode="r"),
        tabular=np.load(workdir / "tabular.npy"),
        extras=np.load(workdir / "extras.npy"),
        errors=meta["errors"],
        fingerprint=meta.get("fingerprint", ""),
    )
