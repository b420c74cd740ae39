"""kerascnn's VGG16 and keras.applications.VGG16 compute the same function."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerascnn
from tests.h5_legacy import write_legacy_h5

pytestmark = pytest.mark.backend


@pytest.mark.slow
def test_vgg16_matches_keras_applications_through_a_legacy_h5_file(tmp_path):
    keras.utils.set_random_seed(0)
    reference = keras.applications.VGG16(weights=None)
    path = write_legacy_h5(reference, tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    ours = kerascnn.create_model("vgg16", weights=str(path))
    x = np.random.default_rng(0).uniform(-120, 130, size=(2, 224, 224, 3)).astype("float32")
    expected = np.asarray(reference.predict(x, verbose=0))
    got = np.asarray(ours.predict(x, verbose=0))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # and the logits, not only the softmax: compare fc2 outputs
    feat_ref = keras.Model(reference.input, reference.get_layer("fc2").output)
    feat_ours = keras.Model(ours.input, ours.get_layer("fc2").output)
    np.testing.assert_allclose(
        feat_ours.predict(x, verbose=0), feat_ref.predict(x, verbose=0), rtol=1e-4, atol=1e-4
    )
