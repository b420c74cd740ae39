"""Every command example of the README and of the docs pages runs, offline, on small data
laid out as the README's.

The pages are those of ``tests.test_readme.pages`` (README first; a command shown on several
pages runs once). Commands that need published weights the machine does not have
(``vgg16:imagenet``) must end in the documented one-line offline error that names
``kerascnn zoo import``; the long training runs (``zoo reproduce``, ``train`` with its
defaults, ``benchmark``) are marked slow. The README's serve example (a ``sh`` block: the
server runs until stopped) is run by its own test, against the exported file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from kerascnn.cli.main import cli
from tests.conftest import DATA, REPO
from tests.image_folders import make_image_folder
from tests.test_readme import blocks, pages

SLOW = (
    "zoo reproduce",
    "kerascnn train gesture_cnn --data",
    "runs/gesture_cnn",
    "kerascnn benchmark",
)
NEEDS_DOWNLOAD = ("imagenet", "kerascnn dream photo.jpg  ", "kerascnn dream photo.jpg --guide")


def _commands(page: str) -> list[str]:
    found = []
    for block in blocks(page, "bash|text"):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if re.match(r"^(KERAS_BACKEND=\w+ )?kerascnn |^python -m kerascnn", line):
                found.append(line)
    return found


README_COMMANDS = _commands("README.md")
COMMANDS = list(dict.fromkeys(c for page in pages() for c in _commands(page)))


def _digits(root: Path) -> None:
    """10 classes of hand photos (6 real ones each where the data is here)."""
    source = DATA / "sign-language-digits" / "images"
    for digit in range(10):
        folder = root / str(digit)
        folder.mkdir(parents=True)
        photos = sorted((source / str(digit)).glob("*"))[:6] if source.is_dir() else []
        for photo in photos:
            shutil.copy(photo, folder / photo.name)
    if not source.is_dir():  # synthetic stand-ins, moved into the digits' folders
        make_image_folder(root / "_synthetic", classes=10, per_class=6, size=100)
        for digit in range(10):
            for image in (root / "_synthetic" / f"c{digit}").iterdir():
                image.rename(root / str(digit) / f"{digit}_{image.name}")  # unique: split by name
        shutil.rmtree(root / "_synthetic")


def _cifar_zip(path: Path) -> None:
    path.parent.mkdir(parents=True)
    classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    with zipfile.ZipFile(path, "w") as archive:
        for split, count in (("train", 4), ("test", 2)):
            for k, name in enumerate(classes):
                for i in range(count):
                    image = Image.new("RGB", (32, 32), (25 * k, 255 - 25 * k, 7 * i))
                    image.save(path.parent / "x.jpg")
                    archive.write(path.parent / "x.jpg", f"{split}/{name}/{i:04d}.jpg")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A checkout-like folder: zoo/, docs/images/, photos, and ../shared/data beside it."""
    root = tmp_path_factory.mktemp("readme")
    work = root / "main"
    (work / "docs" / "images").mkdir(parents=True)
    shutil.copy(REPO / "docs" / "images" / "coffee.jpg", work / "docs" / "images")
    (work / "zoo").symlink_to(REPO / "zoo")
    make_image_folder(work / "photos", classes=3, per_class=8, size=64)
    for name in ("photo.jpg", "clouds.jpg"):
        shutil.copy(REPO / "docs" / "images" / "coffee.jpg", work / name)
    _digits(root / "shared" / "data" / "sign-language-digits" / "images")
    _cifar_zip(root / "shared" / "data" / "cifar10-jpeg" / "cifar10-jpeg.zip")
    with zipfile.ZipFile(root / "shared" / "data" / "cifar10-jpeg" / "cifar10-jpeg.zip") as zipped:
        zipped.extractall(work / "cifar10", [n for n in zipped.namelist() if n.startswith("test/")])
    return work


def _run(command: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "KERASCNN_OFFLINE": "1", "KERASCNN_HOME": str(cwd / ".home")}
    words = shlex.split(command.split("  #")[0])
    if words[0] == "kerascnn":
        old = Path.cwd()
        os.chdir(cwd)
        try:
            result = CliRunner(env=env).invoke(cli, words[1:] + ["--force"] * _writes(words))
        finally:
            os.chdir(old)
        return result.exit_code, result.output + (result.stderr or "")
    assignments = [w for w in words if re.match(r"^\w+=", w) and words.index(w) == 0]
    env.update(a.split("=", 1) for a in assignments)
    words = words[len(assignments) :]
    if words[0] == "kerascnn":
        words = [sys.executable, "-m", "kerascnn.cli", *words[1:]]
    elif words[0] == "python":
        words[0] = sys.executable
    done = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def _writes(words: list[str]) -> int:
    """Whether to add --force: commands that write a picture or a table (rerunnable)."""
    return int(words[1] in ("dream", "visualize", "benchmark") and "--list-layers" not in words)


def _params() -> list:
    return [
        pytest.param(c, marks=[pytest.mark.slow] if any(s in c for s in SLOW) else [], id=c[:60])
        for c in COMMANDS
    ]


def test_the_readme_has_command_examples():
    assert len(README_COMMANDS) >= 10 and len(COMMANDS) >= 30
    for job in ("train", "finetune", "dream", "export", "benchmark", "zoo push", "zoo info"):
        assert any(c.startswith(f"kerascnn {job} ") for c in README_COMMANDS), job


@pytest.mark.parametrize("command", _params())
def test_readme_command_runs(command, workdir):
    if "int8" in command and not (DATA / "sign-language-digits" / "images").is_dir():
        pytest.skip("int8 calibration needs the real hand photos in ../shared/data")
    code, output = _run(command, workdir)
    if any(n in command for n in NEEDS_DOWNLOAD) and "gesture" not in command:
        assert code == 2 and "kerascnn zoo import" in output, output[-2000:]
        assert output.strip().splitlines()[-1].startswith("Error: ")
        return
    assert code == 0, output[-3000:]


def _serve_example() -> tuple[str, str]:
    """The README's serve example: the ``kerascnn serve`` line and the request sent to it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\*\*Serve\*\*.+?```sh\n(.+?)\n```", readme, flags=re.S)
    assert block, "the README has no serve example"
    serve, request = block[1].splitlines()
    return serve, request


def test_the_readme_serve_example_runs(workdir):
    """The server starts on the exported file (a free port instead of 8000) and the request
    shown gets the photo's class back."""
    import json
    import socket
    import time
    import urllib.request

    serve, request = _serve_example()
    assert serve.startswith("kerascnn serve ") and "--port 8000" in serve
    assert request.startswith("curl ") and ":8000/" in request
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    words = shlex.split(serve.replace("--port 8000", f"--port {port}"))
    if not (workdir / words[2]).exists():  # written by the README's export example
        assert _run("kerascnn export gesture_cnn:sign-digits --format onnx", workdir)[0] == 0
    env = {**os.environ, "KERASCNN_OFFLINE": "1", "KERASCNN_HOME": str(workdir / ".home")}
    server = subprocess.Popen(
        [sys.executable, "-m", "kerascnn.cli", *words[1:]],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready") as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not get ready in 120 s"
            time.sleep(0.5)
        curl = shlex.split(request.replace(":8000/", f":{port}/"))
        done = subprocess.run(curl, cwd=workdir, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        records = json.loads(done.stdout)
        assert records[0]["predictions"][0]["label"] == "5", records
    finally:
        server.terminate()
        server.wait(timeout=60)
