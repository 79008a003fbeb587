"""A tiny end-to-end train → evaluate on 40 synthetic structures at grid 16."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure

from screener.cli.main import cli


@pytest.fixture(scope="module")
def tiny_training_set(tmp_path_factory) -> tuple[Path, Path]:
    """40 prototype CHGCARs and labels that are a deterministic function of their cells."""
    from pymatgen.io.vasp import Chgcar

    from screener.config import SynthConfig
    from screener.synth.driver import synthesize_prototypes

    root = tmp_path_factory.mktemp("train")
    summary = synthesize_prototypes(root / "chgcars", count=40, seed=1, config=SynthConfig(spacing=0.25))
    assert len(summary.written) == 40
    rows = []
    for path in summary.written:
        structure = Chgcar.from_file(str(path)).structure
        electrons = structure.composition.num_atoms / structure.volume  # atoms per Å³
        bulk = 30.0 + 2000.0 * electrons
        rows.append({"id": path.parent.name, "K_VRH": bulk, "G_VRH": 0.5 * bulk, "formation_energy_per_atom": -0.1 * len(structure)})
    rows[0]["K_VRH"] = -3.0  # invalid: must be reported and left out
    labels = root / "labels.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root, labels


def test_train_then_evaluate_reproduces_the_stored_test_metrics(tiny_training_set) -> None:
    root, labels = tiny_training_set
    bundle, evaluation = root / "bundle", root / "evaluation"
    runner = CliRunner()
    train_args = ["train", "--chgcars", str(root / "chgcars"), "--labels", str(labels), "--out", str(bundle),
                  "--grid", "16", "--epochs", "2", "--regressor-epochs", "3", "--widths", "8,16", "--n-pca", "4",
                  "--trees", "60", "--batch-size", "8", "--transform-trial-epochs", "1", "--workers", "1"]  # fmt: skip
    result = runner.invoke(cli, train_args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    info = manifest["info"]
    assert info["training_data"]["split_sizes"] == {"train": 32, "val": 4, "test": 4}
    assert info["training_data"]["labels_left_out"] == 1
    assert info["training_data"]["labels_filled_from_physics"]["youngs_modulus"] == 39
    assert set(info["phase1"]["transform_trials"]) and manifest["input_transform"]["kind"] in ("asinh", "linear")
    work = Path(str(bundle) + ".work")
    report = list(csv.DictReader(open(work / "label_report.csv")))
    assert len(report) == 1 and report[0]["target"] == "bulk_modulus" and "non-positive" in report[0]["reason"]

    result = runner.invoke(cli, ["evaluate", "--model", str(bundle), "--chgcars", str(root / "chgcars"), "--labels", str(labels),
                                 "--out", str(evaluation), "--split", str(work / "splits.csv"), "--subset", "test", "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    evaluated = json.loads((evaluation / "metrics.json").read_text())["metrics"]
    stored = manifest["info"]["metrics"]["test"]
    for target, models in stored.items():
        for model in ("lgbm", "attcnn", "blend"):
            for metric in ("r2", "mae", "rmse"):
                assert evaluated[target][model][metric] == pytest.approx(models[model][metric], rel=1e-9), (target, model, metric)
            assert evaluated[target][model]["ci"]["mae"][0] <= evaluated[target][model]["mae"]
    assert (evaluation / "parity_bulk_modulus.png").stat().st_size > 1000
    assert sum(1 for _ in open(evaluation / "predictions.csv")) == 1 + 4

    # an element's formation energy is 0 by definition; the regressors' raw outputs keep their columns
    import screener
    from screener.synth.procrystal import procrystal_density

    copper = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])  # fmt: skip
    row = screener.load_model(bundle).predict_density(copper, procrystal_density(copper, (16, 16, 16)))
    assert row["formation_energy"] == 0.0 and row["formation_energy_std"] == 0.0
    assert np.isfinite(row["formation_energy_lgbm"]) and row["formation_energy_lgbm"] != 0.0

    # --resume finds every epoch done (on the inputs it recorded) and only rebuilds the bundle
    assert json.loads((work / "checkpoint_inputs.json").read_text())["dataset_fingerprint"]
    log_before = (work / "training_log.csv").read_text().splitlines()
    result = runner.invoke(cli, train_args + ["--resume"])
    assert result.exit_code == 0, result.output
    assert (work / "training_log.csv").read_text().splitlines() == log_before
    assert json.loads((bundle / "manifest.json").read_text())["info"]["metrics"]["test"] == stored


def test_resume_refuses_densities_the_interrupted_run_never_split(tiny_training_set, tmp_path) -> None:
    """A density added after an interrupted run would be silently left out by --resume: it stops and says so."""
    import shutil

    root, labels = tiny_training_set
    chgcars = tmp_path / "chgcars"
    shutil.copytree(root / "chgcars", chgcars)
    names = sorted(p.name for p in chgcars.iterdir())
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "splits.csv").write_text("id,split\n" + "".join(f"{n},{'test' if i < 4 else 'val' if i < 8 else 'train'}\n" for i, n in enumerate(names[1:])))
    result = CliRunner().invoke(cli, ["train", "--chgcars", str(chgcars), "--labels", str(labels), "--out", str(tmp_path / "b"),
                                      "--grid", "16", "--workers", "1", "--workdir", str(workdir), "--resume"])  # fmt: skip
    assert result.exit_code != 0
    assert "1 of 40 labelled densities are not in the interrupted run's split" in result.output, result.output


def test_resume_refuses_densities_prepared_otherwise_than_the_interrupted_run(tiny_training_set, tmp_path) -> None:
    """Checkpoints of a run on other inputs (another canonical frame, grid or descriptor version, changed
    files) would continue on densities they never saw: --resume stops and says so; a fresh run records its inputs."""
    root, labels = tiny_training_set
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "checkpoint_inputs.json").write_text(json.dumps({"dataset_fingerprint": "prepared-by-another-screener"}))
    args = ["train", "--chgcars", str(root / "chgcars"), "--labels", str(labels), "--out", str(tmp_path / "b"),
            "--grid", "16", "--workers", "1", "--workdir", str(workdir)]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--resume"])
    assert result.exit_code != 0
    assert "the prepared densities differ from those of the interrupted run" in result.output, result.output
    assert "canonical frame" in result.output and "rerun without --resume" in result.output
    assert not list(workdir.glob("autoencoder_*")), "nothing was trained"


def test_training_refuses_labels_matching_no_density(tiny_training_set, tmp_path) -> None:
    root, _ = tiny_training_set
    labels = tmp_path / "labels.csv"
    labels.write_text("id,K_VRH\nnothing-like-this,100\n")
    result = CliRunner().invoke(cli, ["train", "--chgcars", str(root / "chgcars"), "--labels", str(labels),
                                      "--out", str(tmp_path / "b"), "--grid", "16", "--workers", "1"])  # fmt: skip
    assert result.exit_code != 0 and "no density matched" in result.output


def test_invariant_bundle_has_null_untrained_targets_zero_element_formation_energy_and_a_calibrated_spread(tiny_training_set, tmp_path) -> None:
    """Trained without formation-energy labels, the bundle says so (NULL), and the ensemble spread is reproducible."""
    import screener
    from screener.synth.procrystal import procrystal_density

    root, labels = tiny_training_set
    rows = list(csv.DictReader(open(labels)))
    no_energy = tmp_path / "labels.csv"
    with open(no_energy, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "K_VRH", "G_VRH"])
        writer.writeheader()
        writer.writerows({k: row[k] for k in ("id", "K_VRH", "G_VRH")} for row in rows)
    bundle = tmp_path / "bundle"
    args = ["train", "--chgcars", str(root / "chgcars"), "--labels", str(no_energy), "--out", str(bundle), "--grid", "16",
            "--epochs", "1", "--regressor-epochs", "2", "--widths", "8,16", "--trees", "40", "--batch-size", "8",
            "--transform-trial-epochs", "0", "--workers", "1", "--ensemble", "3", "--min-labels", "10"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["untrained_targets"] == ["formation_energy"]
    assert manifest["ensembles"]["bulk_modulus"] == 2 and manifest["spread_scale"]["bulk_modulus"] > 0
    assert manifest["descriptor_version"] and manifest["ood"]["threshold"] > 0
    assert "lattice_a" not in manifest["tabular_features"]  # cell-choice-dependent inputs are out

    model = screener.load_model(bundle)
    si = Structure(Lattice.cubic(5.43), ["Si"] * 8, [[0, 0, 0], [.25, .25, .25], [0, .5, .5], [.25, .75, .75],
                   [.5, 0, .5], [.75, .25, .75], [.5, .5, 0], [.75, .75, .25]]).get_primitive_structure()  # fmt: skip
    rho = procrystal_density(si, (16, 16, 16))
    first, again = model.predict_density(si, rho), model.predict_density(si, rho * (1 + 1e-7))
    assert first["formation_energy"] == 0.0  # an element: 0 by definition, labels or not
    salt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [.5, .5, .5]])
    compound = model.predict_density(salt, procrystal_density(salt, (16, 16, 16), valence={"Na": 1, "Cl": 7}))
    assert compound["formation_energy"] is None or np.isnan(compound["formation_energy"])  # no labels: not invented
    assert first["bulk_modulus"] > 0 and first["bulk_modulus_std"] > 0
    # CHGCAR vs CHG of one run: the same spread up to a tree split that a 1e-7 change can cross (MC dropout: ±25%)
    assert again["bulk_modulus_std"] == pytest.approx(first["bulk_modulus_std"], rel=0.05)
    assert model.predict_density(si, rho.copy())["bulk_modulus_std"] == first["bulk_modulus_std"]  # bit-identical input
    bigger = si.copy()
    bigger.make_supercell((2, 1, 1))
    tiled = model.predict_density(bigger, np.tile(rho, (2, 1, 1)))
    assert tiled["bulk_modulus_lgbm"] == pytest.approx(first["bulk_modulus_lgbm"], rel=0.01)  # the trees see invariant inputs
