"""``make board``: every FINISHED job run of an MLflow store on one static page a lab can publish.

``python src/board.py --out DIR [--experiment NAME]`` reads the store of ``$MLFLOW_TRACKING_URI``, else conf's
``mlflow.tracking_uri``, else ``sqlite:///<project>/mlruns/mlflow.db``, and writes ``DIR/index.html`` (the
scoreboard: one row per run, across corpora and sweeps, each linking to its run in the MLflow UI), ``scores.csv``,
``scores.json`` and ``figures/`` (each benchmark's scores per run, with their intervals).
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from attnhuman.app.spec import store_uri
from attnhuman.app.tracking import COMPARISON_TAG, SWEEP_TAG, check_server, run_link
from attnhuman.comparison.scores import scores
from attnhuman.errors import DataError
from attnhuman.reporting.board_figures import board_figures
from attnhuman.reporting.scoreboard import BoardRow, board_row, ranked, write_scores
from attnhuman.reporting.scoreboard import html as scoreboard_html

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>attnhuman scoreboard</title>
<style>body{{font-family:sans-serif;margin:2em;line-height:1.4}}figure{{margin:1em 0}}
img{{max-width:900px;width:100%}}figcaption{{font-size:85%;color:#444}}</style></head>
<body>
<h1>attnhuman scoreboard</h1>
<p>{summary} Every score, with its interval, ceiling and counts: <a href="scores.csv">scores.csv</a>,
<a href="scores.json">scores.json</a>.</p>
{board}
<h2>Figures</h2>
{figures}
</body></html>
"""


def conf_settings(conf: Path) -> tuple[str | None, str]:
    """``(mlflow.tracking_uri, mlflow.experiment)`` as ``conf/config.yaml`` composes them."""
    with initialize_config_dir(config_dir=str(Path(conf).resolve()), version_base="1.3"):
        cfg = compose("config")
    return cfg.mlflow.tracking_uri, str(cfg.mlflow.experiment)


def _client(uri: str) -> MlflowClient:
    """A client of an existing store: a SQLite file that is not there is not created, a server must answer."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_file():
            raise DataError(f"No MLflow store at {path}: run a job first (make run), or set MLFLOW_TRACKING_URI to "
                            "the store that holds the runs.")
    elif uri.startswith(("http://", "https://")):
        check_server(uri)
    return MlflowClient(uri)


def finished_jobs(client: MlflowClient, experiment_id: str) -> list:
    """Every FINISHED job run of the experiment (not a sweep's parent, not a comparison), newest first."""
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], "attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1000, page_token=token)
        found += [r for r in page if r.data.tags.get("kind") not in (SWEEP_TAG, COMPARISON_TAG)]
        token = page.token
        if not token:
            return found


def board_rows(client: MlflowClient, experiment_id: str) -> tuple[list[BoardRow], int]:
    """The scoreboard's rows: one per job (its newest FINISHED run; a job: run name, corpus and source), by corpus,
    best first (:func:`~attnhuman.reporting.scoreboard.ranked`); and how many older runs of the same jobs were left
    out."""
    uri = client.tracking_uri
    newest, older = {}, 0
    for r in finished_jobs(client, experiment_id):                    # newest first
        key = (r.info.run_name, r.data.tags.get("corpus"), r.data.tags.get("source"))
        if key in newest:
            older += 1
        else:
            newest[key] = r
    rows = [board_row(r.info.run_name, r.info.run_id, r.data.tags, r.data.params, scores(r.data.metrics),
                      run_link(uri, experiment_id, r.info.run_id)) for r in newest.values()]
    return ranked(rows), older


def write_board(rows: list[BoardRow], out: Path, experiment: str, older: int = 0) -> list[tuple[str, Path]]:
    """``out/index.html``, ``scores.csv``, ``scores.json`` and ``figures/`` (older figures there are removed)."""
    out = Path(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("*.png"):
        old.unlink()
    write_scores(rows, out)
    drawn = board_figures(rows, figures)
    corpora = sorted({r.corpus for r in rows})
    summary = (f"{len(rows)} FINISHED job run{'s' * (len(rows) != 1)} of experiment "
               f"<code>{html.escape(experiment)}</code> on {html.escape(', '.join(corpora))}, "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; each run's name opens it in the MLflow UI"
               + (f"; {older} older run{'s' * (older != 1)} of the same jobs left out (the newest run of each job "
                  "is shown)." if older else "."))
    captions = "\n".join(
        f'<figure><img src="figures/{path.name}" alt="{html.escape(column)}"><figcaption>{html.escape(column)}: '
        "each run's score (best layer) with its 95 % bootstrap interval, one colour per run; ⚑: a flagged score "
        "(the table says why).</figcaption></figure>"
        for column, path in drawn) or "<p>No score to draw.</p>"
    (out / "index.html").write_text(PAGE.format(summary=summary, board=scoreboard_html(rows), figures=captions),
                                    encoding="utf-8")
    return drawn


def board(out: Path, conf: Path, experiment: str | None = None) -> str:
    """Write the board of the store's FINISHED job runs to ``out``; returns what was written, in a line."""
    configured, default_experiment = conf_settings(conf)
    uri = store_uri(configured, Path(conf).resolve().parent)
    name = experiment or default_experiment
    try:
        client = _client(uri)
        found = client.get_experiment_by_name(name)
        if found is None:
            names = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise DataError(f"The MLflow store {uri} has no experiment {name!r} (it has: {names}): name one with "
                            "--experiment.")
        rows, older = board_rows(client, found.experiment_id)
    except MlflowException as e:
        raise DataError(f"MLflow store {uri} cannot be read ({str(e).splitlines()[0][:300]}).") from e
    if not rows:
        raise DataError(f"No FINISHED job run in experiment {name!r} of {uri}: run a job first (make run, or "
                        "python src/main.py ...), or set MLFLOW_TRACKING_URI to the store that holds them.")
    drawn = write_board(rows, out, name, older)
    return (f"Scoreboard of {len(rows)} runs: {Path(out) / 'index.html'} (scores.csv, scores.json, "
            f"{len(drawn)} figures in {Path(out) / 'figures'})")


def main(argv: list[str], conf: Path) -> int:
    """``src/board.py``: 0 when the board is written; 1, with one line on stderr, when there is nothing to show."""
    parser = argparse.ArgumentParser(prog="python src/board.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="the folder to write (index.html, scores.*, figures/)")
    parser.add_argument("--experiment", default=None, help="the MLflow experiment (default: conf's mlflow.experiment)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        print(board(args.out, conf, args.experiment))
    except DataError as e:
        print(f"board: {e}", file=sys.stderr)
        return 1
    return 0
