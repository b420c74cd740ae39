"""torchvision .pth and legacy Keras .h5 weights into the zoo's models, checked numerically."""

from __future__ import annotations

import os
import pickle
import zipfile

import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.errors import UserError
from kerascnn.weights.torch_reader import read_state_dict
from tests.h5_legacy import write_legacy_h5

torch = pytest.importorskip("torch")
from tests.torch_models import VGG16, AlexNet, randomize  # noqa: E402


def _images(n: int, seed: int = 0) -> np.ndarray:
    """Random NHWC images, normalised as torchvision's inputs are."""
    return np.random.default_rng(seed).normal(size=(n, 224, 224, 3)).astype("float32")


def _torch_logits(net, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-format"])
def test_alexnet_pth_converts_to_the_same_logits(tmp_path, legacy):
    net = randomize(AlexNet())
    path = tmp_path / "alexnet-owt-test.pth"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    assert zipfile.is_zipfile(path) is not legacy
    model = kerascnn.create_model("alexnet", weights=str(path), classifier_activation=None)
    x = _images(4)
    expected = _torch_logits(net, x)
    assert expected.std() > 0.5  # logits that would show a wrong conversion
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_vgg16_pth_converts_to_the_same_logits(tmp_path):
    net = randomize(VGG16())
    path = tmp_path / "vgg16-test.pth"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=False)
    model = kerascnn.create_model("vgg16", weights=str(path), classifier_activation=None)
    x = _images(1, seed=1)
    expected = _torch_logits(net, x)
    assert expected.std() > 0.5
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4, rtol=0)


def test_include_top_false_skips_the_classifier_of_a_full_pth(tmp_path):
    net = randomize(AlexNet(), seed=3)
    path = tmp_path / "alexnet.pth"
    torch.save(net.state_dict(), path)
    model = kerascnn.create_model("alexnet", include_top=False, weights=str(path))
    x = _images(2)
    with torch.no_grad():
        expected = net.features(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = model.predict(x, verbose=0).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_reader_matches_torch_load_for_every_dtype_and_layout(tmp_path):
    state = {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(5).half(),
        "bf16": torch.randn(6).bfloat16(),
        "i64": torch.arange(7),
        "u8": torch.arange(8, dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "transposed": torch.randn(4, 3).t(),  # non-contiguous strides
        "slice": torch.randn(10)[2:7],  # storage offset
        "scalar": torch.tensor(2.5),
    }
    for legacy in (False, True):
        path = tmp_path / f"state{legacy}.pth"
        torch.save(state, path, _use_new_zipfile_serialization=not legacy)
        ours = read_state_dict(path)
        theirs = torch.load(path, weights_only=True)
        assert list(ours) == list(theirs)
        for key, tensor in theirs.items():
            np.testing.assert_array_equal(ours[key], tensor.float().numpy().astype(ours[key].dtype))
            assert ours[key].shape == tuple(tensor.shape)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-format"])
def test_pickled_code_in_a_pth_is_never_executed(tmp_path, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save(
        {"fc.weight": torch.ones(2, 2), "x": _Exploit(marker)},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    with pytest.raises(UserError, match=r"evil.pth: cannot read this .pth file safely .*system"):
        read_state_dict(path)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # torch's own safe loader agrees
        torch.load(path, weights_only=True)


def test_a_storage_in_a_legacy_pth_header_is_refused_in_one_line(tmp_path):
    """The header (magic, protocol, system info) holds no tensors: a storage there is refused
    as the unpickler's error, which becomes the one-line UserError (it was a TypeError)."""
    from kerascnn.weights.torch_reader import _LEGACY_MAGIC

    sentinel = object()

    class StorageInHeader(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if obj is sentinel else None

    path = tmp_path / "odd.pth"
    with open(path, "wb") as f:
        pickle.dump(_LEGACY_MAGIC, f, protocol=2)
        StorageInHeader(f, protocol=2).dump([sentinel])
    with pytest.raises(UserError, match=r"odd.pth: cannot read .*\(unexpected persistent id"):
        read_state_dict(path)


def test_mismatching_pth_gets_a_clear_error(tmp_path):
    small = tmp_path / "alexnet10.pth"
    torch.save(AlexNet(num_classes=10).state_dict(), small)  # torch's own initialisation
    with pytest.raises(UserError, match=r"alexnet10.pth: its layers \(5 conv.*do not match vgg16"):
        kerascnn.create_model("vgg16", include_top=False, weights=str(small))
    with pytest.raises(UserError, match=r"classifier.6 has shapes .*predictions needs"):
        kerascnn.create_model("alexnet", weights=str(small))
    assert kerascnn.create_model("alexnet", weights=str(small), classes=10).output_shape == (
        None,
        10,
    )


@pytest.mark.backend
def test_legacy_h5_loads_by_name_and_skips_a_full_top(tmp_path):
    keras.utils.set_random_seed(1)
    full = kerascnn.create_model("alexnet")
    path = write_legacy_h5(full, tmp_path / "alexnet_full.h5")
    base = kerascnn.create_model("alexnet", include_top=False, weights=str(path))
    assert [layer.name for layer in base.layers if layer.weights][-1] == "conv5"
    for layer in (layer for layer in base.layers if layer.weights):
        for ours, theirs in zip(layer.weights, full.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_mismatching_h5_gets_a_clear_error(tmp_path):
    path = write_legacy_h5(kerascnn.create_model("alexnet_cifar"), tmp_path / "cifar.h5")
    with pytest.raises(UserError, match=r"cifar.h5: has no weights for layer\(s\) conv1, conv2"):
        kerascnn.create_model("alexnet", include_top=False, weights=str(path))
    other = write_legacy_h5(kerascnn.create_model("alexnet_cifar", classes=3), tmp_path / "c3.h5")
    with pytest.raises(UserError, match=r"c3.h5: does not fit alexnet_cifar"):
        kerascnn.create_model("alexnet_cifar", weights=str(other))


def test_batch_norm_layers_convert_too(tmp_path):
    net = VGG16(batch_norm=True).eval()
    randomize(net.features, seed=2)  # the classifier is not used: features only
    path = tmp_path / "vgg16_bn.pth"
    torch.save(net.state_dict(), path)
    model = kerascnn.create_model(
        "vgg16_bn", include_top=False, input_shape=(32, 32, 3), weights=str(path)
    )
    x = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype("float32")
    with torch.no_grad():
        expected = net.features(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = model.predict(x, verbose=0).transpose(0, 3, 1, 2)
    assert expected.std() > 0.1
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
