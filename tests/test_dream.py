"""DeepDream really ascends: objective, where it changes the image, seeds, octaves, tiles.

Small random-weight models and small images; backend-neutral (also run on JAX).
"""

from __future__ import annotations

from itertools import pairwise

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.interpret import ascent
from kerascnn.interpret.dream import deep_dream, dream_objective

pytestmark = pytest.mark.backend


def tiny_model(record: list | None = None) -> keras.Model:
    """Rescale, two 3x3 convs, a 2x2 average pool, a 3x3 conv: receptive field 10 pixels.

    Average, not max, pooling: the gradient of a max pool goes to one pixel of
    each 2x2 window, which draws a fine grid even on smooth areas of an image
    when the weights are random (trained networks respond little there).
    """
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    if record is not None:
        x = Record(record)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.AveragePooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c3")(x)
    return keras.Model(inputs, x, name="tiny")


class Record(keras.layers.Layer):
    """Identity that notes the spatial size of every input it is traced or called with."""

    def __init__(self, seen: list, **kwargs):
        super().__init__(**kwargs)
        self.note = seen.append  # a list attribute would be copied by Keras tracking

    def call(self, x):
        self.note(tuple(x.shape[1:3]))
        return x


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    wave = 60 * np.sin(xx * 0.9) * np.cos(yy * 0.7)
    return np.clip(128 + wave[..., None] + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def gesture():
    keras.utils.set_random_seed(1)
    return kerascnn.create_model("gesture_cnn")


def test_objective_is_larger_after_the_dream(gesture):
    image = textured(48, 64)
    out = deep_dream(gesture, image, octaves=2, steps=6, tile_size=None, seed=0, progress=False)
    assert out.shape == image.shape and out.dtype == np.float32
    before = dream_objective(gesture, image, tile_size=None)
    after = dream_objective(gesture, out, tile_size=None)
    assert after > 1.2 * before


def roughness(change: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: 0 for a uniform shift."""
    return (np.abs(np.diff(change, axis=0)).mean() + np.abs(np.diff(change, axis=1)).mean()) / 2


def test_change_is_new_structure_in_textured_regions_not_a_uniform_shift():
    keras.utils.set_random_seed(0)
    model = tiny_model()
    yy, xx = np.mgrid[:64, :96]
    image = np.empty((64, 192, 3), np.float32)
    image[:, :96] = (100 + 56 * (yy / 64 + xx / 192))[..., None]  # smooth: no texture
    image[:, 96:] = textured(64, 96)
    out = deep_dream(
        model, image, {"c2": 1.0, "c3": 1.0}, octaves=2, steps=10, tile_size=None, jitter=4,
        seed=1, progress=False, precision="float32",
    )  # fmt: skip
    change = out - image
    smooth, texture = change[8:-8, 8:72], change[8:-8, 120:-8]  # 24 px from the seam
    assert roughness(texture) > 2  # grey levels: visible new structure
    assert roughness(texture) > 10 * roughness(smooth)


def test_the_image_first_still_works_with_a_warning(gesture):
    image = textured(24, 24)
    kwargs = dict(octaves=1, steps=1, tile_size=None, seed=0, progress=False)
    with pytest.warns(DeprecationWarning, match=r"deep_dream\(image, model\).*deep_dream\(model"):
        old = deep_dream(image, gesture, **kwargs)
    np.testing.assert_array_equal(old, deep_dream(gesture, image, **kwargs))
    with pytest.warns(DeprecationWarning, match=r"dream_objective\(image, model\)"):
        assert dream_objective(image, gesture, tile_size=None) == pytest.approx(
            dream_objective(gesture, image, tile_size=None)
        )


def test_same_seed_same_dream_other_seed_other_dream(gesture):
    image = textured(40, 56, seed=3)
    kwargs = dict(octaves=2, steps=3, tile_size=32, progress=False)
    a = deep_dream(gesture, image, seed=7, **kwargs)
    b = deep_dream(gesture, image, seed=7, **kwargs)
    c = deep_dream(gesture, image, seed=8, **kwargs)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.1


def test_three_octaves_call_the_model_at_three_sizes():
    seen: list = []
    model = tiny_model(record=seen)
    image = textured(50, 70)
    deep_dream(model, image, {"c3": 1.0}, octaves=3, octave_scale=1.4, steps=2, tile_size=None,
               seed=0, progress=False, precision="float32")  # fmt: skip
    expected = {(round(50 / 1.4**i), round(70 / 1.4**i)) for i in range(3)}
    traced = {shape for shape in seen if all(isinstance(d, int) for d in shape)}  # not symbolic
    assert traced == expected


def test_tiled_and_untiled_gradients_agree_away_from_tile_edges():
    keras.utils.set_random_seed(2)
    extractor = ascent.feature_extractor(tiny_model(), ["c2", "c3"])

    def objective(features):
        return sum(keras.ops.mean(keras.ops.square(f)) for f in features)

    fn = ascent.gradient_fn(extractor, objective, "none", "float32")
    image = textured(64, 96)[None]
    loss, whole = ascent.tiled_gradient(fn, image, None)
    tiled_loss, tiled = ascent.tiled_gradient(fn, image, 32, align=2)
    assert [s.start for s in ascent.tile_slices(96, 32, 2)] == [0, 32, 64]
    # 12 px (more than the 10 px receptive field) from the inner tile edges at 32 and 64
    rows = np.r_[0:20, 44:64]
    cols = np.r_[0:20, 44:52, 76:96]
    inside_whole = whole[0][np.ix_(rows, cols)]
    inside_tiled = tiled[0][np.ix_(rows, cols)]
    assert np.abs(inside_whole).mean() > 0
    np.testing.assert_allclose(
        inside_tiled, inside_whole, rtol=1e-3, atol=1e-6 * np.abs(whole).max()
    )
    assert tiled_loss == pytest.approx(loss, rel=0.2)
    assert not np.allclose(tiled[0, 28:36], whole[0, 28:36])  # the edges do differ
    # jitter: the gradient of the rolled image, rolled back, without rolling whole arrays
    _, shifted = ascent.tiled_gradient(fn, image, 32, align=2, shift=(5, -7))
    _, rolled = ascent.tiled_gradient(fn, np.roll(image, (5, -7), axis=(1, 2)), 32, align=2)
    np.testing.assert_allclose(shifted, np.roll(rolled, (-5, 7), axis=(1, 2)), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("tile", "align", "minimum"), [(512, 16, 32), (32, 16, 16), (64, 8, 63)])
def test_tiles_cover_the_image_without_slivers(tile, align, minimum):
    for size in (33, 40, 100, 130, 513, 1000, 4000):
        tiles = ascent.tile_slices(size, tile, align, minimum)
        lengths = [s.stop - s.start for s in tiles]
        assert tiles[0].start == 0 and tiles[-1].stop == size
        assert all(a.stop == b.start and b.start % align == 0 for a, b in pairwise(tiles))
        assert len(set(lengths[:-1])) <= 1 and max(lengths) < tile + align + max(align, minimum)
        assert min(lengths) >= min(size, max(align, minimum))


def test_guide_channels_alpha_and_dtype(gesture):
    rgba = np.concatenate([textured(40, 48), np.full((40, 48, 1), 200.0)], axis=-1)
    out = deep_dream(gesture, rgba.astype(np.uint8), channels=[0, 3], octaves=1, steps=2,
                     guide=textured(32, 32, seed=5), seed=0, progress=False)  # fmt: skip
    assert out.shape == (40, 48, 4) and out.dtype == np.uint8
    assert (out[..., 3] == 200).all()
    with pytest.raises(kerascnn.UserError, match="channels for"):
        deep_dream(gesture, rgba, channels=[999], progress=False)
    with pytest.raises(kerascnn.UserError, match="at least"):
        deep_dream(gesture, np.zeros((4, 4, 3)), progress=False)
