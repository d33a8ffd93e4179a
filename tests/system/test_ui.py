"""The MLflow UI as a person sees it: a real tracking server on loopback and Debian's headless Chromium."""
import subprocess
import sys

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from helpers.commands import command, runs
from helpers.servers import free_port, wait_for_server

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"   # Debian's chromium, chromium-driver
IMAGES = "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
MODEL_TRAINING = "workflowType=machine_learning"    # the UI's model-training view (its default is the GenAI one)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_released):
    """A sweep of a tiny model's released attention, plain and translate: two job runs and the sweep's comparison."""
    tmp = tmp_path_factory.mktemp("ui")
    command(tmp, "-m", *tiny_released, "prefix=none,translate")
    return tmp


@pytest.fixture(scope="module")
def server(store):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                             f"sqlite:///{store}/mlruns/mlflow.db", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_server(url, proc, 90, "the MLflow server")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _open(browser, url: str, text: str, timeout: float = 60) -> str:
    """Load ``url`` and wait until the page shows ``text``; returns the visible text."""
    browser.get(url)
    WebDriverWait(browser, timeout).until(lambda d: text in d.execute_script("return document.body.innerText"))
    return browser.execute_script("return document.body.innerText")


def _runs(store):
    _, found = runs(store)
    comparison = next(r for r in found if r.data.tags.get("kind") == "comparison")
    job = next(r for r in found if r.info.run_name == "llama-tiny-base-none+released")
    return f"#/experiments/{job.info.experiment_id}", comparison, job


def test_report_html_shows_every_figure_in_the_artifact_viewer(store, server, browser):
    experiment, comparison, _ = _runs(store)
    browser.get(f"{server}/{experiment}/runs/{comparison.info.run_id}/artifacts/report.html?{MODEL_TRAINING}")
    frame = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.TAG_NAME, "iframe"))[0]
    browser.switch_to.frame(frame)
    WebDriverWait(browser, 30).until(lambda d: len(d.execute_script(IMAGES)) >= 5)
    images = browser.execute_script(IMAGES)
    browser.switch_to.default_content()
    assert [alt for alt, loaded in images if not loaded] == [] and "Paper Figure 4" in [alt for alt, _ in images]


def test_experiment_opens_on_the_sweep_holding_its_runs_and_a_run_shows_curves_by_layer_and_depth(store, server, browser):
    experiment, _, job = _runs(store)
    text = _open(browser, f"{server}/{experiment}?{MODEL_TRAINING}", "sweep-")
    assert "4 matching runs" in text and "llama-tiny-base-translate" not in text      # one sweep row, its runs inside
    browser.execute_script("document.querySelector('.ag-row button').click()")       # expand the sweep
    WebDriverWait(browser, 30).until(lambda d: "llama-tiny-base-translate" in d.execute_script(
        "return document.body.innerText"))
    text = browser.execute_script("return document.body.innerText")
    assert "llama-tiny-base-none+released" in text and "comparison-" in text
    text = _open(browser, f"{server}/{experiment}/runs/{job.info.run_id}/model-metrics?{MODEL_TRAINING}", "depth")
    assert "llama-tiny-base-none" in text and "layer" in text and "r2_L1" in text
