"""DeepDream speed and memory: ``kerascnn.interpret.dream`` against the keras.io example's recipe.

Speed: the same VGG16 (random weights: timing does not depend on them), the
same layers (the zoo card's ``dream_layers``) and the same 512x512 image; the
recipe is the keras.io DeepDream example's step (a ``tf.function`` with a
``GradientTape``, normalised gradient, update in the graph), rewritten here.
Steps alternate (one recipe step after each of ours, in the same process), so
both see the same machine load; we report medians and the ratio ours / recipe,
for our default precision and for float32.

Memory: the peak resident set size of a fresh process that builds the full
VGG16 (top included, random weights) and dreams a 4000x3000 image with it
(``octaves=1, steps=1``, tiles of 512, default layers, preprocessing "caffe").

    nice -n 10 python benchmarks/dream.py [--image PATH] [--rounds 3] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "astronaut.png"


def _image(path: Path, size: tuple[int, int]):
    import numpy as np

    from kerascnn.images import load_image, resize

    if path.is_file():
        return resize(load_image(path).pixels, size)
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (*size, 3)).astype(np.float32)


def recipe_step(model, layers: dict[str, float]):
    """The keras.io example's gradient step (its loss, normalisation and update), on
    caffe-preprocessed images as VGG16 expects."""
    import keras
    import tensorflow as tf

    extractor = keras.Model(model.inputs, {n: model.get_layer(n).output for n in layers})

    def loss_of(img):
        loss = tf.zeros(())
        for name, act in extractor(img).items():
            scale = tf.reduce_prod(tf.cast(tf.shape(act), "float32"))
            loss += layers[name] * tf.reduce_sum(tf.square(act[:, 2:-2, 2:-2, :])) / scale
        return loss

    @tf.function
    def step(img, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(img)
            loss = loss_of(img)
        grads = tape.gradient(loss, img)
        grads /= tf.maximum(tf.reduce_mean(tf.abs(grads)), 1e-6)
        return loss, img + learning_rate * grads

    return step


def speed(image_path: Path, rounds: int, steps: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    import kerascnn
    from kerascnn.interpret.ascent import compute_precision
    from kerascnn.interpret.dream import deep_dream

    keras.utils.set_random_seed(0)
    model = kerascnn.create_model("vgg16", include_top=False, input_shape=(512, 512, 3))
    layers = kerascnn.get_model_card("vgg16").dream_layers
    pixels = _image(image_path, (512, 512))
    caffe = pixels[None, ..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    step = recipe_step(model, layers)
    img = tf.constant(caffe)
    step(img, 0.01)[1].numpy()  # trace

    times: dict[str, list[float]] = {"ours": [], "recipe_ours": [], "ours_float32": []}
    times["recipe_ours_float32"] = []

    def interleaved(precision: str, key: str) -> None:
        """Our steps (``deep_dream``) with one recipe step between each two of ours."""
        nonlocal img
        started: list[float] = []

        def after_our_step(*args) -> None:
            nonlocal img
            if started:  # the first step also traces: not timed
                times[key].append(time.perf_counter() - started[-1])
            start = time.perf_counter()
            _, img = step(img, 0.01)
            img.numpy()
            times[f"recipe_{key}"].append(time.perf_counter() - start)
            started.append(time.perf_counter())

        deep_dream(
            model,
            pixels,
            layers,
            octaves=1,
            steps=steps + 1,
            tile_size=512,
            seed=0,
            preprocessing="caffe",
            precision=precision,
            progress=after_our_step,
        )

    default = compute_precision("auto")
    for _ in range(rounds):
        interleaved("auto", "ours")
        if default != "float32":
            interleaved("float32", "ours_float32")
    if default == "float32":
        times["ours_float32"], times["recipe_ours_float32"] = times["ours"], times["recipe_ours"]
    times["recipe"] = times["recipe_ours"] + times["recipe_ours_float32"]
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "image": str(image_path) if image_path.is_file() else "random 512x512",
        "layers": layers,
        "precision_auto": default,
        "steps_timed": {k: len(v) for k, v in times.items()},
        "median_step_s": med,
        "ratio_ours_vs_recipe": med["ours"] / med["recipe_ours"],
        "ratio_ours_float32_vs_recipe": med["ours_float32"] / med["recipe_ours_float32"],
    }


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def memory_child(precision: str) -> None:
    """Dream a 4000x3000 image with VGG16 and print the peak RSS (run in a fresh process).

    As ``kerascnn dream`` does, the full VGG16 (top included) stays in memory
    while dreaming. The peak is read twice: over the whole process (model
    building included) and over the dream alone (VmHWM reset through
    ``/proc/self/clear_refs`` once the model and the image are in memory).
    """
    import keras

    import kerascnn
    from kerascnn.interpret.ascent import compute_precision
    from kerascnn.interpret.dream import deep_dream

    keras.utils.set_random_seed(0)
    precision = compute_precision(precision)
    model = kerascnn.create_model("vgg16")
    pixels = _image(DEFAULT_IMAGE, (3000, 4000))
    before = _status_kib("VmRSS") * 1024
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
        resettable = True
    except OSError:
        resettable = False
    start = time.perf_counter()
    out = deep_dream(
        model, pixels, octaves=1, steps=1, seed=0, preprocessing="caffe",
        precision=precision, progress=False,
    )  # fmt: skip
    assert out.shape == pixels.shape
    result = {
        "precision": precision,
        "seconds": time.perf_counter() - start,
        "rss_before_dream_bytes": before,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_rss_during_dream_bytes": _status_kib("VmHWM") * 1024 if resettable else None,
    }
    print(json.dumps(result))


def memory(precision: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", precision],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("rss_before_dream", "peak_rss", "peak_rss_during_dream"):
        if result.get(f"{key}_bytes"):
            result[f"{key}_gib"] = result[f"{key}_bytes"] / 2**30
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round and method")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    report = {"cpu_count": os.cpu_count(), "keras_backend": os.environ["KERAS_BACKEND"]}
    if not args.skip_speed:
        report["speed_512"] = speed(args.image, args.rounds, args.steps)
        s = report["speed_512"]
        print(
            f"per step at 512x512: recipe {s['median_step_s']['recipe']:.3f} s, "
            f"ours ({s['precision_auto']}) {s['median_step_s']['ours']:.3f} s, "
            f"ours (float32) {s['median_step_s']['ours_float32']:.3f} s; "
            f"ratio {s['ratio_ours_vs_recipe']:.3f} (float32: "
            f"{s['ratio_ours_float32_vs_recipe']:.3f}); required <= 1.0",
            flush=True,
        )
    if not args.skip_memory:
        report["memory_4000x3000"] = [memory("auto"), memory("float32")]
        for m in report["memory_4000x3000"]:
            during = m.get("peak_rss_during_dream_gib")
            print(
                f"peak RSS dreaming 4000x3000 with VGG16 ({m['precision']}): "
                f"{m['peak_rss_gib']:.2f} GiB for the whole process, "
                f"{during:.2f} GiB during the dream (RSS before it {m['rss_before_dream_gib']:.2f} "
                f"GiB) in {m['seconds']:.0f} s; required <= 3 GiB",
                flush=True,
            )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
