"""Training and evaluation: the prepared dataset, labels, splits, two-phase training, checkpoints, metrics."""
