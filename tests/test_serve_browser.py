"""The page of ``kerascnn serve`` in a real headless browser: Debian's chromium driven by
Selenium through the system chromedriver (nothing downloaded). A sign-digit photo is picked
in the file input, or dropped on the page (a drop event carrying the file); the page shows
the top-5 with class names and probabilities, and the top class is read from it.

Run alone: ``pytest -m browser tests/test_serve_browser.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serving import exported_onnx, serve

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("onnxruntime")
    onnx_path = exported_onnx(tmp_path_factory.getbasetemp())
    with serve([str(onnx_path), "--name", "signs"]) as running:
        yield running


def _photo(digit: str) -> Path:
    """A sign-digit photo: from ../shared/data when there, else the package's examples."""
    from kerascnn.deploy.exporter import example_photos
    from tests.conftest import DATA

    folder = DATA / "sign-language-digits" / "images" / digit
    shared = sorted(folder.glob("*.JPG")) if folder.is_dir() else []
    bundled = [p for p in example_photos() if Path(p).stem.endswith(f"_{digit}")]
    return Path((shared or bundled)[0])


DROP = """
const [name, b64] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const data = new DataTransfer();
data.items.add(new File([bytes], name, { type: "image/jpeg" }));
const drop = new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
document.getElementById("drop").dispatchEvent(drop);
"""


def _give(browser, photo: Path, how: str) -> None:
    import base64

    from selenium.webdriver.common.by import By

    if how == "pick":
        browser.find_element(By.ID, "file").send_keys(str(photo.resolve()))
    else:
        browser.execute_script(DROP, photo.name, base64.b64encode(photo.read_bytes()).decode())


@pytest.mark.parametrize(("digit", "how"), [("5", "pick"), ("9", "drop")])
def test_the_page_shows_the_top_classes_of_a_photo(browser, server, digit, how):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(f"http://{server.host}:{server.port}/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: Select(d.find_element(By.ID, "model")).options)
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.text == "signs"
    _give(browser, _photo(digit), how)
    wait.until(ec.visibility_of_element_located((By.ID, "results")))
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-top"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr.prediction")
    labels = [row.find_element(By.CLASS_NAME, "label").text for row in rows]
    shown = [row.find_elements(By.TAG_NAME, "td")[2].text for row in rows]
    assert len(rows) == 5 and labels[0] == digit, (labels, shown)
    assert all(text.endswith("%") for text in shown)
    assert float(shown[0].rstrip("%")) > 50
