"""Every zoo model, with every option that adds a custom layer, reloads after ``import kerascnn``
alone: plain ``keras.saving.load_model`` in a fresh process, no ``custom_objects``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kerascnn

pytestmark = pytest.mark.backend

# model -> builder options that add one of the zoo's custom layers (or none: the plain model)
OPTIONS = {
    "alexnet": [{}, {"lrn": True}],  # AdaptiveAveragePooling; LocalResponseNormalization
    "alexnet_cifar": [{}, {"norm": "lrn"}],
    "gesture_cnn": [{}],
    "vgg16": [{}],
    "vgg16_bn": [{}],
}

LOADER = """
import json, sys
import numpy as np
import kerascnn, keras
assert "tensorflow" not in sys.modules or keras.backend.backend() == "tensorflow"
x = np.load(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    out[path] = np.asarray(model.predict(x[..., : model.input_shape[1], : model.input_shape[2], :],
                                         verbose=0)).tolist()
print(json.dumps(out))
"""


def test_options_cover_every_zoo_model():
    zoo = {m for m in kerascnn.list_models() if kerascnn.get_model_card(m).source == "kerascnn"}
    assert set(OPTIONS) == zoo


@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.slow)])
def test_saved_models_reload_in_a_fresh_process(tmp_path, backend):
    pytest.importorskip(backend)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected, paths = {}, []
    for name, options in OPTIONS.items():
        for i, opts in enumerate(options):
            card = kerascnn.get_model_card(name)
            side = max(card.min_input_size, 32)
            model = kerascnn.create_model(
                name, include_top=False, pooling="avg", input_shape=(side, side, 3), **opts
            )
            path = str(tmp_path / f"{name}_{i}.keras")
            model.save(path)
            paths.append(path)
            expected[path] = np.asarray(model.predict(x[:, :side, :side], verbose=0))
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path / "x.npy"), *paths],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for path in paths:
        np.testing.assert_allclose(got[path], expected[path], rtol=1e-4, atol=1e-4)


def test_help_still_does_not_import_keras():
    code = "import sys, kerascnn, kerascnn.cli.main; assert 'keras' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
