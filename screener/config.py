"""All tunable settings in one typed place.

Every stage takes one of these frozen dataclasses (or uses its defaults); no other module holds
magic numbers that a user might want to change. Units are in the field docs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: 1 bohr in Å (CODATA 2018), used to convert Gaussian cube files.
BOHR_TO_ANGSTROM = 0.529177210903

RegridMethod = Literal["fourier", "trilinear"]
RegridFrame = Literal["fractional", "cartesian", "canonical"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Engine = Literal["auto", "ray", "local"]


@dataclass(frozen=True)
class ReadLimits:
    """Limits checked on a file's header before anything large is allocated.

    Attributes:
        max_grid_points: largest accepted NGXF*NGYF*NGZF (default 512³ = 134M points, 1 GiB as float64).
        min_bytes_per_value: a value in a text grid takes at least this many bytes ("0 "),
            so a plain file smaller than ``points * min_bytes_per_value`` cannot hold its grid.
        max_gzip_ratio: deflate cannot expand more than about 1032:1, which bounds what a ``.gz`` can hold.
        check_electron_count: refuse a density whose electron count is not positive.
        max_bytes_per_value: bytes a written value can take with its separator; VASP writes 18
            (``" 0.12345678901E+01"``), cube writers 13, no writer more than about 25.
        max_blocks: value blocks a file can hold (total + 3 non-collinear magnetization components).
        header_bytes: allowance for the structure header, grid lines, augmentation occupancies and
            per-atom moments on top of the values, bytes.
        max_line_bytes: longest line read outside a value block (headers, grid and augmentation
            lines, a tail of padding zeros), bytes; longer is refused instead of tokenized.
    """

    max_grid_points: int = 512**3
    min_bytes_per_value: int = 2
    max_gzip_ratio: int = 1032
    check_electron_count: bool = True
    max_bytes_per_value: int = 25
    max_blocks: int = 4
    header_bytes: int = 64 << 20
    max_line_bytes: int = 1 << 16

    def text_bytes(self, points: int) -> int:
        """Most bytes (file, or decompressed text) a file declaring a grid of ``points`` can need."""
        return points * self.max_blocks * self.max_bytes_per_value + self.header_bytes

    @property
    def max_file_bytes(self) -> int:
        """Most bytes read from any file, plain or compressed: the text of the largest accepted grid
        (about 13.5 GB at 512³); a file's own declared grid bounds it much tighter."""
        return self.text_bytes(self.max_grid_points)


@dataclass(frozen=True)
class RegridConfig:
    """How a density is resampled onto the model grid.

    Attributes:
        grid: points per axis of the output grid (the model's n; must be divisible by 8 for the autoencoder).
        method: ``fourier`` (band-limited, exact for VASP densities, conserves the electron count)
            or ``trilinear`` (periodic, rescaled to conserve the electron count; no ringing on sharp peaks).
        frame: ``fractional`` (n³ points along the file's cell vectors), ``canonical`` (n³ points along
            the vectors of the crystal's standard primitive cell from its standard origin: the same grid
            for any supercell, basis or origin of one crystal; :mod:`screener.grid.canonical`) or
            ``cartesian`` (n³ points in a cube
            of ``cube_edge`` Å, tiling the periodic cell, so every voxel has the same physical size).
        cube_edge: edge of the Cartesian cube in Å (only for ``frame="cartesian"``).
    """

    grid: int = 128
    method: RegridMethod = "fourier"
    frame: RegridFrame = "fractional"
    cube_edge: float = 8.0


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic procrystal densities (``screener synth``).

    Attributes:
        spacing: target fine-grid spacing in Å; grids are rounded up to FFT-friendly sizes.
            VASP's PREC=Accurate fine grids at ENCUT=520 eV are about 0.07 Å.
        min_grid: smallest points per axis.
        significant_digits: digits written per value (VASP writes 11; fewer makes smaller files).
        compress: write ``CHGCAR.gz`` (gzip level 1, about 3× smaller) instead of ``CHGCAR``.
    """

    spacing: float = 0.07
    min_grid: int = 8
    significant_digits: int = 11
    compress: bool = False


@dataclass(frozen=True)
class AutoencoderConfig:
    """The periodic 3D convolutional autoencoder (paper: 16-32-32-16 channels, three 2× poolings).

    Attributes:
        grid: input points per axis (latent is ``grid // 8`` per axis).
        channels: encoder widths; the last one is the number of latent channels.

    The input transform of ρ is not a setting: training chooses it by reconstruction error
    (:data:`screener.training.trainer.TRANSFORM_CANDIDATES`) and the bundle records it.
    """

    grid: int = 128
    channels: tuple[int, int, int, int] = (16, 32, 32, 16)

    @property
    def latent_grid(self) -> int:
        return self.grid // 8

    @property
    def latent_channels(self) -> int:
        return self.channels[-1]


@dataclass(frozen=True)
class AttentionConfig:
    """The attention 3D CNN on the latent ("Att CNN" in the paper).

    Attributes:
        widths: channels of the residual stages (paper: 64, 128, 256).
        tabular_hidden: widths of the MAGPIE + cell-descriptor branch (paper: 256, 128).
        head_hidden: width of the fused dense head.
        dropout: dropout rate, also used at prediction time for the MC-dropout spread.
        mc_samples: stochastic forward passes for the per-target spread.
        reduction: channel-attention bottleneck ratio (CBAM).
    """

    widths: tuple[int, ...] = (64, 128, 256)
    tabular_hidden: tuple[int, int] = (256, 128)
    head_hidden: int = 128
    dropout: float = 0.2
    mc_samples: int = 8
    reduction: int = 8


@dataclass(frozen=True)
class DescriptorConfig:
    """Invariant density descriptors (``screener/models/descriptors.py``).

    Computed on the file's own grid, over the interstitial region (farther than a core radius from
    every nucleus), after moving the density to the canonical valence partition: they do not depend
    on the origin, the cell choice or the semicore shells a file holds.

    Attributes:
        core_radius: radius (Å) around each nucleus left out (where pseudo densities differ between
            codes and semicore shells live); at most ``nn_fraction`` of the atom's nearest-neighbour distance.
        nn_fraction: cap on the core radius as a fraction of the nearest-neighbour distance.
        vacuum_density: ρ (e/Å³) below which an interstitial voxel counts as vacuum (molecules, slabs).
        max_points: a finer grid is sampled every k-th point per axis down to at most this many points
            (bounds time and memory; the statistics of a smooth density barely move).
    """

    core_radius: float = 1.0
    nn_fraction: float = 0.45
    vacuum_density: float = 1e-3
    max_points: int = 300_000


@dataclass(frozen=True)
class LgbmConfig:
    """LightGBM on PCA(latent) + invariant latent summaries + MAGPIE + cell descriptors.

    Attributes:
        n_pca: PCA components of the standardized, flattened latent (0 disables; paper: 512).
        invariant_features: add translation-invariant summaries of each latent channel.
        density_features: add statistics of ρ over the cell (quantiles, volume fractions).

    Defaults follow the validation ablation in ``benchmarks/ACCURACY.md``: on the paper's 6,059
    compounds, latent PCA components and latent summaries did not improve LightGBM over MAGPIE +
    cell descriptors, while the density statistics did; the latent feeds the attention CNN.
        num_leaves, learning_rate, n_estimators, min_child_samples, feature_fraction,
        bagging_fraction, lambda_l2: LightGBM parameters.
        early_stopping_rounds: rounds without validation improvement before stopping.
    """

    n_pca: int = 0
    invariant_features: bool = False
    density_features: bool = True
    num_leaves: int = 31
    learning_rate: float = 0.03
    n_estimators: int = 2000
    min_child_samples: int = 10
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    early_stopping_rounds: int = 100


@dataclass(frozen=True)
class TrainConfig:
    """Training of the autoencoder (phase 1) and the regressors (phase 2).

    Attributes:
        epochs: maximum autoencoder epochs.
        regressor_epochs: maximum attention-CNN epochs.
        batch_size: samples per optimizer step.
        learning_rate: Adam learning rate of both networks.
        patience: epochs without validation improvement before early stopping.
        seed: seed of every random number generator.
        device: ``auto``, ``cpu`` or ``cuda``.
        val_fraction, test_fraction: split fractions when no split file is given.
        transform_trial_epochs: epochs per candidate input transform when choosing it (0: keep the default).
        inputs: per-file inputs of both regressors: ``invariant`` (MAGPIE, volume per atom, mass density
            and the density descriptors of :mod:`screener.models.descriptors`, which do not depend on
            origin, cell or valence partition) or ``legacy`` (MAGPIE + lattice descriptors, bundles
            before issue 10; LightGBM then also sees statistics of the model-grid density).
        ensemble: LightGBM members per target (different seeds); their spread is part of the uncertainty.
        min_labels: a target with fewer training labels is not trained: predicted as NULL.
        ood_neighbours: k of the k-nearest-neighbour OOD score.
    """

    epochs: int = 40
    regressor_epochs: int = 150
    batch_size: int = 16
    learning_rate: float = 1e-3
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    transform_trial_epochs: int = 3
    inputs: Literal["invariant", "legacy"] = "invariant"
    ensemble: int = 5
    min_labels: int = 20
    ood_neighbours: int = 5


@dataclass(frozen=True)
class RunConfig:
    """One ``screener run``.

    Attributes:
        engine: ``local`` runs the stages in this process (no Ray start: the fastest for small
            inputs), ``ray`` streams them through Ray actors, ``auto`` picks ``local`` up to
            ``local_max_files`` files left to do and Ray above. ``address`` or ``gpus > 0`` always mean Ray.
        local_max_files: the crossover of ``auto``, in files left to read (measured on a 2-core
            machine, ``benchmarks/PIPELINE.md``).
        gpus: GPU actor replicas (0: the same stages on CPU actors).
        cpus: CPUs for a local Ray instance (None: all).
        batch_size: densities per model call.
        read_batch_size: files per CPU read task.
        precision: ``auto`` (bf16 on CUDA, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``.
        resume: skip inputs already written to the output directory.
        strict: exit status 1 when any input failed.
        limit: process at most this many discovered inputs.
        address: Ray address (None: start a local instance).
        rows_per_part: rows per Parquet part file.
        in_flight_bytes: object-store budget of the streaming pipeline (back-pressure beyond it), bytes.
        retry_errors: on resume, read again the inputs an earlier run recorded as failed.
        replica_start_timeout_s: how long streaming waits for every model replica to load its
            bundle before the first file is sent, seconds (so each replica takes part and is
            listed in the manifest; a replica that cannot start fails the run instead of hanging).
    """

    engine: Engine = "auto"
    local_max_files: int = 800
    gpus: int = 0
    cpus: int | None = None
    batch_size: int = 8
    read_batch_size: int = 4
    precision: Precision = "auto"
    resume: bool = True
    strict: bool = False
    limit: int | None = None
    address: str | None = None
    rows_per_part: int = 256
    in_flight_bytes: int = 2 * 1024**3
    retry_errors: bool = False
    replica_start_timeout_s: int = 600
    read_limits: ReadLimits = field(default_factory=ReadLimits)


SpinPolicy = Literal["auto", "on", "off"]

#: Initial collinear moments (μB) for ``spin="auto"``: a structure holding any of these elements is
#: run spin-polarized, starting ferromagnetic (Materials Project starts from similar high moments).
DEFAULT_INITIAL_MOMENTS: tuple[tuple[str, float], ...] = (
    ("V", 3.0), ("Cr", 4.0), ("Mn", 5.0), ("Fe", 4.0), ("Co", 3.0), ("Ni", 2.0),
    ("Ce", 1.0), ("Pr", 2.0), ("Nd", 3.0), ("Pm", 4.0), ("Sm", 5.0), ("Eu", 7.0), ("Gd", 7.0),
    ("Tb", 6.0), ("Dy", 5.0), ("Ho", 4.0), ("Er", 3.0), ("Tm", 2.0), ("Yb", 1.0),
)


@dataclass(frozen=True)
class DftConfig:
    """One self-consistent PBE calculation with GPAW (plane waves), and a ``screener dft`` run.

    Defaults come from the measurements in ``benchmarks/DFT.md``: against tight GPAW runs (700 eV,
    5 k-points per Å⁻¹), 350 eV with 2 k-points per Å⁻¹ reaches Pearson ≥ 0.9993 for Si, NaCl, Al
    and Fe; oxygen needs 500 eV (MgO at 250 eV: 0.997).

    Attributes:
        ecut_ev: plane-wave cutoff, eV.
        hard_ecut_ev: cutoff for structures holding any of ``hard_elements``, eV.
        hard_elements: elements whose PAW setups need the higher cutoff.
        kpoint_density: Γ-centred Monkhorst–Pack density, k-points per Å⁻¹ (ASE's ``density``).
        smearing_ev: Fermi–Dirac width, eV.
        scf_density_tol: GPAW's density convergence criterion (electrons per valence electron).
        scf_energy_tol_ev: GPAW's energy convergence criterion, eV per valence electron.
        scf_eigenstates_tol: GPAW's eigenstate convergence criterion, eV² per valence electron
            (GPAW's default 4e-8 costs 1-2 more iterations for no change in the density: 9-18 %
            of the time, relative density change ≤ 3e-5; ``benchmarks/DFT.md``).
        max_iterations: SCF iterations before a structure is recorded as not converged.
        spin: ``auto`` (spin-polarized when a magnetic element is present), ``on`` or ``off``.
        initial_moments: (element, initial moment in μB) for spin-polarized runs.
        symmetry_tolerance: GPAW's symmetry tolerance (fractional coordinates).
        reduce_cell: run on the primitive Niggli-reduced cell.
        primitive_tolerance_a: pymatgen's primitive-cell tolerance, Å.
        max_atoms: structures with more atoms (after reduction) are refused, atoms.
        timeout_s: wall-clock limit per structure, seconds.
    """

    ecut_ev: float = 350.0
    hard_ecut_ev: float = 500.0
    hard_elements: tuple[str, ...] = ("B", "C", "N", "O", "F")
    kpoint_density: float = 2.0
    smearing_ev: float = 0.1
    scf_density_tol: float = 1e-3
    scf_energy_tol_ev: float = 5e-4
    scf_eigenstates_tol: float = 1e-6
    max_iterations: int = 60
    spin: SpinPolicy = "auto"
    initial_moments: tuple[tuple[str, float], ...] = DEFAULT_INITIAL_MOMENTS
    symmetry_tolerance: float = 1e-3
    reduce_cell: bool = True
    primitive_tolerance_a: float = 0.01
    max_atoms: int = 24
    timeout_s: float = 1800.0


@dataclass(frozen=True)
class DftRunConfig:
    """How ``screener dft`` runs its structures.

    Attributes:
        cpus: CPUs of a local Ray instance = structures computed at once (None: all cores).
        address: Ray address to join (None: start a local instance).
        engine: ``ray`` (one task per structure and CPU) or ``local`` (in this process, one by one).
        resume: skip ids already in the output (done, or failed unless ``retry_errors``).
        retry_errors: run again the ids an earlier run recorded as failed.
        write_chgcar: also write each density as ``chgcar/<id>.CHGCAR.gz``.
        rows_per_part: rows per Parquet part file.
        flush_seconds: write a part at least this often while rows are waiting, seconds.
        limit: compute at most this many structures (after skipping done ones).
        hard_timeout_grace_s: a task still running this long after ``timeout_s`` is killed, seconds.
    """

    cpus: int | None = None
    address: str | None = None
    engine: Literal["ray", "local"] = "ray"
    resume: bool = True
    retry_errors: bool = False
    write_chgcar: bool = True
    rows_per_part: int = 100
    flush_seconds: float = 600.0
    limit: int | None = None
    hard_timeout_grace_s: float = 120.0


@dataclass(frozen=True)
class ReportConfig:
    """``screener report``: the self-contained HTML page over one or more results directories.

    Attributes:
        max_points: at most this many materials are drawn as individual, hoverable points in each
            scatter; above it the scatter shows a sample of this size (every ranked candidate and
            every DFT-next point included) over a grey density of all rows, so the page stays
            small (about 0.6 kB per point) and fast to draw.
        top_n: rows of each ranking table.
        dft_next: materials marked "send to DFT next" (the top rows of the ``uncertain`` query).
        histogram_bins: at most this many bins per target distribution (2√n below that; log-spaced for the
            moduli and Debye temperature).
        density_bins: cells per axis of the grey density behind a downsampled scatter.
        seed: seed of the scatter sample (the page is reproducible).
    """

    max_points: int = 4000
    top_n: int = 15
    dft_next: int = 20
    histogram_bins: int = 40
    density_bins: int = 70
    seed: int = 0
