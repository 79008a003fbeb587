"""Batch screening: the per-batch stages, the Ray engine, the Parquet outputs and their schema."""
