"""Batches of procrystal CHGCARs (``screener synth``): structure files or prototypes, in worker processes."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import SynthConfig
from ..errors import ConfigError, ScreenerError
from ..grid.shape import vasp_grid_shape
from ..io.chgcar_writer import write_chgcar
from .procrystal import procrystal_density

logger = logging.getLogger(__name__)

#: Structure file names ``synthesize_structures`` picks up (case-insensitive).
_STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar")
_STRUCTURE_PREFIXES = ("POSCAR", "CONTCAR")

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SynthResult:
    """Outcome of one structure.

    Attributes:
        name: output folder name (the structure file's stem or the prototype name).
        path: the written CHGCAR, or None when it failed.
        grid: grid shape written.
        n_electrons: electrons in the cell (MP default valences).
        seconds: wall time of density + write.
        error: why it failed (None on success).
    """

    name: str
    path: Path | None
    grid: tuple[int, int, int] | None = None
    n_electrons: float | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class SynthSummary:
    """What a ``synthesize_*`` call did.

    Attributes:
        out_dir: the output root.
        results: one :class:`SynthResult` per input, in input order.
        seconds: wall time of the whole call.
    """

    out_dir: Path
    results: list[SynthResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> list[Path]:
        """Paths of the CHGCARs written."""
        return [r.path for r in self.results if r.path is not None]

    @property
    def failed(self) -> list[tuple[str, str]]:
        """(name, reason) of every input that failed."""
        return [(r.name, r.error or "") for r in self.results if r.error is not None]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "out_dir": str(self.out_dir),
            "written": len(self.written),
            "failed": [{"name": n, "reason": e} for n, e in self.failed],
            "seconds": round(self.seconds, 3),
        }


def _synthesize_one(name: str, source: Any, out_dir: str, spacing: float, min_grid: int, digits: int, compress: bool = False) -> SynthResult:
    """Worker: build (or read) one structure, compute its density and write ``out_dir/name/CHGCAR``."""
    t0 = time.perf_counter()
    try:
        if isinstance(source, (str, Path)):
            from pymatgen.core import Structure

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    structure = Structure.from_file(str(source))
            except Exception as exc:  # noqa: BLE001 - pymatgen raises many types on bad files
                raise ScreenerError(f"cannot read structure file ({type(exc).__name__}: {exc})") from exc
        else:
            structure = source
        if len(structure) == 0:
            raise ScreenerError("structure has no sites")
        grid = vasp_grid_shape(structure.lattice, spacing=spacing, min_grid=min_grid)
        rho = procrystal_density(structure, grid)
        n_e = float(rho.mean() * structure.lattice.volume)
        filename = "CHGCAR.gz" if compress else "CHGCAR"
        path = write_chgcar(Path(out_dir) / name / filename, structure, rho, significant_digits=digits, comment=f"{name} procrystal (screener synth)")
        return SynthResult(name, path, grid, n_e, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, ScreenerError):
            reason = f"{type(exc).__name__}: {reason}"
        return SynthResult(name, None, error=reason, seconds=time.perf_counter() - t0)


def _run_jobs(
    jobs: list[tuple[str, Any]],
    out_dir: Path,
    config: SynthConfig,
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> SynthSummary:
    t0 = time.perf_counter()
    summary = SynthSummary(out_dir=out_dir)
    args = (str(out_dir), float(config.spacing), int(config.min_grid), int(config.significant_digits), bool(config.compress))
    results: dict[int, SynthResult] = {}
    total = len(jobs)
    if workers <= 1 or total <= 1:
        for i, (name, source) in enumerate(jobs):
            results[i] = _synthesize_one(name, source, *args)
            if progress is not None:
                progress(i + 1, total, name)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_synthesize_one, name, source, *args): i for i, (name, source) in enumerate(jobs)}
            done = 0
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker is one failed input
                    results[i] = SynthResult(jobs[i][0], None, error=f"{type(exc).__name__}: {exc}")
                done += 1
                if progress is not None:
                    progress(done, total, jobs[i][0])
    summary.results = [results[i] for i in range(total)]
    summary.seconds = time.perf_counter() - t0
    for name, reason in summary.failed:
        logger.info("synth: %s failed: %s", name, reason)
    return summary


def _is_structure_file(path: Path) -> bool:
    name = path.name
    upper = name.upper()
    if name.startswith("."):
        return False
    return upper.startswith(_STRUCTURE_PREFIXES) or path.suffix.lower() in _STRUCTURE_SUFFIXES


def _stem(path: Path) -> str:
    if path.name.upper().startswith(_STRUCTURE_PREFIXES) and path.suffix.lower() not in _STRUCTURE_SUFFIXES:
        return path.name  # POSCAR, POSCAR_xxx, CONTCAR.relax1 keep their whole name
    return path.stem


def synthesize_structures(
    structures_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    config: SynthConfig = SynthConfig(),
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> SynthSummary:
    """Write a procrystal CHGCAR for every structure file in a folder.

    Picks up (non-recursively) files named ``POSCAR*``/``CONTCAR*`` or ending in ``.cif``, ``.vasp`` or
    ``.poscar``, reads each with pymatgen's ``Structure.from_file`` and writes
    ``out_dir/<stem>/CHGCAR`` (stem: the file name without its suffix; ``POSCAR_xxx`` keeps its whole
    name). A file that cannot be read or computed is reported in the summary, not raised.

    Args:
        structures_dir: folder with structure files.
        out_dir: output root (created).
        config: grid spacing (Å), smallest grid and written digits.
        workers: processes (1: in this process).
        progress: called as ``progress(done, total, name)`` after each structure.

    Returns:
        A :class:`SynthSummary`.

    Raises:
        ConfigError: the folder does not exist or holds no structure files.
    """
    src = Path(structures_dir)
    if not src.is_dir():
        raise ConfigError(f"structures folder not found: {src}")
    files = sorted(p for p in src.iterdir() if p.is_file() and _is_structure_file(p))
    if not files:
        raise ConfigError(f"no POSCAR/CONTCAR/CIF/.vasp files in {src}")
    jobs: list[tuple[str, Any]] = []
    seen: dict[str, Path] = {}
    duplicates: list[SynthResult] = []
    for f in files:
        stem = _stem(f)
        if stem in seen:
            duplicates.append(SynthResult(stem, None, error=f"output name {stem!r} also used by {seen[stem].name}; skipped {f.name}"))
            continue
        seen[stem] = f
        jobs.append((stem, str(f)))
    summary = _run_jobs(jobs, Path(out_dir), config, workers=workers, progress=progress)
    summary.results.extend(duplicates)
    return summary


def synthesize_prototypes(
    out_dir: str | os.PathLike[str],
    *,
    count: int,
    seed: int = 0,
    config: SynthConfig = SynthConfig(),
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> SynthSummary:
    """Write procrystal CHGCARs for ``count`` built-in prototype structures (see :mod:`screener.synth.prototypes`).

    Args:
        out_dir: output root; each structure goes to ``out_dir/<name>/CHGCAR`` (e.g. ``NaCl_rocksalt``).
        count: number of distinct structures.
        seed: seed of the deterministic element substitutions.
        config: grid spacing (Å), smallest grid and written digits.
        workers: processes (1: in this process).
        progress: called as ``progress(done, total, name)`` after each structure.

    Returns:
        A :class:`SynthSummary`.
    """
    from .prototypes import generate_prototypes

    structures = generate_prototypes(count, seed=seed)
    jobs: list[tuple[str, Any]] = list(structures.items())
    return _run_jobs(jobs, Path(out_dir), config, workers=workers, progress=progress)


def iter_structure_files(structures_dir: str | os.PathLike[str]) -> Iterable[Path]:
    """The files :func:`synthesize_structures` would read, sorted."""
    src = Path(structures_dir)
    return sorted(p for p in src.iterdir() if p.is_file() and _is_structure_file(p))
