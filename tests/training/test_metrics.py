"""Metrics against values computed by hand, and the label rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from screener.errors import LabelError
from screener.training.labels import fill_from_physics, load_labels
from screener.training.metrics import log10_mae, mae, r2_score, regression_report, rmse


def test_metrics_by_hand() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.5, 2.0, 2.0, 5.0])
    # residuals 0.5, 0, -1, 1: SS_res = 2.25; mean 2.5, SS_tot = 5
    assert r2_score(truth, predicted) == pytest.approx(1 - 2.25 / 5)
    assert mae(truth, predicted) == pytest.approx(2.5 / 4)
    assert rmse(truth, predicted) == pytest.approx(math.sqrt(2.25 / 4))
    assert log10_mae([10.0, 100.0], [100.0, 100.0]) == pytest.approx(0.5)


def test_report_ignores_missing_and_gives_intervals_around_the_point() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200)
    predicted = truth + rng.normal(scale=0.3, size=200)
    truth[:5] = np.nan
    report = regression_report(truth, predicted, log_target=False, n_bootstrap=300)
    assert report["n"] == 195
    for name in ("r2", "mae", "rmse"):
        low, high = report["ci"][name]
        assert low < report[name] < high
    assert "log10_mae" not in report


def test_label_rules_report_what_they_leave_out(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "material_id,K_VRH,G_VRH,formation_energy_per_atom,poisson_ratio\n"
        "a,100,50,-1.0,0.29\n"
        "b,-5,30,-2.0,0.2\n"  # non-positive modulus
        "c,80,40,-8950000,0.3\n"  # the paper's Yb2MgIn garbage
        "d,50,10,-0.5,0.961\n"  # Poisson ratio out of range: its elastic labels go
        "e,,, -0.2,\n"
    )
    labels = load_labels(path)
    assert labels.ids == ["a", "b", "c", "d", "e"]
    reasons = {(row["id"], row["target"]): row["reason"] for row in labels.report}
    assert "non-positive" in reasons[("b", "bulk_modulus")]
    assert "physical range" in reasons[("c", "formation_energy")]
    assert "Poisson" in reasons[("d", "bulk_modulus")] and "Poisson" in reasons[("d", "shear_modulus")]
    assert ("d", "formation_energy") not in reasons
    assert np.isnan(labels.values["bulk_modulus"][1]) and labels.values["bulk_modulus"][0] == 100
    fill_from_physics(labels, {"a": (2.0, 0.05)})
    assert labels.values["youngs_modulus"][0] == pytest.approx(9 * 100 * 50 / (300 + 50))
    assert labels.values["debye_temperature"][0] > 0 and labels.filled["debye_temperature"] == 1
    # c's Young's modulus is filled as well, but only "a" has a density: the count says what training uses
    assert np.isfinite(labels.values["youngs_modulus"][2]) and labels.filled["youngs_modulus"] == 1


def test_labels_without_id_or_targets_are_refused(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("foo,K_VRH\nx,1\n")
    with pytest.raises(LabelError, match="no id column"):
        load_labels(path)
    path.write_text("id,colour\nx,red\n")
    with pytest.raises(LabelError, match="no target column"):
        load_labels(path)
    path.write_text("id,bulk\nx,1\n")
    assert load_labels(path, mapping={"bulk": "bulk_modulus"}).values["bulk_modulus"][0] == 1


def test_map_column_to_id(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("mpid,bulk\nx,1\n")
    labels = load_labels(path, mapping={"mpid": "id", "bulk": "bulk_modulus"})
    assert labels.ids == ["x"] and labels.values["bulk_modulus"][0] == 1


def test_identical_densities_never_straddle_splits() -> None:
    from screener.training.splits import assign_splits

    names = [f"n{i}" for i in range(60)]
    groups = [f"g{i // 3}" for i in range(60)]  # triples of identical files under different names
    splits = assign_splits(names, groups=groups, seed=3)
    membership = {}
    for split, rows in splits.items():
        for row in rows:
            membership.setdefault(groups[row], set()).add(split)
    assert all(len(s) == 1 for s in membership.values())
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(60))
    assert len(splits["test"]) == 6 and len(splits["val"]) == 6


def test_spread_calibration_gives_gaussian_coverage_and_widens_for_heavy_tails() -> None:
    from screener.training.trainer import calibrate_spread

    rng = np.random.default_rng(0)
    gaussian = rng.standard_normal(4000)
    assert calibrate_spread(gaussian * 3.0, np.full(4000, 3.0), np.zeros(4000)) == pytest.approx(1.0, abs=0.05)
    assert calibrate_spread(gaussian, np.full(4000, 0.5), np.zeros(4000)) == pytest.approx(2.0, abs=0.1)  # spread too small
    heavy = rng.standard_t(3, 4000)
    scale = calibrate_spread(heavy, np.ones(4000), np.zeros(4000))
    within_two = np.mean(np.abs(heavy) <= 2 * scale)
    assert scale > 1.0 and within_two > 0.9
