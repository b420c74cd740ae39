"""The registry: listing, creating, registering, and plugins from a really installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import kerascnn
from kerascnn import registry


def test_list_models_and_patterns():
    names = kerascnn.list_models()
    assert {"vgg16", "vgg16_bn", "alexnet", "alexnet_cifar", "gesture_cnn"} <= set(names)
    assert names == sorted(names)
    assert kerascnn.list_models("vgg*") == ["vgg16", "vgg16_bn"]
    assert kerascnn.list_models("nothing*") == []


def test_unknown_model_suggests_a_close_name():
    with pytest.raises(kerascnn.UnknownModelError, match="did you mean 'vgg16'"):
        kerascnn.create_model("vgg61")
    with pytest.raises(ValueError, match="unknown model 'zzz'"):
        kerascnn.get_model_card("zzz")


def test_register_model_and_duplicates():
    calls = []

    @kerascnn.register_model
    def my_test_net(**kwargs):
        calls.append(kwargs)
        return "built"

    try:
        assert "my_test_net" in kerascnn.list_models()
        assert kerascnn.create_model("my_test_net", classes=4) == "built"
        assert calls == [{"classes": 4}]
        with pytest.raises(ValueError, match="already registered"):
            kerascnn.register_model("my_test_net")(lambda **kw: None)
        with pytest.raises(ValueError, match="already registered"):
            kerascnn.register_model("vgg16")(lambda **kw: None)
    finally:
        registry._registered.pop("my_test_net", None)
        registry._registered_cards.pop("my_test_net", None)


PLUGIN_SETUP = """\
[metadata]
name = kerascnn-demo-plugin
version = 0.1

[options]
py_modules = kerascnn_demo_plugin

[options.entry_points]
kerascnn.models =
    demo_net = kerascnn_demo_plugin:demo_net
"""

PLUGIN_MODULE = """\
import keras

def demo_net(include_top=True, weights=None, input_shape=(8, 8, 3), classes=2, **kwargs):
    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, name="predictions")(x), name="demo")
"""


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """A real distribution, built and installed by pip into a folder of its own."""
    src = tmp_path_factory.mktemp("plugin_src")
    (src / "setup.cfg").write_text(PLUGIN_SETUP)
    (src / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    (src / "kerascnn_demo_plugin.py").write_text(PLUGIN_MODULE)
    target = tmp_path_factory.mktemp("plugin_site")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    cmd += ["--no-build-isolation", "--target", str(target), str(src)]
    subprocess.run(cmd, check=True, capture_output=True)
    assert list(target.glob("kerascnn_demo_plugin-0.1.dist-info/entry_points.txt"))
    return target


def test_plugin_models_come_from_an_installed_distribution(installed_plugin):
    script = textwrap.dedent(
        """
        import json, sys
        import kerascnn
        names = kerascnn.list_models()
        listed_without_keras = "keras" not in sys.modules
        card = kerascnn.get_model_card("demo_net")
        model = kerascnn.create_model("demo_net", classes=5)
        print(json.dumps({"names": names, "light": listed_without_keras,
                          "source": card.source, "out": list(model.output_shape)}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(installed_plugin)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "demo_net" in result["names"] and "vgg16" in result["names"]
    assert result["light"] is True
    assert result["source"] == "kerascnn-demo-plugin"
    assert result["out"] == [None, 5]


def test_plugin_is_absent_without_its_distribution():
    assert "demo_net" not in kerascnn.list_models()
