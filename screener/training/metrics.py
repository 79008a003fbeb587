"""Regression metrics with bootstrap confidence intervals.

R², MAE and RMSE in the target's unit; for targets learned in log10 also the MAE of log10 values
(Matbench's headline metric for K and G: 0.05 ≈ 12% typical error).
"""

from __future__ import annotations

import numpy as np


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination 1 − SS_res/SS_tot (NaN for fewer than 2 points or constant truth)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y_true.size < 2:
        return float("nan")
    total = np.sum((y_true - y_true.mean()) ** 2)
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / total) if total > 0 else float("nan")


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2)))


def log10_mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """MAE of log10 values (positive pairs only)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    keep = (y_true > 0) & (y_pred > 0)
    return mae(np.log10(y_true[keep]), np.log10(y_pred[keep])) if keep.any() else float("nan")


def _point_metrics(y_true: np.ndarray, y_pred: np.ndarray, *, log_target: bool) -> dict[str, float]:
    out = {"r2": r2_score(y_true, y_pred), "mae": mae(y_true, y_pred), "rmse": rmse(y_true, y_pred)}
    if log_target:
        out["log10_mae"] = log10_mae(y_true, y_pred)
    return out


def regression_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    log_target: bool,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """Point metrics and percentile bootstrap intervals over the finite pairs.

    Returns:
        ``{"n": N, "r2": .., "mae": .., "rmse": .., ["log10_mae": ..], "ci": {metric: [low, high]}}``.
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[keep], y_pred[keep]
    report: dict = {"n": int(y_true.size), **_point_metrics(y_true, y_pred, log_target=log_target)}
    if y_true.size >= 3 and n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples: dict[str, list[float]] = {name: [] for name in report if name != "n"}
        for _ in range(n_bootstrap):
            pick = rng.integers(0, y_true.size, y_true.size)
            for name, value in _point_metrics(y_true[pick], y_pred[pick], log_target=log_target).items():
                samples[name].append(value)
        alpha = (1 - confidence) / 2
        report["ci"] = {
            name: [float(np.nanquantile(values, alpha)), float(np.nanquantile(values, 1 - alpha))]
            for name, values in samples.items()
        }
    return report
