"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", readme, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    install_and_run, test = _commands()[:2]
    assert "kerascnn" in install_and_run and "pip install -e ." in install_and_run
    assert "pytest" in test
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test


def test_the_readme_python_examples_run(tmp_path):
    """Every ```python block of the README, in order, in one fresh offline process."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.image_folders import make_image_folder

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.+?)\n```", readme, flags=re.S)
    assert len(blocks) >= 5
    script = "import kerascnn\n" + "\n".join(blocks)
    (tmp_path / "zoo").symlink_to(REPO / "zoo")
    make_image_folder(tmp_path / "photos", classes=3, per_class=8, size=64)
    shutil.copy(REPO / "docs" / "images" / "coffee.jpg", tmp_path / "photo.jpg")
    env = {**os.environ, "KERASCNN_OFFLINE": "1", "KERASCNN_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs" / "gestures" / "model.keras").is_file()
