"""The similarity embedding: training statistics in the bundle (old bundles still load), and a
retrieval test: materials of one structure prototype find each other far more often than at random."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from screener.models.bundle import load_bundle, save_bundle
from screener.models.latent_features import embedding, embedding_statistics, invariant_features
from screener.models.predictor import Predictor
from screener.models.random_bundle import write_random_bundle

from .test_bundle import _batch

PROTOTYPES = ("rocksalt", "perovskite", "fcc", "zincblende")
PER_PROTOTYPE = 6
K = 3


def precision_at_k(vectors: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean fraction of each row's k cosine-nearest other rows that share its label."""
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


def test_bundle_stores_embedding_statistics_and_old_bundles_still_load(tmp_path: Path) -> None:
    old = write_random_bundle(tmp_path / "old", grid=16, seed=3)
    manifest = json.loads((old / "manifest.json").read_text())
    assert "embedding" not in manifest  # a bundle without statistics: no key, same model id as before
    bundle = load_bundle(old)
    assert bundle.embedding_stats is None
    assert Predictor(bundle, mc_samples=0).predict(_batch(2))["embedding"].shape == (2, 32)  # raw mean+max

    rng = np.random.default_rng(0)
    latents = rng.random((20, 16, 2, 2, 2)).astype(np.float32)
    bundle.embedding_stats = embedding_statistics(latents)
    new_id = save_bundle(bundle, tmp_path / "new")
    assert new_id != manifest["model_id"]
    loaded = load_bundle(tmp_path / "new")
    assert json.loads((tmp_path / "new" / "manifest.json").read_text())["embedding"] == {"kind": "invariant_standardized", "size": 112}
    for a, b in zip(loaded.embedding_stats, bundle.embedding_stats):
        np.testing.assert_array_equal(a, b)
    out = Predictor(loaded, mc_samples=0).predict(_batch(2))
    assert out["embedding"].shape == (2, 112)
    # z-scores of the invariant summaries: the training latents themselves have mean 0, std 1
    z = embedding(latents, loaded.embedding_stats)
    np.testing.assert_allclose(z.mean(0)[z.std(0) > 0], 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0)[invariant_features(latents).std(0) > 1e-6], 1, atol=1e-3)


@pytest.fixture(scope="module")
def prototype_latents() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(latents, prototype labels, element-fraction vectors) of 24 procrystal densities, demo bundle."""
    from screener.grid.canonical import canonical_transform
    from screener.grid.shape import vasp_grid_shape
    from screener.screening.pipeline import default_model_path
    from screener.synth.procrystal import procrystal_density
    from screener.synth.prototypes import build_prototype, prototype_candidates

    chosen = collections.defaultdict(list)
    for name, key, elements, charges in prototype_candidates():
        if key in PROTOTYPES and len(chosen[key]) < PER_PROTOTYPE:
            chosen[key].append((name, elements, charges))
    predictor = Predictor.from_path(default_model_path(), device="cpu", mc_samples=0)
    latents, labels, compositions = [], [], []
    for key, members in chosen.items():
        for _, elements, charges in members:
            structure = build_prototype(key, elements, charges)
            rho = procrystal_density(structure, vasp_grid_shape(structure.lattice, spacing=0.2, min_grid=16))
            grid = predictor.to_model_grid([rho.astype(np.float32)], [structure.lattice.matrix], [canonical_transform(structure, rho)])
            latent, _ = predictor.encode(grid)
            latents.append(latent.numpy()[0])
            labels.append(key)
            compositions.append(structure.composition)
    symbols = sorted({el.symbol for c in compositions for el in c.elements})
    fractions = np.array([[c.get_atomic_fraction(s) for s in symbols] for c in compositions])
    return np.stack(latents), np.array(labels), fractions


def test_neighbours_share_the_structure_prototype_far_more_often_than_at_random(prototype_latents) -> None:
    latents, labels, fractions = prototype_latents
    assert len(labels) == len(PROTOTYPES) * PER_PROTOTYPE
    random = (PER_PROTOTYPE - 1) / (len(labels) - 1)  # expected precision of random neighbours
    standardized = precision_at_k(embedding(latents, embedding_statistics(latents)), labels, K)
    composition = precision_at_k(fractions, labels, K)
    assert standardized >= 2.5 * random, (standardized, random)
    assert standardized > composition, (standardized, composition)
    # and the standardized cosines use their range, unlike the raw summaries of a non-negative latent
    raw = embedding(latents)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    z = embedding(latents, embedding_statistics(latents))
    zunit = z / np.linalg.norm(z, axis=1, keepdims=True)
    off = ~np.eye(len(labels), dtype=bool)
    assert (zunit @ zunit.T)[off].min() < 0 < (unit @ unit.T)[off].min()
