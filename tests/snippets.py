"""Code that tests run in subprocesses (backend and device settings must precede Keras)."""

# Prepended to a script: `import tensorflow` raises, so the script proves it needs none.
NO_TENSORFLOW = r"""
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")
sys.meta_path.insert(0, _NoTensorFlow())
"""

# A three-class model for 16x16 images, small enough to train in seconds: `build()`.
TINY_MODEL = r"""
import keras

def build():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
"""
