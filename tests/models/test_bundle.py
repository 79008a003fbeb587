"""The model bundle: round trip, tamper and version checks, no pickle, predictor end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from screener.errors import BundleError
from screener.models.bundle import load_bundle, verify_bundle
from screener.models.features import tabular_features
from screener.models.predictor import Predictor
from screener.models.random_bundle import write_random_bundle
from screener.targets import TARGET_NAMES

from ..conftest import tiny_structure


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return write_random_bundle(tmp_path_factory.mktemp("bundle") / "random16", grid=16, seed=3)


def _batch(n: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    structure = tiny_structure()
    shapes = [(20, 20, 20), (24, 18, 30), (16, 16, 16), (12, 12, 12), (32, 32, 32)]
    return {
        "rho": [rng.random(shapes[i % len(shapes)]).astype(np.float32) + 0.01 for i in range(n)],
        "tabular": np.stack([tabular_features(structure, n_electrons=8.0)] * n),
    }


def test_round_trip_gives_identical_predictions(bundle_dir: Path, tmp_path: Path) -> None:
    from screener.models.bundle import save_bundle

    first = Predictor.from_path(bundle_dir, mc_samples=0).predict(_batch())
    copy = tmp_path / "copy"
    save_bundle(load_bundle(bundle_dir), copy)
    second = Predictor.from_path(copy, mc_samples=0).predict(_batch())
    for key in first:
        np.testing.assert_allclose(first[key], second[key], rtol=1e-6, equal_nan=True, err_msg=key)
    assert json.loads((copy / "manifest.json").read_text())["model_id"] == load_bundle(bundle_dir).model_id


def test_predictor_end_to_end_on_synthetic_batch(bundle_dir: Path) -> None:
    out = Predictor.from_path(bundle_dir, batch_size=2).predict(_batch(5))
    assert out["latent"].shape == (5, 16, 2, 2, 2)
    assert out["embedding"].shape == (5, 32)
    for target in TARGET_NAMES:
        for suffix in ("", "_lgbm", "_attcnn", "_std"):
            values = out[target + suffix]
            assert values.shape == (5,) and np.all(np.isfinite(values)), target + suffix
    assert np.all(out["ood_score"] > 0) and np.all(out["vickers_hardness"] >= 0)


def test_blend_lies_between_regressors_in_model_space(bundle_dir: Path) -> None:
    out = Predictor.from_path(bundle_dir, mc_samples=0).predict(_batch())
    for target in ("bulk_modulus", "formation_energy"):
        low = np.minimum(out[f"{target}_lgbm"], out[f"{target}_attcnn"])
        high = np.maximum(out[f"{target}_lgbm"], out[f"{target}_attcnn"])
        assert np.all(out[target] >= low - 1e-9) and np.all(out[target] <= high + 1e-9)


def test_no_pickle_in_bundle(bundle_dir: Path) -> None:
    names = [p.name for p in bundle_dir.iterdir()]
    assert not any(name.endswith((".pkl", ".pickle", ".joblib", ".pt", ".pth")) for name in names)
    for npy in bundle_dir.glob("*.npy"):
        np.load(npy, allow_pickle=False)  # would raise for object arrays


@pytest.mark.parametrize("victim", ["autoencoder.safetensors", "lgbm_bulk_modulus.txt", "pca_components.npy"])
def test_one_changed_byte_is_refused(bundle_dir: Path, tmp_path: Path, victim: str) -> None:
    copy = tmp_path / "tampered"
    shutil.copytree(bundle_dir, copy)
    data = bytearray((copy / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / victim).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"{victim}.*SHA-256"):
        load_bundle(copy)


def test_wrong_grid_and_edited_manifest_are_refused(bundle_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="32"):
        load_bundle(bundle_dir, expect_grid=32)
    copy = tmp_path / "edited"
    shutil.copytree(bundle_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for key, value in (("grid", 32), ("recon_error_p95", 1e9), ("input_transform", {"kind": "asinh", "rho0": 5.0})):
        (copy / "manifest.json").write_text(json.dumps({**manifest, key: value}))
        with pytest.raises(BundleError, match="manifest altered"):
            verify_bundle(copy)


def test_future_versions_and_pickles_are_refused(bundle_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "future"
    shutil.copytree(bundle_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(BundleError, match="format version 99"):
        load_bundle(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "screener_version": "99.0"}))
    with pytest.raises(BundleError, match="newer"):
        load_bundle(copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(BundleError, match="pickle"):
        load_bundle(copy)


def test_missing_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_out_of_memory_retries_at_half_batch(bundle_dir: Path, monkeypatch) -> None:
    predictor = Predictor.from_path(bundle_dir, batch_size=4, mc_samples=0)
    original = predictor._predict_chunk
    sizes = []

    def flaky(densities, tabular, lattices, canonical=None):
        sizes.append(len(densities))
        if len(densities) > 2:
            raise torch.cuda.OutOfMemoryError("simulated")
        return original(densities, tabular, lattices, canonical)

    monkeypatch.setattr(predictor, "_predict_chunk", flaky)
    out = predictor.predict(_batch(5))
    assert out["bulk_modulus"].shape == (5,)
    assert sizes[0] == 4 and max(sizes[1:]) <= 2


def test_mc_dropout_spread_is_reproducible_per_sample_whatever_the_batch(bundle_dir: Path) -> None:
    """The same file gets the same ``<target>_std`` on every run and in any batch position."""
    import torch

    batch = _batch(4)
    batch["tabular"] = np.stack([tabular_features(tiny_structure(), n_electrons=8.0 + i) for i in range(4)])
    assert len({row.tobytes() for row in batch["tabular"]}) == 4, "the samples must differ"
    predictor = Predictor.from_path(bundle_dir, mc_samples=8)
    torch.manual_seed(1)
    forwards = predictor.predict(batch)
    torch.manual_seed(2)  # the caller's RNG state does not matter
    backwards = predictor.predict({"rho": batch["rho"][::-1], "tabular": batch["tabular"][::-1]})
    alone = predictor.predict({"rho": batch["rho"][2:3], "tabular": batch["tabular"][2:3]})
    for target in TARGET_NAMES:
        spread = forwards[target + "_std"]
        assert np.all(spread > 0), target
        np.testing.assert_allclose(spread, backwards[target + "_std"][::-1], rtol=1e-5, err_msg=target)
        np.testing.assert_allclose(spread[2:3], alone[target + "_std"], rtol=1e-5, err_msg=target)


def test_pickled_npy_with_recomputed_hashes_is_refused_in_one_line(bundle_dir: Path, tmp_path: Path) -> None:
    """An object array (needs pickle) with its hash and model id recomputed is refused by
    verify_bundle, before any replica loads it, in one line naming the file."""
    from screener.io.buffers import sha256_file
    from screener.models.bundle import manifest_digest

    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    victim = next(copy.glob("*.npy"))
    np.save(victim, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"][victim.name] = sha256_file(victim)
    manifest["model_id"] = manifest_digest(manifest)[:16]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as info:
        verify_bundle(copy)
    assert str(victim) in str(info.value) and "pickle" in str(info.value) and "\n" not in str(info.value)


def test_bundle_on_another_canonical_frame_is_refused(tmp_path: Path) -> None:
    """A bundle trained on canonical grids records the frame version; one from a screener whose
    canonical frame differed (the same file would reach its networks as another grid) is refused,
    naming both versions, even with a consistent model id."""
    from screener.config import RegridConfig
    from screener.grid.canonical import FRAME_VERSION
    from screener.models.bundle import manifest_digest

    path = write_random_bundle(tmp_path / "canonical", grid=16, seed=3, regrid=RegridConfig(grid=16, frame="canonical"))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["canonical_frame_version"] == FRAME_VERSION
    assert load_bundle(path).regrid.frame == "canonical"
    del manifest["canonical_frame_version"]  # as written before the version was recorded
    manifest.pop("model_id")
    manifest = {"model_id": manifest_digest(manifest)[:16], **manifest}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"canonical frame version 1, but this screener computes version {FRAME_VERSION}"):
        load_bundle(path)
