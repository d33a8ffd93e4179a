"""The scoreboard: every run's headline scores at a glance (no MLflow here; ``app/`` reads the runs).

From one :class:`BoardRow` per run (its settings and its :func:`attnhuman.comparison.scores.scores`) it builds

- :func:`records` / :func:`write_scores`: one record per run and score (value, interval, unit, best layer, ceiling
  with its interval, counts, flags) as a DataFrame, ``scores.csv`` and ``scores.json``, at full precision;
- :func:`html`: an HTML ``<section>``: one row per run, one column per benchmark present, each cell
  ``38.5 [30.1, 45.2] · L11`` coloured from white (lowest in its column) to green (highest), flag marks with a
  tooltip, headers that sort the rows on a click (inline script, no network), and a legend.
"""
from __future__ import annotations

import html as _html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from attnhuman.comparison.scores import FLAGS, NATS, PERCENT, Score
from attnhuman.reporting.formats import interval, missing, number, parameters

BENCHMARKS = ("saccade", "fmri", "word_importance", "predictive")     # the columns' order
SHOWN_PREDICTORS = ("surprisal",)      # predictive columns the HTML table shows (the files hold every predictor)
SETTINGS = ("model", "size", "parameters", "tuning", "measure", "prefix", "source", "context", "corpus")
WHITE, GREEN = (255, 255, 255), (49, 163, 84)     # the colour scale of a column: lowest -> highest
SECTION_ID = "scoreboard"


@dataclass(frozen=True)
class BoardRow:
    """One run on the scoreboard: its name, id and MLflow link (None: no link), its settings and its scores."""

    name: str
    run_id: str
    link: str | None
    model: str
    size: str
    parameters: int | None
    tuning: str
    measure: str
    prefix: str
    source: str
    context: str
    corpus: str
    scores: tuple[Score, ...] = field(default=())


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def board_row(name: str, run_id: str, tags: dict, params: dict, scores: list[Score], link: str | None) -> BoardRow:
    """A job run's row from its MLflow tags and params (runs logged before a tag existed: its param, else ``-``)."""
    return BoardRow(
        name=name, run_id=run_id, link=link, model=tags.get("model", "-"), size=tags.get("size", "-"),
        parameters=_int(params.get("model_size.parameters")), tuning=tags.get("tuning", "-"),
        measure=tags.get("measure") or params.get("measure.name", "weights"), prefix=tags.get("prefix", "-"),
        source=tags.get("source", "-"), context=params.get("context.name", "unit"),
        corpus=tags.get("corpus") or params.get("data.name", "-"), scores=tuple(scores))


# --- the files -------------------------------------------------------------------------------------------------------

RECORD_COLUMNS = ["run", "run_id", "link", *SETTINGS, "benchmark", "group", "column", "value", "low", "high", "unit",
                  "best_layer", "ceiling", "ceiling_low", "ceiling_high", "n_subjects", "n_units", "baseline", "flags"]


def records(rows: list[BoardRow]) -> pd.DataFrame:
    """One record per run and score, every predictor included; ``flags``: ``;``-separated names, '' for none."""
    out = []
    for row in rows:
        settings = {k: getattr(row, k) for k in SETTINGS}
        for s in row.scores:
            out.append({"run": row.name, "run_id": row.run_id, "link": row.link, **settings,
                        "benchmark": s.benchmark, "group": s.group, "column": s.column, "value": s.value,
                        "low": s.low, "high": s.high, "unit": s.unit, "best_layer": s.layer, "ceiling": s.ceiling,
                        "ceiling_low": s.ceiling_low, "ceiling_high": s.ceiling_high, "n_subjects": s.n_subjects,
                        "n_units": s.n_units, "baseline": s.baseline, "flags": ";".join(s.flags)})
    frame = pd.DataFrame(out, columns=RECORD_COLUMNS)
    for column in ("parameters", "best_layer", "n_subjects", "n_units"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _plain(value):
    """A JSON value: None for a missing number, Python scalars for numpy / pandas ones."""
    if missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def write_scores(rows: list[BoardRow], folder: Path) -> tuple[Path, Path]:
    """``scores.csv`` and ``scores.json`` (a list of records, ``flags`` as a list) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = records(rows)
    frame.to_csv(folder / "scores.csv", index=False)
    items = [{k: _plain(v) for k, v in record.items()} for record in frame.astype(object).to_dict("records")]
    for item in items:
        item["flags"] = item["flags"].split(";") if item["flags"] else []
    (folder / "scores.json").write_text(json.dumps(items, indent=1, allow_nan=False), encoding="utf-8")
    return folder / "scores.csv", folder / "scores.json"


# --- the table -------------------------------------------------------------------------------------------------------

def shown(score: Score) -> bool:
    """Whether the HTML table shows ``score``: every attention benchmark, and predictive power of surprisal."""
    return score.benchmark != "predictive" or score.column.split()[-2] in SHOWN_PREDICTORS


def column_of(row: BoardRow, score: Score, rows: list[BoardRow]) -> str:
    """The scoreboard column of ``score``: its benchmark (``saccade L1``), prefixed by the corpus when ``rows`` hold
    several (``OneStop · saccade L1``): scores of different corpora are not comparable and never share a column."""
    return f"{row.corpus} · {score.column}" if len({r.corpus for r in rows}) > 1 else score.column


def columns(rows: list[BoardRow]) -> list[str]:
    """The benchmark columns of the scores at hand (HTML: :func:`shown` ones), by corpus and benchmark, then first
    seen."""
    seen: dict[str, tuple[str, int]] = {}
    for row in rows:
        for s in row.scores:
            if shown(s):
                seen.setdefault(column_of(row, s, rows), (row.corpus, BENCHMARKS.index(s.benchmark)))
    return sorted(seen, key=lambda c: seen[c])          # stable: first-seen order within a benchmark


def ranked(rows: list[BoardRow]) -> list[BoardRow]:
    """``rows`` by corpus, then best first on the first column of the scoreboard (the runs without it last)."""
    order = columns(rows)

    def key(row: BoardRow):
        values = {column_of(row, s, rows): s.value for s in row.scores if shown(s) and not missing(s.value)}
        first = next((values[c] for c in order if c in values), None)
        return (row.corpus, first is None, -(first or 0.0), row.name)
    return sorted(rows, key=key)


def cell_text(score: Score) -> str:
    """``38.5 [30.1, 45.2] · L11`` (% of ceiling to one decimal, DeltaLL to 4; no interval or layer: left out)."""
    text = number(score.value, score.unit)
    span = interval(score.low, score.high, score.unit)
    return text + (f" {span}" if span else "") + (f" · L{score.layer}" if score.layer is not None else "")


def colour_value(score: Score) -> float:
    """The value a cell's colour is scaled on: % of ceiling clipped to 0-100, DeltaLL as it is."""
    return min(max(score.value, 0.0), 100.0) if score.unit == PERCENT else score.value


def colour(value: float, lowest: float, highest: float) -> str:
    """``rgb(...)`` from white (``lowest``) to green (``highest``); a DeltaLL column of one value is green."""
    fraction = 1.0 if highest <= lowest else (value - lowest) / (highest - lowest)
    fraction = min(max(fraction, 0.0), 1.0)
    r, g, b = (round(w + fraction * (c - w)) for w, c in zip(WHITE, GREEN))
    return f"rgb({r}, {g}, {b})"


def flag_title(flags: tuple[str, ...]) -> str:
    """The tooltip of a flag mark: each flag with its meaning."""
    return "; ".join(f"{f}: {FLAGS.get(f, f)}" for f in flags)


def _e(text) -> str:
    return _html.escape(str(text), quote=True)


def _detail(score: Score) -> str:
    """A cell's tooltip: the ceiling with its interval and the counts behind the score."""
    parts = [f"{score.column}: {number(score.value, score.unit)} {score.unit}"]
    if score.ceiling is not None:
        ceiling = f"ceiling {score.ceiling:.4g}"
        if score.ceiling_low is not None and score.ceiling_high is not None:
            ceiling += f" [{score.ceiling_low:.4g}, {score.ceiling_high:.4g}]"
        parts.append(ceiling)
    if score.n_subjects is not None:
        parts.append(f"{score.n_subjects} subjects")
    if score.n_units is not None:
        parts.append(f"{score.n_units} {'words' if score.unit == NATS else 'units'}")
    return ", ".join(parts)


ROW_HEADERS = (("run", "text"), ("model", "text"), ("size", "number"), ("tuning", "text"), ("measure", "text"),
               ("prefix", "text"), ("source", "text"), ("corpus", "text"))

STYLE = """<style>
table.scoreboard{border-collapse:collapse;font-size:85%}
table.scoreboard td,table.scoreboard th{border:1px solid #ccc;padding:2px 5px;white-space:nowrap}
table.scoreboard th{cursor:pointer;background:#f4f4f4;user-select:none}
table.scoreboard th[aria-sort=descending]::after{content:" \\25BC"}
table.scoreboard th[aria-sort=ascending]::after{content:" \\25B2"}
table.scoreboard td.score{text-align:right}
table.scoreboard .flag{color:#c0392b;cursor:help;margin-left:3px}
.scoreboard-scroll{overflow-x:auto;max-width:100%}
.scoreboard-legend{font-size:85%;color:#333}
</style>"""

# numbers sort on data-value (first click: highest first), text alphabetically; empty cells always last
SCRIPT = """<script>
(function () {
  document.querySelectorAll("table.scoreboard").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, index) {
      th.addEventListener("click", function () {
        var numeric = th.getAttribute("data-type") === "number";
        var current = th.getAttribute("aria-sort");
        var order = current ? (current === "ascending" ? "descending" : "ascending")
                            : (numeric ? "descending" : "ascending");
        var sign = order === "ascending" ? 1 : -1;
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[index].getAttribute("data-value"), y = b.cells[index].getAttribute("data-value");
          if (x === "" || y === "") { return (x === "") - (y === ""); }
          if (numeric) { return sign * (parseFloat(x) - parseFloat(y)); }
          return sign * x.localeCompare(y);
        });
        rows.forEach(function (row) { body.appendChild(row); });
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", order);
      });
    });
  });
})();
</script>"""


def legend(rows: list[BoardRow]) -> str:
    """What the numbers, intervals, layers, colours and flags of the table mean."""
    units = {s.unit for row in rows for s in row.scores if shown(s)}
    items = []
    if PERCENT in units or not units:
        items.append("<b>% of ceiling</b>: the model's best layer scored against the readers (saccade and fMRI: "
                     "R2 of each reader's data on the layer's attention; word importance: Spearman rho of reading "
                     "times and the attention a word receives), as a percentage of how well the readers predict "
                     "each other (the ceiling): 100 % would be as human-like as another reader "
                     "(docs/method.md, \"Human resemblance\").")
    if NATS in units:
        items.append("<b>predictive</b> columns: held-out DeltaLL (nats per word) that the model's surprisal adds "
                     "to length and frequency in explaining reading times (docs/method.md, \"Reading times from "
                     "model predictions\"); every predictor is in scores.csv / scores.json.")
    items += [
        "<b>[low, high]</b>: the 95 % bootstrap interval, over subjects (saccade, fMRI) or over units, sentences or "
        "paragraphs (word importance, predictive power) (docs/method.md, \"Uncertainty\").",
        "<b>· L11</b>: the best layer; layers are counted from 0 (L0 is the first layer).",
        "<b>Colour</b>: % of ceiling from white (0 % or less) to green (100 % or more), the same in every column; "
        "DeltaLL per column, from white (lowest) to green (highest).",
        "<b>size</b>: parameters, as 135M (million) or 7B (billion). Click any header to sort by it "
        "(again to reverse).",
        *(f"<b>⚑ {_e(flag)}</b>: {_e(meaning)}." for flag, meaning in FLAGS.items()),
    ]
    return ('<div class="scoreboard-legend"><ul>' + "".join(f"<li>{item}</li>" for item in items) + "</ul></div>")


def table(rows: list[BoardRow]) -> str:
    """The ``<table class="scoreboard">``: one row per run, one column per benchmark (see the module)."""
    shown_columns = columns(rows)
    cells = {(i, column_of(row, s, rows)): s for i, row in enumerate(rows) for s in row.scores if shown(s)}
    ranges = {}
    for column in shown_columns:
        found = [s for (_, c), s in cells.items() if c == column]
        values = [colour_value(s) for s in found]
        ranges[column] = (0.0, 100.0) if found[0].unit == PERCENT else (min(values), max(values))
    units = {c: s.unit for (_, c), s in cells.items()}
    head = "".join(f'<th data-type="{kind}">{name}</th>' for name, kind in ROW_HEADERS)
    head += "".join(f'<th data-type="number" title="{_e(units[c])}">{_e(c)}</th>' for c in shown_columns)
    lines = ['<div class="scoreboard-scroll"><table class="scoreboard">', f"<thead><tr>{head}</tr></thead>",
             "<tbody>"]
    for i, row in enumerate(rows):
        name = _e(row.name)
        run = f'<a href="{_e(row.link)}">{name}</a>' if row.link else name
        texts = (row.model, parameters(row.parameters), row.tuning, row.measure, row.prefix, row.source, row.corpus)
        out = [f'<td data-value="{_e(row.name)}">{run}</td>', f'<td data-value="{_e(row.model)}">{_e(row.model)}</td>',
               f'<td data-value="{"" if row.parameters is None else row.parameters}">{_e(texts[1])}</td>']
        out += [f'<td data-value="{_e(t)}">{_e(t)}</td>' for t in texts[2:]]
        for column in shown_columns:
            s = cells.get((i, column))
            if s is None or missing(s.value):
                out.append('<td class="score" data-value="">-</td>')
                continue
            flag = (f'<span class="flag" data-flags="{_e(" ".join(s.flags))}" title="{_e(flag_title(s.flags))}">⚑'
                    "</span>" if s.flags else "")
            out.append(f'<td class="score" data-value="{float(s.value)!r}" title="{_e(_detail(s))}" '
                       f'style="background-color:{colour(colour_value(s), *ranges[column])}">'
                       f"{_e(cell_text(s))}{flag}</td>")
        lines.append(f'<tr data-run-id="{_e(row.run_id)}">' + "".join(out) + "</tr>")
    lines += ["</tbody>", "</table></div>"]
    return "\n".join(lines)


def html(rows: list[BoardRow], heading: str = "Scoreboard", intro: str = "") -> str:
    """The scoreboard as one HTML ``<section id="scoreboard">`` (no blank line inside, so that Markdown keeps it as it
    is): heading, ``intro``, table, legend, the sorting script."""
    parts = [f'<section id="{SECTION_ID}">', f"<h2>{_e(heading)}</h2>", STYLE]
    if intro:
        parts.append(f"<p>{intro}</p>")
    parts += [table(rows) if rows else "<p>No run to show.</p>", legend(rows), SCRIPT, "</section>"]
    return "\n".join(parts)
