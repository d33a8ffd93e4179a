"""The MLflow UI as a person sees it: a real tracking server on loopback and Debian's headless Chromium; the
comparison's report and ``make board``'s page opened in the same browser.

``ATTNHUMAN_SCREENSHOTS=docs/images`` saves README's screenshots of the scoreboard there."""
import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from attnhuman.app import board as board_app
from attnhuman.comparison.scores import FLAGS
from helpers.commands import command, log_run, runs
from helpers.commands import store as store_uri
from helpers.paths import CONF_DIR, ROOT
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


def test_experiment_opens_on_the_sweep_holding_its_runs_and_a_run_opens_on_its_percent_of_ceiling_curves(store, server, browser):
    experiment, _, job = _runs(store)
    text = _open(browser, f"{server}/{experiment}?{MODEL_TRAINING}", "sweep-")
    assert "4 matching runs" in text and "llama-tiny-base-translate" not in text      # one sweep row, its runs inside
    browser.execute_script("document.querySelector('.ag-row button').click()")       # expand the sweep
    WebDriverWait(browser, 30).until(lambda d: "llama-tiny-base-translate" in d.execute_script(
        "return document.body.innerText"))
    text = browser.execute_script("return document.body.innerText")
    assert "llama-tiny-base-none+released" in text and "comparison-" in text
    text = _open(browser, f"{server}/{experiment}/runs/{job.info.run_id}/model-metrics?{MODEL_TRAINING}", "depth")
    assert "llama-tiny-base-none" in text
    charts = [line for line in text.splitlines() if line.startswith("llama-tiny-base-none+released (")]
    assert charts[:2] == ["llama-tiny-base-none+released (depth/pct_L1)",     # it opens on the % of ceiling, not raw R2
                          "llama-tiny-base-none+released (depth/pct_L2)"]


# --- the scoreboard: the comparison's report.html and make board's index.html -----------------------------------------

SCREENSHOTS = os.environ.get("ATTNHUMAN_SCREENSHOTS")
# a job run whose L1 score is above its ceiling, and whose ceiling's interval includes 0
PLANTED = {"resemblance_L1": 131.25, "resemblance_low_L1": 104.5, "resemblance_high_L1": 160.0, "best_layer_L1": 1,
           "ceiling_L1": 0.004, "ceiling_low_L1": -0.001, "ceiling_high_L1": 0.01, "n_subjects_L1": 46}
PLANTED_TAGS = {"model": "planted", "size": "7b", "tuning": "base", "prefix": "none", "source": "released",
                "family": "planted", "stage": "pretrained", "corpus": "Reading Brain", "measure": "weights"}
ROWS = "return Array.from(document.querySelectorAll('table.scoreboard tbody tr'))"
HEADERS = "return Array.from(document.querySelectorAll('table.scoreboard thead th')).map(h => h.textContent)"


def _column(browser, index: int) -> list[str]:
    return browser.execute_script(ROWS + f".map(r => r.cells[{index}].getAttribute('data-value'))")


def _sorted_by_clicks(browser, header: str, numeric: bool = True) -> None:
    """Clicking ``header`` sorts the rows by its values: numbers highest first, text alphabetically; clicking again
    reverses the order; empty cells stay last."""
    index = browser.execute_script(HEADERS).index(header)
    key = float if numeric else str
    values = [key(v) for v in _column(browser, index) if v]
    blanks = [v for v in _column(browser, index) if not v]
    assert len(values) >= 2, f"{header}: nothing to sort"
    for order in (sorted(values, reverse=numeric), sorted(values, reverse=not numeric)):
        browser.find_elements(By.CSS_SELECTOR, "table.scoreboard thead th")[index].click()
        got = _column(browser, index)
        assert [key(v) for v in got[:len(order)]] == order and got[len(order):] == blanks


def _rows(browser) -> list[dict]:
    """Each row of the scoreboard: its run id, the run link, each score cell's value, text and flags."""
    return browser.execute_script(ROWS + """.map(r => ({
        id: r.getAttribute('data-run-id'), href: r.querySelector('a') && r.querySelector('a').href,
        cells: Object.fromEntries(Array.from(r.cells).map((c, i) => [
            document.querySelectorAll('table.scoreboard thead th')[i].textContent,
            [c.getAttribute('data-value'), c.textContent, c.querySelector('.flag') && c.querySelector('.flag').title]]))
    }))""")


def _first_section(browser) -> str:
    """The first ``<h2>`` of the page, and that it sits in the scoreboard section, before every other one."""
    return browser.execute_script(
        "const h = document.querySelectorAll('h2'); return h[0].closest('section') && "
        "h[0].closest('section').id === 'scoreboard' ? h[0].textContent : 'not the scoreboard: ' + h[0].textContent")


def _images_loaded(browser) -> list[str]:
    """The alt texts of the page's images that did not load (naturalWidth 0); asserts there is one at least."""
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return Array.from(document.images).every(i => "
                                                                "i.complete)"))
    images = browser.execute_script(IMAGES)
    assert images
    return [alt for alt, loaded in images if not loaded]


def _screenshot(browser, name: str, element=None) -> None:
    if SCREENSHOTS:
        path = Path(SCREENSHOTS).resolve() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if element is not None:
            element.screenshot(str(path))
        else:
            browser.save_screenshot(str(path))


def _jobs(client: MlflowClient) -> dict:
    """The store's FINISHED job runs (not a sweep, not a comparison), by run id."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_id: r for r in client.search_runs(experiments, "attributes.status = 'FINISHED'")
            if r.data.tags.get("kind") not in ("sweep", "comparison")}


def test_comparison_report_opens_on_a_sortable_scoreboard_of_the_compared_runs(store, browser, tmp_path):
    client, found = runs(store)
    comparison = next(r for r in found if r.data.tags.get("kind") == "comparison")
    jobs = _jobs(client)
    report = Path(client.download_artifacts(comparison.info.run_id, "report.html", str(tmp_path)))
    browser.get(report.as_uri())
    assert _first_section(browser) == "Scoreboard"
    rows = _rows(browser)
    assert sorted(r["id"] for r in rows) == sorted(comparison.data.tags["compared_runs"].split(", "))
    for row in rows:
        job = jobs[row["id"]]                      # a FINISHED job run of the store, and the link opens it
        assert row["href"].endswith(f"/#/experiments/{job.info.experiment_id}/runs/{row['id']}"
                                    "?workflowType=machine_learning")
        for group in ("L1", "L2"):
            value = job.data.metrics[f"resemblance_{group}"]
            data, text, flag = row["cells"][f"saccade {group}"]
            assert float(data) == value and text.startswith(f"{value:.1f} [") and flag is None
            assert text.endswith(f" · L{int(job.data.metrics[f'best_layer_{group}'])}")
    scores = pd.read_csv(client.download_artifacts(comparison.info.run_id, "tables/scores.csv", str(tmp_path)))
    assert {(r.run_id, r.column): r.value for r in scores[scores.benchmark == "saccade"].itertuples()} == {
        (i, f"saccade {g}"): jobs[i].data.metrics[f"resemblance_{g}"] for i in (r["id"] for r in rows) for g in ("L1", "L2")}
    _sorted_by_clicks(browser, "prefix", numeric=False)          # none, translate; then translate, none
    assert _images_loaded(browser) == []
    _screenshot(browser, "scoreboard_report.png", browser.find_element(By.ID, "scoreboard"))


@pytest.fixture(scope="module")
def board(store, tmp_path_factory):
    """A copy of the sweep's store with one more FINISHED job run, whose L1 score is flagged, and ``python
    src/board.py --out`` over it: ``(store folder, planted run id, the board's folder, its output)``."""
    tmp = tmp_path_factory.mktemp("board")
    (tmp / "mlruns").mkdir()
    with contextlib.closing(sqlite3.connect(store / "mlruns" / "mlflow.db")) as source, \
            contextlib.closing(sqlite3.connect(tmp / "mlruns" / "mlflow.db")) as copy:
        source.backup(copy)
    client = MlflowClient(store_uri(tmp))
    experiment = client.get_experiment_by_name("attnhuman").experiment_id
    planted = log_run(client, experiment, tmp, "planted-7b-base-none+released", PLANTED_TAGS, PLANTED,
                      parameters=7_000_000_000, layers=2)
    client.create_run(experiment, run_name="still-running")          # RUNNING: not on the board
    proc = subprocess.run([sys.executable, str(ROOT / "src" / "board.py"), "--out", str(tmp / "board")], cwd=tmp,
                          env={**os.environ, "MLFLOW_TRACKING_URI": store_uri(tmp)}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return tmp, planted, tmp / "board", proc.stdout


def test_board_shows_every_finished_job_run_with_links_flags_and_figures(board, browser):
    folder, planted, out, printed = board
    jobs = _jobs(MlflowClient(store_uri(folder)))
    assert len(jobs) == 3 and planted in jobs
    assert printed.strip() == (f"Scoreboard of 3 runs: {out / 'index.html'} (scores.csv, scores.json, 2 figures in "
                               f"{out / 'figures'})")
    browser.get((out / "index.html").as_uri())
    assert _first_section(browser) == "Scoreboard"
    rows = _rows(browser)
    assert sorted(r["id"] for r in rows) == sorted(jobs)
    for row in rows:
        assert row["href"] == (f"http://127.0.0.1:5000/#/experiments/{jobs[row['id']].info.experiment_id}/runs/"
                               f"{row['id']}?workflowType=machine_learning")
        assert row["cells"]["corpus"][1] == "Reading Brain"
        assert float(row["cells"]["saccade L1"][0]) == jobs[row["id"]].data.metrics["resemblance_L1"]
    flagged = {r["id"]: r["cells"]["saccade L1"] for r in rows if r["cells"]["saccade L1"][2]}
    assert list(flagged) == [planted]
    assert flagged[planted][1] == "131.2 [104.5, 160.0] · L1⚑"           # 131.25 to one decimal
    assert flagged[planted][2] == (f"above_ceiling: {FLAGS['above_ceiling']}; "
                                   f"ceiling_includes_zero: {FLAGS['ceiling_includes_zero']}")
    assert next(r for r in rows if r["id"] == planted)["cells"]["size"][1] == "7B"
    _sorted_by_clicks(browser, "saccade L1")
    _sorted_by_clicks(browser, "saccade L2")                      # the planted run has none: last both ways
    _sorted_by_clicks(browser, "size")                            # 3.96M < 7B by parameters, not by text
    assert _images_loaded(browser) == []
    assert browser.execute_script("return Array.from(document.images).map(i => i.alt)") == ["saccade L1", "saccade L2"]
    scores = pd.read_csv(out / "scores.csv")
    assert {(r.run_id, r.column): r.value for r in scores.itertuples()} == {
        (i, f"saccade {g}"): r.data.metrics[f"resemblance_{g}"] for i, r in jobs.items() for g in ("L1", "L2")
        if f"resemblance_{g}" in r.data.metrics}
    _screenshot(browser, "board.png")


def test_board_of_a_store_without_finished_job_runs_says_so_in_one_line(board, tmp_path, capsys, monkeypatch):
    folder = board[0]
    client = MlflowClient(store_uri(folder))
    client.create_run(client.create_experiment("empty"), run_name="still-running")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri(folder))
    assert board_app.main(["--out", str(tmp_path / "b"), "--experiment", "empty"], CONF_DIR) == 1
    assert capsys.readouterr().err == (f"board: No FINISHED job run in experiment 'empty' of {store_uri(folder)}: run "
                                       "a job first (make run, or python src/main.py ...), or set MLFLOW_TRACKING_URI "
                                       "to the store that holds them.\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri(tmp_path))           # no store there
    proc = subprocess.run([sys.executable, str(ROOT / "src" / "board.py"), "--out", str(tmp_path / "b")],
                          env=dict(os.environ), capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr == (
        f"board: No MLflow store at {tmp_path}/mlruns/mlflow.db: run a job first (make run), or set "
        "MLFLOW_TRACKING_URI to the store that holds the runs.\n")
    assert not (tmp_path / "b").exists() and not (tmp_path / "mlruns").exists()
