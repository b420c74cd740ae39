"""alexnet_cifar(whiten=k), the CIFAR-10 recipe's helpers and the bundled cifar10 weights."""

from __future__ import annotations

import hashlib
from importlib import resources

import h5py
import keras
import numpy as np
import pytest

import kerascnn
from kerascnn.errors import UserError
from kerascnn.zoo.recipes import alexnet_cifar_cifar10 as recipe
from kerascnn.zoo.recipes.cifar_data import read_split

SMALL = {"filters": (8, 16), "dense": (), "dropout": 0.0}


def _smooth_images(n: int, seed: int = 0) -> np.ndarray:
    """Correlated pixels (neighbours and channels alike), so whitening has work to do."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, 33, 33, 1)) + rng.uniform(0, 60, (n, 33, 33, 3))
    x = (x[:, 1:, 1:] + x[:, :-1, :-1] + x[:, 1:, :-1]) / 3
    return np.clip(x, 0, 255).astype(np.uint8)


def test_whiten_adds_a_fixed_first_layer_and_keeps_the_default():
    card = kerascnn.get_model_card("alexnet_cifar")
    assert kerascnn.create_model("alexnet_cifar").count_params() == card.params
    model = kerascnn.create_model("alexnet_cifar", whiten=2, **SMALL)
    layer = model.get_layer("whiten")
    assert not layer.trainable
    assert tuple(layer.kernel.shape) == (2, 2, 3, 24)
    assert model.get_layer("whiten_relu").output.shape[1:3] == (31, 31)
    with pytest.raises(UserError, match="whiten must be"):
        kerascnn.create_model("alexnet_cifar", whiten=True)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pool_head_pools_the_last_stage(kind):
    model = kerascnn.create_model("alexnet_cifar", global_pool=kind, **SMALL)
    features = keras.Model(model.input, model.get_layer("stage2_pool").output)
    x = _smooth_images(3).astype("float32")
    reduce = np.mean if kind == "avg" else np.max
    expected = reduce(np.asarray(features(x)), axis=(1, 2))
    pooled = keras.Model(model.input, model.get_layer("global_pool").output)
    np.testing.assert_allclose(np.asarray(pooled(x)), expected, rtol=1e-5, atol=1e-6)
    assert model.get_layer("predictions").kernel.shape == (16, 10)  # 16 channels, not 8*8*16
    with pytest.raises(UserError, match="unknown global_pool 'sum'; use 'max', 'avg' or None"):
        kerascnn.create_model("alexnet_cifar", global_pool="sum")


def test_whitened_model_round_trips(tmp_path):
    model = kerascnn.create_model("alexnet_cifar", whiten=3, **SMALL)
    path = tmp_path / "whitened.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert not loaded.get_layer("whiten").trainable
    x = _smooth_images(4).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_whitening_kernel_whitens_patches():
    images = _smooth_images(300)
    kernel, bias = recipe.whitening_kernel(images, 2, eps=0.0, count=300, seed=0)
    model = kerascnn.create_model("alexnet_cifar", whiten=2, **SMALL)
    model.get_layer("whiten").set_weights([kernel, bias])
    whiten = keras.Model(model.input, model.get_layer("whiten").output)
    out = np.asarray(whiten.predict(images.astype("float32"), verbose=0), dtype=np.float64)
    half = out[..., :12].reshape(-1, 12)
    np.testing.assert_allclose(half.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.cov(half, rowvar=False), np.eye(12), atol=1e-3)
    np.testing.assert_allclose(out[..., 12:], -out[..., :12], atol=1e-3)


def test_float16_export_loads_into_a_float32_model(tmp_path):
    keras.utils.set_random_seed(0)  # deterministic weights: the check below is not luck
    model = kerascnn.create_model("alexnet_cifar", whiten=2, **SMALL)
    model.save_weights(tmp_path / "full.weights.h5")
    small = recipe.export_float16(tmp_path / "full.weights.h5", tmp_path / "half.weights.h5", 500)
    with h5py.File(small) as f:
        dtypes = []
        f.visititems(lambda _, item: dtypes.append(getattr(item, "dtype", None)))
    assert np.dtype("float16") in dtypes and np.dtype("float32") in dtypes
    loaded = kerascnn.create_model("alexnet_cifar", whiten=2, weights=str(small), **SMALL)
    assert all(w.dtype == "float32" for w in loaded.weights)
    x = _smooth_images(8).astype("float32")
    # float16 keeps ~3 significant digits, so probabilities move by up to ~1e-2 (seen: 2.2e-3
    # on unseeded runs); a wrongly loaded file differs by far more
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-2)


CARD = kerascnn.get_model_card("alexnet_cifar").weights["cifar10"]


def _tuples(args: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def test_bundled_weights_match_their_card():
    data = (resources.files("kerascnn.zoo") / CARD.file).read_bytes()
    assert CARD.hash == "sha256:" + hashlib.sha256(data).hexdigest()
    assert len(data) == CARD.size <= 5_000_000
    assert CARD.model_args == _tuples(recipe.RECIPE["model_args"])
    assert CARD.tta == recipe.RECIPE["tta"]  # the card's default TTA is the one its recipe scores
    model = kerascnn.create_model("alexnet_cifar", weights="cifar10")
    assert model.get_layer("whiten").get_weights()[0].std() > 0.01
    with h5py.File(resources.files("kerascnn.zoo") / CARD.file) as f:
        stored = {tuple(d.shape): d[()] for d in _datasets(f)}
    head = model.get_layer("predictions").kernel
    np.testing.assert_array_equal(np.asarray(head), stored[tuple(head.shape)].astype("float32"))


def _datasets(group: h5py.Group) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    group.visititems(lambda _, item: found.append(item) if isinstance(item, h5py.Dataset) else None)
    return found


def test_bundled_weights_accuracy_on_a_fixed_test_sample(data_dir):
    archive = data_dir / "cifar10-jpeg" / "cifar10-jpeg.zip"
    if not archive.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {archive}")
    x, y = recipe.load_fixed_sample(archive)
    assert len(y) == 100
    model = kerascnn.create_model("alexnet_cifar", weights="cifar10")
    errors = int(np.sum(np.argmax(model.predict(x.astype("float32"), verbose=0), axis=1) != y))
    # the card records this sample's errors next to the full test set's figure
    assert abs(errors - CARD.accuracy["fixed_sample_errors"]) <= 1
    assert abs((100 - errors) - CARD.accuracy["top1"]) <= 8


def test_recipe_augmentation_gives_reflect_padded_translations():
    """The engine's augmentation of the recipe's entry (2 pixels of reflect padding); its
    alternating flips are the feeds' (tests/test_flips.py), so no image comes out mirrored."""
    from kerascnn.training.settings import augmenter

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 8, 8, 3)).astype("float32")
    spec = {**recipe.RECIPE["augmentation"], "pad": 2}
    assert spec["pad_mode"] == "reflect" and spec["flip"] == "alternate"
    augment = augmenter(spec, seed=1)
    seen, moved = [], 0
    for _ in range(2):
        images = keras.ops.convert_to_numpy(augment(x, training=True))
        assert images.shape == (50, 8, 8, 3)
        for source, image in zip(x, images, strict=True):
            # the source, reflect-padded by 2 and cropped, gives this image
            found = False
            for src in (source,):
                padded = np.pad(src, [(2, 2), (2, 2), (0, 0)], mode="reflect")
                for oy in range(5):
                    for ox in range(5):
                        if np.array_equal(padded[oy : oy + 8, ox : ox + 8], image):
                            found = True
                            moved += (oy, ox) != (2, 2)
            assert found
        seen.append(images)
    assert moved > 50  # most images were translated, in both draws
    assert not np.array_equal(seen[0], seen[1])  # a new draw every batch
    np.testing.assert_array_equal(augment(x, training=False), x)  # inference: unchanged


def test_a_shorter_budget_scales_the_warm_up_with_it():
    assert (recipe.RECIPE["epochs"], recipe.RECIPE["warmup_epochs"]) == (20, 5)
    for epochs, warmup in ((24, 6), (20, 5), (16, 4), (8, 2), (4, 1), (2, 1), (1, 0), (40, 10)):
        scaled = recipe.at_epochs(recipe.RECIPE, epochs)
        assert (scaled["epochs"], scaled["warmup_epochs"]) == (epochs, warmup)
    assert recipe.at_epochs({**recipe.RECIPE, "warmup_epochs": 0}, 4)["warmup_epochs"] == 0
    assert recipe.RECIPE["epochs"] == 20  # a copy


def test_recipe_overrides_merge_and_reject_unknown_keys():
    merged = recipe.with_overrides(recipe.RECIPE, {"epochs": 3, "model_args": {"whiten": 0}})
    assert merged["epochs"] == 3 and merged["model_args"]["whiten"] == 0
    assert merged["model_args"]["filters"] == recipe.RECIPE["model_args"]["filters"]
    assert recipe.RECIPE["model_args"]["whiten"] != 0  # the recipe itself is untouched
    with pytest.raises(UserError, match="unknown recipe key 'epoch'"):
        recipe.with_overrides(recipe.RECIPE, {"epoch": 3})


def _cifar_zip(path, per_class=(40, 10), colours=None):
    """A CIFAR-10-shaped JPEG archive: by default 3 classes of noisy colour patches."""
    import io
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(0)
    colours = colours or {"cat": (200, 40, 40), "dog": (40, 200, 40), "ship": (40, 40, 200)}
    with zipfile.ZipFile(path, "w") as archive:
        for split, count in zip(("train", "test"), per_class, strict=True):
            for name, rgb in colours.items():
                for i in range(count):
                    pixels = np.clip(rng.normal(rgb, 50, (32, 32, 3)), 0, 255).astype(np.uint8)
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, format="JPEG")
                    archive.writestr(f"{split}/{name}/{i:04d}.jpg", buffer.getvalue())
    return path


@pytest.mark.backend
def test_recipe_runs_end_to_end_on_a_small_archive(tmp_path):
    _cifar_zip(tmp_path / "cifar10-jpeg.zip")
    small = recipe.with_overrides(
        recipe.RECIPE,
        {
            "model_args": {"filters": [8, 16], "convs_per_stage": 1},
            "whitening": {"patches": 50},
            "epochs": 4,
            "batch_size": 16,
            "learning_rate": 0.05,
            "warmup_epochs": 1,
            "mixed_precision": None,
        },
    )
    result = recipe.run(tmp_path, tmp_path / "out", small)  # the folder holding the archive
    assert result["classes"] == ["cat", "dog", "ship"]
    assert result["count"] == result["test_images"] == 30
    assert result["accuracy"] >= 0.9  # colours are easy: a recipe that does not learn fails
    assert result["errors"] == round(30 * (1 - result["accuracy"]))
    assert result["tta"] == "flip+shift"  # the recipe's TTA, its card's default, is scored beside
    assert result["errors_tta"] == round(30 * (1 - result["accuracy_tta"]))
    weights = tmp_path / "out" / "alexnet_cifar_cifar10.weights.h5"
    assert result["weights"] == str(weights) and weights.is_file()
    assert not (tmp_path / "out" / "checkpoint.weights.h5").exists()
    x_test, y_test, _ = read_split(tmp_path, "test")  # with TTA: the mean of the two views
    model = kerascnn.create_model("alexnet_cifar", weights=str(weights), classes=3,
                                  **recipe.builder_args(small))  # fmt: skip
    mean = (model.predict(x_test, verbose=0) + model.predict(x_test[:, :, ::-1], verbose=0)) / 2
    flip = recipe.evaluate(small, weights, x_test, y_test, 3, tta="flip")
    assert flip["errors"] == int((mean.argmax(axis=1) != y_test).sum())
    history = (tmp_path / "out" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 4 and "val_accuracy" in history[0]
    with pytest.raises(UserError, match="no cifar10-jpeg.zip there"):
        recipe.run(tmp_path / "out", tmp_path / "again", small)


def test_recipe_module_scores_the_bundled_weights(tmp_path, capsys):
    import json

    colours = {name: (25 * i, 200 - 20 * i, 90) for i, name in enumerate(CARD.classes)}
    _cifar_zip(tmp_path / "cifar10-jpeg.zip", (1, 3), colours)
    recipe.main(["--evaluate", str(tmp_path / "cifar10-jpeg.zip")])
    printed = json.loads(capsys.readouterr().out)
    assert printed["test_images"] == 30 and 0 <= printed["errors"] <= 30
    assert printed["card_top1"] == CARD.accuracy["top1"]
    with pytest.raises(SystemExit, match="--evaluate DATA"):
        recipe.main(["--evaluate"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["d", "o", "[1, 2]"], "OVERRIDES_JSON must be a JSON object"),
        (["d", "o", "{epochs: 3"], "OVERRIDES_JSON must be a JSON object"),
        (["d", "o", '{"epoch": 3}'], "unknown recipe key 'epoch'"),
        (["d", "o", '{"whitening": {"peak": 9}}'], "unknown key 'peak' in recipe['whitening']"),
        (["/nonexistent", "o"], "no cifar10-jpeg.zip there"),
        (["--evaluate", "/nonexistent"], "no cifar10-jpeg.zip there"),
    ],
)
def test_recipe_command_mistakes_are_one_line(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        recipe.main(argv)
    text = str(exit_info.value.code)
    assert text.startswith("Error: ") and message in text and "\n" not in text
    assert not (tmp_path / "o").exists()  # nothing written for a mistake


def test_recipe_schedule_and_augmentation_mistakes(tmp_path):
    _cifar_zip(tmp_path / "cifar10-jpeg.zip", (2, 1))
    short = recipe.with_overrides(recipe.RECIPE, {"epochs": 5})  # warm-up is 5 epochs
    with pytest.raises(UserError, match=r"epochs \(5\) must be more than warmup_epochs \(5\)"):
        recipe.run(tmp_path, tmp_path / "out", short)
    wrap = recipe.with_overrides(recipe.RECIPE, {"augmentation": {"pad_mode": "wrap"}})
    with pytest.raises(UserError, match="mode must be 'constant' or 'reflect', got 'wrap'"):
        recipe.run(tmp_path, tmp_path / "out", wrap)
    assert not (tmp_path / "out").exists()  # refused before the run folder is written
