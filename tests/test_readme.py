"""The README's commands are the ones CI runs, and every Python example of the README and of
the docs pages runs.

The pages with examples are the README, ``benchmarks/README.md`` and every ``docs/*.md``
except those in ``NOT_RUN`` (whose examples need a hub or a server, tested elsewhere). The
Python blocks of each page run in order, in one namespace per page, in one fresh offline
process for all pages (so TensorFlow is imported once), where kerascnn's own deprecation
warnings are errors: the docs use no deprecated name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# pages whose examples no test here runs, and why
NOT_RUN = {
    "docs/hub.md": "pushes to and loads from a hub (tests/test_hub_hf.py, test_hub_kaggle.py)",
    "docs/serve.md": "starts a server or talks to one (tests/test_serve*.py)",
    "docs/cli.md": "generated from --help; its lines are usage, not examples",
}


def pages() -> list[str]:
    """The pages whose examples run: README first, then benchmarks/ and docs/, sorted."""
    found = ["README.md", "benchmarks/README.md"]
    found += sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))
    return [page for page in found if page not in NOT_RUN]


def blocks(page: str, kinds: str) -> list[str]:
    """The fenced blocks of ``page`` whose info string is one of ``kinds`` (``python``,
    ``bash|text``), in order."""
    text = (REPO / page).read_text(encoding="utf-8")
    return re.findall(rf"```(?:{kinds})\n(.+?)\n```", text, flags=re.S)


def _commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", readme, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    install_and_run, test = _commands()[:2]
    assert "kerascnn" in install_and_run and "pip install -e ." in install_and_run
    assert "pytest" in test
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test


_DRIVER = r"""
import json, os, sys, warnings
import kerascnn
import kerascnn.errors

# the docs use no deprecated name of kerascnn's (as pyproject.toml's filterwarnings for tests)
warnings.simplefilter("error", kerascnn.errors.KerascnnDeprecationWarning)

for page, folder, codes in json.loads(open(sys.argv[1], encoding="utf-8").read()):
    os.chdir(folder)
    namespace = {"__name__": "__main__", "kerascnn": kerascnn}
    for number, code in enumerate(codes, 1):
        exec(compile(code, f"{page}, python block {number}", "exec"), namespace)
"""


def _workdir(folder: Path) -> Path:
    """A checkout-like folder: zoo/, docs/images/, photos/ (3 classes of 8, 2-3 of each in the
    validation split), photo.jpg, clouds.jpg."""
    from tests.image_folders import make_image_folder

    folder.mkdir(parents=True)
    (folder / "zoo").symlink_to(REPO / "zoo")
    (folder / "docs" / "images").mkdir(parents=True)
    shutil.copy(REPO / "docs" / "images" / "coffee.jpg", folder / "docs" / "images")
    make_image_folder(folder / "photos", classes=3, per_class=8, size=64)
    for photo in (folder / "photos").glob("*/*"):  # names unique across classes, so that the
        photo.rename(photo.with_name(f"{photo.parent.name}_{photo.name}"))  # split has all 3
    for name in ("photo.jpg", "clouds.jpg"):
        shutil.copy(REPO / "docs" / "images" / "coffee.jpg", folder / name)
    return folder


def run_python_examples(page_list: list[str], tmp_path: Path) -> dict[str, Path]:
    """Run the Python blocks of each page, each page in a folder of its own; return the
    folders. The error of the first block that fails fails the test."""
    folders = {page: _workdir(tmp_path / re.sub(r"\W", "_", page)) for page in page_list}
    plan = [[page, str(folders[page]), blocks(page, "python")] for page in page_list]
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    env = {**os.environ, "KERASCNN_OFFLINE": "1", "KERASCNN_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(tmp_path / "plan.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folders


def test_the_readme_python_examples_run(tmp_path):
    """Every ```python block of the README, in order, in one fresh offline process."""
    assert len(blocks("README.md", "python")) >= 4
    folders = run_python_examples(["README.md"], tmp_path)
    assert (folders["README.md"] / "runs" / "gestures" / "model.keras").is_file()
