"""Train/validation/test splits: from a file, or random with a seed (split first, fit on train only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import LabelError

SPLITS = ("train", "val", "test")
_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def read_split_file(path: str | Path) -> dict[str, str]:
    """A CSV (or Parquet) with columns ``id`` and ``split`` (train/val/test) → {id: split}."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: split file not found")
    table = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    columns = {c.lower(): c for c in table.columns}
    if "id" not in columns or "split" not in columns:
        raise LabelError(f"{path}: a split file needs columns 'id' and 'split', found {list(table.columns)}")
    out: dict[str, str] = {}
    for ident, split in zip(table[columns["id"]].astype(str), table[columns["split"]].astype(str)):
        name = _ALIASES.get(split.strip().lower())
        if name is None:
            raise LabelError(f"{path}: unknown split {split!r} for {ident} (use train, val or test)")
        out[ident] = name
    return out


def assign_splits(
    names: list[str],
    *,
    split_file: str | Path | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Row indices of each split for ``names``.

    With a split file, names it does not list are left out of every split. Without one, a seeded
    random permutation gives the requested fractions (at least one validation row when N ≥ 3).
    """
    if split_file is not None:
        mapping = read_split_file(split_file)
        return {s: np.array([i for i, n in enumerate(names) if mapping.get(n) == s], dtype=int) for s in SPLITS}
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    n_test = int(round(test_fraction * len(names)))
    n_val = max(int(round(val_fraction * len(names))), 1 if len(names) >= 3 else 0)
    return {
        "test": np.sort(order[:n_test]),
        "val": np.sort(order[n_test : n_test + n_val]),
        "train": np.sort(order[n_test + n_val :]),
    }
