"""Train/validation/test splits: from a file, or random with a seed (split first, fit on train only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LabelError

SPLITS = ("train", "val", "test")
_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def read_split_file(path: str | Path) -> dict[str, str]:
    """A CSV (or Parquet) with columns ``id`` and ``split`` (train/val/test) → {id: split}."""
    from .labels import read_table

    path = Path(path)
    table = read_table(path, what="split file")
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
    groups: list[str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Row indices of each split for ``names``.

    With a split file, names it does not list are left out of every split. Without one, a seeded
    random permutation of the groups (e.g. the files' SHA-256, so identical densities under two
    names never straddle train and test) gives about the requested fractions (at least one
    validation group when there are three or more).
    """
    if split_file is not None:
        mapping = read_split_file(split_file)
        return {s: np.array([i for i, n in enumerate(names) if mapping.get(n) == s], dtype=int) for s in SPLITS}
    keys = list(groups) if groups is not None else list(names)
    unique = list(dict.fromkeys(keys))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = int(round(test_fraction * len(unique)))
    n_val = max(int(round(val_fraction * len(unique))), 1 if len(unique) >= 3 else 0)
    split_of = {}
    for rank, index in enumerate(order):
        split_of[unique[index]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return {s: np.array([i for i, key in enumerate(keys) if split_of[key] == s], dtype=int) for s in SPLITS}
