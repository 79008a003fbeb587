"""Synthetic densities: procrystal (pseudo-valence and all-electron) models, prototypes, valence tables."""
