"""``kerascnn serve MODEL [MODEL...]``: an inference server speaking Open Inference Protocol v2
and TF Serving's REST API, with dynamic batching and a page to try the models."""

from __future__ import annotations

import click

__all__ = ["serve"]


@click.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL [MODEL...]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free one).",
)
@click.option(
    "--name", "names", multiple=True, help="Name of each MODEL, in order (default: its metadata)."
)
@click.option(
    "--max-batch",
    default=32,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Most images in one forward pass (1: no batching).",
)
@click.option(
    "--max-delay-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 10_000),
    help="Longest wait for a batch to fill (0: batch the requests already waiting).",
)
@click.option(
    "--max-batch-request",
    default=64,
    show_default=True,
    type=click.IntRange(1),
    help="Most instances in one request.",
)
@click.option(
    "--max-body-mb",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0.001),
    help="Largest request body.",
)
@click.option(
    "--threads",
    type=click.IntRange(1),
    help="Runtime threads per model (default: all cores but one).",
)
def serve(models: tuple[str, ...], host: str, port: int, names: tuple[str, ...], **options) -> None:
    """Serve MODELs over HTTP until SIGTERM or Ctrl-C.

    MODEL is an exported .onnx or .tflite file (run without TensorFlow or Keras), a
    SavedModel or OpenVINO folder, a zoo spec (gesture_cnn:sign-digits), a .keras file
    or a run folder. Routes: GET / (a page to try a model), GET /v2/health/ready,
    GET /v2/models, GET /v2/models/NAME, POST /v2/models/NAME/infer (Open Inference
    Protocol v2: Triton, KServe), POST /v1/models/NAME:predict (TF Serving REST) and
    POST /predict?model=NAME (an image upload -> `kerascnn predict --json` records).
    """
    from kerascnn.deploy.server import serve as run

    run(list(models), host=host, port=port, names=names, echo=click.echo, **options)
