"""The classic preprocessing layers: statistics from adapt(), NumPy references, save/load."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from kerascnn.layers import (
    MeanSubtraction,
    PaddedRandomCrop,
    PCAColorJitter,
    Whitening,
    classic_augmentation,
)

pytestmark = pytest.mark.backend


def _images(n: int = 64, size: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (n, size, size, 3))
    base[..., 1] = 0.5 * base[..., 0] + 0.5 * base[..., 1]  # correlated channels
    return base.astype("float32")


def _whiten_reference(x: np.ndarray, method: str, eps: float, k: int | None = None) -> tuple:
    """cs231n: X -= mean; cov = X.T X / N; U,S,V = svd(cov); X_white = X U / sqrt(S + eps)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean = flat.mean(0)
    centred = flat - mean
    cov = centred.T @ centred / len(flat)
    u, s, _ = np.linalg.svd(cov)
    white = centred @ u / np.sqrt(s + eps)
    if method == "zca":
        return (white @ u.T).reshape(x.shape), (mean, u, s)
    return white[:, : k or flat.shape[1]], (mean, u, s)


def test_mean_subtraction_per_channel_and_per_pixel():
    x = _images()
    channel = MeanSubtraction("channel")
    channel.adapt(x)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(channel(x)), x - x.mean(axis=(0, 1, 2)), atol=1e-3
    )
    pixel = MeanSubtraction("pixel")
    pixel.adapt([(x[:40], None), (x[40:], None)])  # batches, as a dataset of (x, y) gives
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pixel(x)), x - x.mean(axis=0), atol=1e-3)


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitening_matches_the_numpy_formula(method: str):
    x = _images(n=200, size=4)  # 48 features
    layer = Whitening(method, epsilon=1e-2)
    layer.adapt(x)
    expected, (_, u, s) = _whiten_reference(x, method, 1e-2)
    got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == expected.shape
    # PCA directions are defined up to sign: compare up to a per-component sign
    if method == "pca":
        signs = np.sign((got * expected).sum(0))
        got = got * signs
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)
    # whitened data has (nearly) identity covariance where S >> eps
    flat = got.reshape(len(got), -1)
    cov = flat.T @ flat / len(flat)
    big = s > 100
    if method == "pca":
        np.testing.assert_allclose(np.diag(cov)[big], 1.0, atol=0.01)


def test_pca_components_keep_the_largest_variance():
    x = _images(n=200, size=4)
    layer = Whitening("pca", components=5, epsilon=0.0)
    layer.adapt(x)
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (200, 5)
    np.testing.assert_allclose(out.var(0), 1.0, rtol=0.02)


def test_padded_random_crop_is_a_shifted_window():
    x = np.arange(2 * 8 * 8 * 3, dtype="float32").reshape(2, 8, 8, 3) + 1
    layer = PaddedRandomCrop(2, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)  # inference
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    for i in range(2):  # each output is some 8x8 window of the padded image
        windows = [padded[i, r : r + 8, c : c + 8] for r in range(5) for c in range(5)]
        assert any(np.array_equal(out[i], w) for w in windows)


def test_pca_color_jitter_moves_along_the_principal_colours():
    x = _images(n=32)
    layer = PCAColorJitter(std=0.1, seed=1)
    layer.adapt(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    shift = out - x
    # one colour shift per image, the same at every pixel, not zero
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1, :], shift.shape), atol=1e-3)
    assert np.abs(shift).max() > 0.01
    # the shift lies in the span of the eigenvectors weighted by eigenvalues
    pixels = x.reshape(-1, 3).astype(np.float64)
    values, vectors = np.linalg.eigh(np.cov(pixels.T, bias=True))
    coeff = shift[:, 0, 0, :] @ vectors / values  # = alpha_i per image
    assert 0.02 < coeff.std() < 0.3


def test_save_and_load_round_trip(tmp_path: Path):
    x = _images(n=40, size=4)
    mean, zca, jitter = MeanSubtraction("pixel"), Whitening("zca"), PCAColorJitter()
    for layer in (mean, zca, jitter):
        layer.adapt(x)
    inputs = keras.Input((4, 4, 3))
    y = classic_augmentation(pad=1, brightness=0.1, contrast=0.1, noise=1.0, seed=0)(inputs)
    y = jitter(PaddedRandomCrop(1)(y))
    y = Whitening("pca", components=3)(zca(mean(y)))
    model = keras.Model(inputs, y)
    model.layers[-1].adapt(keras.ops.convert_to_numpy(zca(mean(x))))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-4
    )
    assert {type(layer).__name__ for layer in loaded.layers} >= {
        "MeanSubtraction",
        "Whitening",
        "PCAColorJitter",
        "PaddedRandomCrop",
    }


def test_layers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        MeanSubtraction("image")
    with pytest.raises(ValueError, match="method"):
        Whitening("svd")
    with pytest.raises(ValueError, match="components"):
        Whitening("zca", components=3)
    with pytest.raises(ValueError, match="no data"):
        MeanSubtraction().adapt([])


def test_noise_is_in_pixel_units():
    x = np.full((64, 16, 16, 3), 128.0, np.float32)
    augment = classic_augmentation(flip=False, noise=8.0, seed=0)
    out = keras.ops.convert_to_numpy(augment(x, training=True))
    assert 7.5 < float((out - x).std()) < 8.5  # 8 of 255 levels, beyond GaussianNoise's cap of 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(augment(x)), x, rtol=1e-6)
    with pytest.raises(ValueError, match=r"noise must be in \(0, 255\] \(pixel units\), got 300"):
        classic_augmentation(noise=300)
