"""The two-phase fine-tuning recipe and ``kerascnn finetune``, on small image folders."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import kerascnn
from kerascnn.cli.main import cli
from kerascnn.errors import UserError
from kerascnn.images import save_image
from kerascnn.transfer import finetune

COLOURS = {"blue": (40, 60, 200), "green": (40, 190, 60), "red": (210, 50, 40)}


@pytest.fixture
def folder(tmp_path):
    """Three classes of 12 noisy colour patches (40x40 PNG), one folder per class."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(rgb, 40, (40, 40, 3)), 0, 255)
            save_image(root / name / f"{i}.png", pixels)
    return root


def test_finetune_two_phases_and_outputs(folder, tmp_path):
    keras.utils.set_random_seed(0)
    base = kerascnn.create_model("gesture_cnn", filters=(4, 8, 8, 8), hidden=16)
    before = {n: base.get_layer(n).kernel.numpy().copy() for n in ("block1_conv1", "block4_conv2")}
    out = tmp_path / "out"
    result = finetune(
        base,
        folder,
        head_epochs=2,
        finetune_epochs=1,
        unfreeze="top-1-blocks",
        batch_size=8,
        output_dir=out,
        verbose=0,
    )
    assert result.classes == sorted(COLOURS)
    assert result.phases == {"head": (0, 2), "finetune": (2, 3)}
    assert len(result.phase_history("head")["loss"]) == 2
    assert len(result.phase_history("finetune")["loss"]) == 1
    assert "val_accuracy" in result.phase_history("finetune")
    model = result.model
    assert model.output_shape == (None, 3)
    # phase 2 trained only the top block (block4) of the backbone, and the head
    np.testing.assert_array_equal(
        model.get_layer("block1_conv1").kernel.numpy(), before["block1_conv1"]
    )
    assert not np.array_equal(
        model.get_layer("block4_conv2").kernel.numpy(), before["block4_conv2"]
    )
    assert isinstance(model.optimizer, keras.optimizers.MultiOptimizer)
    assert {
        "args.json",
        "backup",
        "best.json",
        "best.keras",
        "history.csv",
        "history.png",
        "model.classes.json",
        "model.keras",
        "split.json",
    } <= {p.name for p in out.iterdir()}
    meta = json.loads((out / "model.classes.json").read_text())
    assert meta == {"classes": ["blue", "green", "red"], "preprocessing": "none"}
    history = list(csv.DictReader((out / "history.csv").open()))
    losses = [float(row["loss"]) for row in history]
    expected = result.phase_history("head")["loss"] + result.phase_history("finetune")["loss"]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
    assert json.loads((out / "args.json").read_text())["head_epochs"] == 2
    loaded = keras.saving.load_model(out / "model.keras")
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_finetune_errors(folder, tmp_path):
    model = kerascnn.create_model("alexnet_cifar", filters=(4, 4, 4))
    with pytest.raises(UserError, match=r"has 3 class folders \(blue, green, red\) but classes=5"):
        finetune(model, folder, classes=5)
    with pytest.raises(UserError, match="classes must be at least 2"):
        finetune(model, folder, classes=1)
    with pytest.raises(UserError, match="no such folder"):
        finetune(model, tmp_path / "missing")
    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    save_image(one / "only" / "a.png", np.zeros((8, 8, 3)))
    save_image(one / "only" / "b.png", np.zeros((8, 8, 3)))
    with pytest.raises(UserError, match="need at least 2"):
        finetune(model, one, validation_split=0.0)
    plain = kerascnn.create_model("alexnet_cifar", filters=(4, 4), norm=None)
    with pytest.raises(UserError, match="has no BatchNormalization layers; drop adapt_batch_norm"):
        finetune(plain, folder, head_epochs=1, finetune_epochs=0, adapt_batch_norm=True)
    with pytest.raises(UserError, match="'top-9-blocks'.* has 3 blocks"):
        finetune(model, folder, head_epochs=0, finetune_epochs=1, unfreeze="top-9-blocks")


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *map(str, args)], catch_exceptions=False)


def test_cli_finetune(folder, tmp_path):
    out = tmp_path / "cli_out"
    result = run(
        "finetune", "alexnet_cifar", "--data", folder, "--head-epochs", 1,
        "--finetune-epochs", 1, "--unfreeze", "stage3_conv1", "--lr", 0.01,
        "--backbone-lr-mult", 0.2, "--batch-size", 8, "--adapt-batch-norm", "--output", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 classes" in result.output and "model.keras" in result.output
    assert json.loads((out / "model.classes.json").read_text())["classes"] == sorted(COLOURS)
    args = json.loads((out / "args.json").read_text())
    assert args["augmentation"] == {"flip": True, "pad": 4} and args["lr_decay"] is None  # card's
    assert args["model"] == "alexnet_cifar:cifar10"  # a bare name: its default weights
    saved = keras.saving.load_model(out / "model.keras")
    assert saved.output_shape == (None, 3)
    # batch norm never trains here (frozen, inference mode): its statistics moved from the
    # pretrained ones only through --adapt-batch-norm, to those of the colour patches
    pretrained = kerascnn.load("alexnet_cifar:cifar10").model.get_layer("stage1_conv1_bn")
    bn = saved.get_layer("stage1_conv1_bn")
    for stat in ("moving_mean", "moving_variance"):
        moved = np.asarray(getattr(bn, stat)) - np.asarray(getattr(pretrained, stat))
        assert float(np.abs(moved).max()) > 1e-3, stat
    # the backbone starts from the published weights, not from random ones
    np.testing.assert_array_equal(
        saved.get_layer("stage1_conv1").get_weights()[0],
        kerascnn.load("alexnet_cifar:cifar10").model.get_layer("stage1_conv1").get_weights()[0],
    )
    # the sidecar gives `kerascnn predict` the class names
    result = run("predict", out / "model.keras", folder / "red" / "0.png", "--json")
    assert result.exit_code == 0, result.output
    labels = {p["label"] for p in json.loads(result.output)[0]["predictions"]}
    assert labels == set(COLOURS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--classes", "1"], "Error: --classes must be 'auto' or a number of at least 2, got '1'"),
        (
            ["--classes", "4"],
            "has 3 class folders (blue, green, red) but --classes 4; use --classes auto",
        ),
        (["--unfreeze", "stage9"], "Error: alexnet_cifar has no layer 'stage9'; valid names:"),
        (["--lr-decay", "0"], "Error: lr_decay (--lr-decay) must be in (0, 1], got 0.0; "),
    ],
)
def test_cli_finetune_errors(folder, tmp_path, args, message):
    result = run("finetune", "alexnet_cifar", "--data", folder, "--output", tmp_path / "o", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_finetune_unavailable_weights(folder, tmp_path, monkeypatch):
    result = run("finetune", "alexnet_cifar:nope", "--data", folder)
    assert result.exit_code == 2
    assert result.output.startswith("Error: alexnet_cifar: no weights 'nope'; use one of: cifar10")
    monkeypatch.setenv("KERASCNN_OFFLINE", "1")  # not cached (empty KERASCNN_HOME), offline
    result = run("finetune", "alexnet:imagenet", "--data", folder, "--output", tmp_path / "o")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ") and "KERASCNN_OFFLINE" in result.output
    assert not (tmp_path / "o").exists()


def test_finetune_help_does_not_import_tensorflow():
    script = (
        "import sys\n"
        "from kerascnn.cli.main import cli\n"
        "try:\n    cli.main(['finetune', '--help'], prog_name='kerascnn')\n"
        "except SystemExit:\n    pass\n"
        "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout and "--backbone-lr-mult" in out.stdout, out.stdout


@pytest.mark.slow
def test_finetune_on_sign_language_digits(data_dir, tmp_path):
    """Real JPEGs: a random-weight gesture_cnn fine-tuned end to end learns the digits."""
    images = data_dir / "sign-language-digits" / "images"
    if not images.is_dir():
        pytest.skip(f"{images} not found")
    keras.utils.set_random_seed(0)
    # no batch norm in gesture_cnn: from random weights Adam at 1e-3 stays at chance (loss
    # 2.303, plain model.fit too); at 3e-4 it leaves chance in epoch 3 (0.83 after 5 epochs)
    result = finetune(
        kerascnn.create_model("gesture_cnn"),  # random weights: a bare name takes sign-digits
        images,
        head_epochs=1,
        finetune_epochs=6,
        unfreeze="top-4-blocks",
        learning_rate=3e-4,
        backbone_lr_mult=1.0,
        output_dir=tmp_path / "out",
        verbose=0,
    )
    assert result.classes == [str(i) for i in range(10)]
    assert result.phase_history("finetune")["val_accuracy"][-1] > 0.5  # chance is 0.1
    assert (tmp_path / "out" / "model.classes.json").is_file()


def test_finetune_without_a_head_phase_still_freezes_below_unfreeze(folder):
    keras.utils.set_random_seed(0)
    base = kerascnn.create_model("gesture_cnn", filters=(4, 8, 8, 8), hidden=16)
    first = base.get_layer("block1_conv1").kernel.numpy().copy()
    result = finetune(
        base,
        folder,
        head_epochs=0,
        finetune_epochs=1,
        unfreeze="top-1-blocks",
        batch_size=8,
        validation_split=0.0,
        verbose=0,
    )
    np.testing.assert_array_equal(result.model.get_layer("block1_conv1").kernel.numpy(), first)
    assert not result.model.get_layer("block1_conv1").trainable
    assert result.model.get_layer("block4_conv2").trainable


class _Start(keras.callbacks.Callback):
    """The trainable weights as phase 2 starts."""

    def on_train_begin(self, logs=None):
        self.weights = {w.path: w.numpy().copy() for w in self.model.trainable_weights}


def _one_sgd_step(folder, **options):
    """Phase 2 only, one step of plain SGD on every training image: each weight's change."""
    keras.utils.set_random_seed(0)
    base = kerascnn.create_model("gesture_cnn", filters=(4, 8, 8), hidden=16)
    start = _Start()
    result = finetune(base, folder, head_epochs=0, finetune_epochs=1, unfreeze="top-2-blocks",
                      learning_rate=0.05, optimizer="sgd", batch_size=64, dropout=0.0,
                      augmentation=None, callbacks=[start], verbose=0, **options)  # fmt: skip
    weights = {w.path: w.numpy() for w in result.model.trainable_weights}
    return {path: weights[path] - before for path, before in start.weights.items()}


def test_lr_decay_gives_each_block_factor_times_the_rate_above(folder):
    decayed, flat = _one_sgd_step(folder, lr_decay=0.5), _one_sgd_step(folder, lr_decay=1.0)
    assert set(decayed) == set(flat) and len(decayed) == 10  # block2, block3, predictions
    # the same weights and images, so the same gradients: rate ratio = update ratio
    depth = {"predictions": 0, "block3": 1, "block2": 2}
    for path, delta in decayed.items():
        assert np.abs(flat[path]).max() > 0, path
        factor = 0.5 ** depth[path.split("/")[0].split("_")[0]]
        np.testing.assert_allclose(delta, factor * flat[path], rtol=1e-4, atol=1e-8, err_msg=path)
    # lr_decay replaces backbone_lr_mult: the same update whatever that says
    same = _one_sgd_step(folder, lr_decay=1.0, backbone_lr_mult=0.01)
    for path, delta in same.items():
        np.testing.assert_allclose(delta, flat[path], rtol=1e-6, err_msg=path)


def test_augmentation_changes_the_training_images_only(folder):
    """Random brightness on the training images: the training loss changes, the validation
    loss (the same weights: a learning rate of 1e-9) does not."""
    runs = {}
    for name, augmentation in (("none", None), ("brightness", {"brightness": 1.0})):
        keras.utils.set_random_seed(0)
        base = kerascnn.create_model("gesture_cnn", filters=(4, 8), hidden=8)
        result = finetune(base, folder, head_epochs=1, finetune_epochs=0, learning_rate=1e-9,
                          augmentation=augmentation, verbose=0)  # fmt: skip
        runs[name] = result.phase_history("head")
    # a fresh random head barely depends on its input; float noise is ~1e-7
    assert abs(runs["brightness"]["loss"][0] - runs["none"]["loss"][0]) > 2e-5, runs
    assert runs["brightness"]["val_loss"] == pytest.approx(runs["none"]["val_loss"], rel=1e-5)


def test_augmentation_auto_is_the_cards_for_a_zoo_model_and_checked(folder, tmp_path):
    from kerascnn.transfer.recipe import _augmentation

    assert _augmentation("auto", "alexnet_cifar:cifar10") == {"flip": True, "pad": 4}
    # a file or a Keras model: decided once loaded, by its architecture's name
    path = str(tmp_path / "model.keras")
    assert _augmentation("auto", path) is None
    zoo_model = kerascnn.create_model("alexnet_cifar")
    assert _augmentation("auto", path, zoo_model) == {"flip": True, "pad": 4}
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()], name="mine")
    assert _augmentation("auto", other, other) == {}
    assert _augmentation(None, "alexnet_cifar") == _augmentation({}, "alexnet_cifar") == {}
    with pytest.raises(UserError, match="unknown augmentation 'flop'; use flip"):
        finetune("alexnet_cifar", folder, augmentation={"flop": True})
    with pytest.raises(UserError, match=r"lr_decay \(--lr-decay\) must be in \(0, 1\], got 0"):
        finetune("alexnet_cifar", folder, lr_decay=0)


def test_a_bare_name_fine_tunes_its_published_weights_or_says_it_has_none(folder, tmp_path):
    from kerascnn.transfer.recipe import _pretrained_spec

    assert _pretrained_spec("vgg16") == "vgg16:imagenet"  # the first variant with a classifier
    assert _pretrained_spec("gesture_cnn") == "gesture_cnn:sign-digits"
    assert _pretrained_spec("vgg16:imagenet-notop") == "vgg16:imagenet-notop"
    with pytest.raises(UserError, match=r"vgg16_bn has no published weights to fine-tune; give"):
        finetune("vgg16_bn", folder)
    result = run("finetune", "vgg16_bn", "--data", folder, "--output", tmp_path / "o")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "`kerascnn train vgg16_bn`" in result.output and not (tmp_path / "o").exists()
