"""The scoreboard builder (reporting/scoreboard.py) and the report's number formats, read back with an HTML parser
and held to values written out in the test."""
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from attnhuman.comparison.scores import FLAGS, scores
from attnhuman.comparison.tables import ComparisonTables
from attnhuman.reporting.report import markdown_table, write_html, write_word_report
from attnhuman.reporting.scoreboard import board_row, columns, html, ranked, records, write_scores

LLAMA = {  # the released LLaMA-30B's L1 / L2 numbers (README), intervals and a surprisal / entropy pair made up
    "resemblance_L1": 64.3185, "resemblance_low_L1": 60.1234, "resemblance_high_L1": 68.9012, "best_layer_L1": 1,
    "ceiling_L1": 0.14678, "ceiling_low_L1": 0.121, "ceiling_high_L1": 0.171, "n_subjects_L1": 46,
    "resemblance_L2": 73.4999, "resemblance_low_L2": 70.05, "resemblance_high_L2": 77.25, "best_layer_L2": 1,
    "ceiling_L2": 0.21651, "ceiling_low_L2": 0.19, "ceiling_high_L2": 0.24, "n_subjects_L2": 54,
}
SMOL = {
    "resemblance_L1": 38.46, "resemblance_low_L1": 30.14, "resemblance_high_L1": 45.21, "best_layer_L1": 11,
    "ceiling_L1": 0.15, "ceiling_low_L1": 0.12, "ceiling_high_L1": 0.18, "n_subjects_L1": 46,
    "pp_dll_cv_surprisal_RT_L1": 0.01612, "pp_dll_cv_low_surprisal_RT_L1": 0.00831,
    "pp_dll_cv_high_surprisal_RT_L1": 0.02394, "pp_n_words_surprisal_RT_L1": 8534,
    "pp_dll_cv_entropy_RT_L1": 0.00042, "pp_n_words_entropy_RT_L1": 8534,
}
FLAGGED = {  # above its ceiling, and too few readers
    "resemblance_L1": 121.7, "resemblance_low_L1": 95.0, "resemblance_high_L1": 150.0, "best_layer_L1": 0,
    "ceiling_L1": 0.01, "ceiling_low_L1": 0.002, "ceiling_high_L1": 0.02, "n_subjects_L1": 6,
}
TAGS = {"model": "llama", "size": "30b", "tuning": "base", "prefix": "none", "source": "released", "corpus": "Reading Brain"}


def _rows(link=True):
    return [
        board_row("llama-30b-base-none+released", "run-llama", TAGS, {"model_size.parameters": "32500000000"},
                  scores(LLAMA), "http://127.0.0.1:5000/#/experiments/1/runs/run-llama" if link else None),
        board_row("smollm2-135m-instruct-none", "run-smol",
                  {**TAGS, "model": "smollm2", "size": "135m", "tuning": "instruct", "source": "hf",
                   "measure": "norm"}, {"model_size.parameters": "134515008", "context.name": "text"}, scores(SMOL),
                  None),
        board_row("tiny-base-none+released", "run-flag", {**TAGS, "model": "tiny"}, {"model_size.parameters": "7e9"},
                  scores(FLAGGED), "http://h/#/experiments/1/runs/run-flag"),
    ]


class Page(HTMLParser):
    """The scoreboard table: headers (attrs, text), rows of cells (attrs, text, links, flag spans), the legend."""

    def __init__(self):
        super().__init__()
        self.headers, self.rows, self.legend, self.h2 = [], [], "", []
        self._cell = self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "th":
            self.headers.append([attrs, ""])
            self._cell = self.headers[-1]
        elif tag == "tr" and "data-run-id" in attrs:
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append({"attrs": attrs, "text": "", "links": [], "flags": []})
            self._cell = self.rows[-1][-1]
        elif tag == "a" and isinstance(self._cell, dict):
            self._cell["links"].append(attrs["href"])
        elif tag == "span" and attrs.get("class") == "flag":
            self._cell["flags"].append(attrs)
        elif tag == "div" and attrs.get("class") == "scoreboard-legend":
            self._in = "legend"
        elif tag == "h2":
            self._in = "h2"
            self.h2.append("")

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._cell = None
        if tag in ("div", "h2"):
            self._in = None

    def handle_data(self, data):
        if isinstance(self._cell, list):
            self._cell[1] += data
        elif isinstance(self._cell, dict):
            self._cell["text"] += data
        if self._in == "legend":
            self.legend += data
        elif self._in == "h2":
            self.h2[-1] += data


def _page(rows) -> Page:
    page = Page()
    page.feed(html(rows))
    return page


def _cells(page: Page, header: str) -> list[dict]:
    index = [text for _, text in page.headers].index(header)
    return [row[index] for row in page.rows]


def test_one_column_per_benchmark_present_and_surprisal_alone_among_predictors():
    page = _page(_rows())
    assert [text for _, text in page.headers] == ["run", "model", "size", "tuning", "measure", "prefix", "source",
                                                  "corpus", "saccade L1", "saccade L2", "predictive RT surprisal L1"]
    assert columns(_rows()) == ["saccade L1", "saccade L2", "predictive RT surprisal L1"]
    assert [attrs["data-type"] for attrs, _ in page.headers] == ["text", "text", "number"] + ["text"] * 5 + ["number"] * 3
    # the files keep every score, the entropy predictor included
    frame = records(_rows())
    assert len(frame) == len(scores(LLAMA)) + len(scores(SMOL)) + len(scores(FLAGGED)) == 6
    assert "predictive RT entropy L1" in set(frame.column)


def test_cells_show_percent_to_one_decimal_interval_and_zero_based_layer():
    page = _page(_rows())
    texts = [c["text"].replace("⚑", "") for c in _cells(page, "saccade L1")]
    assert texts == ["64.3 [60.1, 68.9] · L1", "38.5 [30.1, 45.2] · L11", "121.7 [95.0, 150.0] · L0"]
    assert [c["text"] for c in _cells(page, "saccade L2")] == ["73.5 [70.0, 77.2] · L1", "-", "-"]  # 77.25 -> 77.2
    assert [c["text"] for c in _cells(page, "predictive RT surprisal L1")] == ["-", "0.0161 [0.0083, 0.0239]", "-"]
    assert [c["text"] for c in _cells(page, "size")] == ["32.5B", "135M", "7B"]
    assert [c["text"] for c in _cells(page, "measure")] == ["weights", "norm", "weights"]


def test_sort_keys_are_the_full_precision_values_and_parameters():
    page = _page(_rows())
    assert [c["attrs"]["data-value"] for c in _cells(page, "saccade L1")] == ["64.3185", "38.46", "121.7"]
    assert [c["attrs"]["data-value"] for c in _cells(page, "saccade L2")] == ["73.4999", "", ""]
    assert [int(float(c["attrs"]["data-value"])) for c in _cells(page, "size")] == [32_500_000_000, 134_515_008,
                                                                                     7_000_000_000]
    assert [c["attrs"]["data-value"] for c in _cells(page, "run")] == [
        "llama-30b-base-none+released", "smollm2-135m-instruct-none", "tiny-base-none+released"]


def _rgb(style: str) -> tuple[int, ...]:
    inside = style.split("rgb(")[1].split(")")[0]
    return tuple(int(v) for v in inside.split(","))


def test_colours_run_from_white_to_green_by_value_and_percent_clips_at_100():
    values = [5.0, 20.0, 50.0, 80.0, 99.0, 100.0, 140.0, -10.0]
    rows = [board_row(f"r{i}", f"id{i}", TAGS, {}, scores({"resemblance_L1": v}), None) for i, v in enumerate(values)]
    cells = _cells(_page(rows), "saccade L1")
    colours = {v: _rgb(c["attrs"]["style"]) for v, c in zip(values, cells)}
    order = sorted(values)
    lightness = [sum(colours[v]) for v in order]
    assert all(a >= b for a, b in zip(lightness, lightness[1:]))      # higher value, darker (greener) background
    assert colours[-10.0] == (255, 255, 255) and colours[100.0] == colours[140.0] == (49, 163, 84)
    # the clipped column runs 0..100: 50 % is halfway from white to green
    half = tuple(round(w + 0.5 * (g - w)) for w, g in zip((255, 255, 255), (49, 163, 84)))
    assert colours[50.0] == half
    # % of ceiling is on one absolute scale: a lone 50 % is as green as 50 % among others, not the column's top
    lone = _cells(_page([board_row("r", "id", TAGS, {}, scores({"resemblance_L1": 50.0}), None)]), "saccade L1")
    assert _rgb(lone[0]["attrs"]["style"]) == half
    # DeltaLL is scaled over its own range, not clipped
    rows = [board_row(f"r{i}", f"id{i}", TAGS, {}, scores({"pp_dll_cv_surprisal_RT_L1": v}), None)
            for i, v in enumerate([0.001, 0.003, 0.002])]
    cells = _cells(_page(rows), "predictive RT surprisal L1")
    assert [_rgb(c["attrs"]["style"]) for c in cells] == [(255, 255, 255), (49, 163, 84), half]


def test_flags_are_marked_with_their_meaning_and_unflagged_cells_are_not():
    page = _page(_rows())
    cells = _cells(page, "saccade L1")
    assert [c["flags"] for c in cells[:2]] == [[], []]
    [flag] = cells[2]["flags"]
    assert flag["data-flags"].split() == ["above_ceiling", "few_subjects"]
    assert flag["title"] == f"above_ceiling: {FLAGS['above_ceiling']}; few_subjects: {FLAGS['few_subjects']}"
    for name, meaning in FLAGS.items():
        assert f"⚑ {name}: {meaning}" in page.legend


def test_run_names_link_to_their_runs_and_the_legend_explains_the_numbers():
    page = _page(_rows())
    assert [c["links"] for c in _cells(page, "run")] == [["http://127.0.0.1:5000/#/experiments/1/runs/run-llama"], [],
                                                         ["http://h/#/experiments/1/runs/run-flag"]]
    assert page.h2 == ["Scoreboard"]
    for words in ("% of ceiling", "95 % bootstrap interval, over subjects", "units", "counted from 0",
                  "135M (million) or 7B (billion)", "Uncertainty"):
        assert words in page.legend, words


def test_scores_csv_and_json_keep_full_precision(tmp_path):
    csv, js = write_scores(_rows(), tmp_path)
    frame, items = pd.read_csv(csv), json.loads(js.read_text())
    assert len(frame) == len(items) == 6
    llama = frame[(frame.run_id == "run-llama")].set_index("column")
    assert llama.loc["saccade L1", "value"] == 64.3185 and llama.loc["saccade L2", "value"] == 73.4999
    assert llama.loc["saccade L1", "ceiling"] == 0.14678 and llama.loc["saccade L1", "ceiling_low"] == 0.121
    assert llama.loc["saccade L1", "best_layer"] == 1 and llama.loc["saccade L1", "n_subjects"] == 46
    assert llama.loc["saccade L1", "parameters"] == 32_500_000_000 and llama.loc["saccade L1", "corpus"] == "Reading Brain"
    entropy = next(i for i in items if i["column"] == "predictive RT entropy L1")
    assert entropy["value"] == 0.00042 and entropy["low"] is None and entropy["n_units"] == 8534
    assert entropy["unit"] == "nats per word" and entropy["context"] == "text" and entropy["link"] is None
    flagged = next(i for i in items if i["run_id"] == "run-flag")
    assert flagged["flags"] == ["above_ceiling", "few_subjects"] and flagged["value"] == 121.7
    assert all(i["flags"] == [] for i in items if i["run_id"] != "run-flag")
    assert [i["value"] for i in items] == list(frame.value)


def test_report_formats_percent_to_one_decimal_and_parameters_and_names_paper_columns():
    table = pd.DataFrame({"run": ["llama-30b"], "parameters": [32_500_000_000], "resemblance_L1": [64.3185],
                          "paper_resemblance_L1": [63.16], "ceiling_L1": [0.14678], "small": [np.nan]})
    text = markdown_table(table, {"run": "run", "parameters": "parameters", "resemblance_L1": "L1 %",
                                  "paper_resemblance_L1": "paper L1 %", "ceiling_L1": "ceiling L1", "small": "x"})
    assert text.splitlines()[-1] == "| llama-30b | 32.5B | 64.3 | 63.2 | 0.1468 | - |"


def test_report_opens_on_the_scoreboard(tmp_path):
    class Run:
        label, code_digest = "llama-30b-base-none+released", "abc"

    write_word_report(tmp_path / "report.md", [Run()], ComparisonTables(measures=pd.DataFrame()), [], [],
                      html(_rows()))
    write_html(tmp_path / "report.md", tmp_path / "report.html")
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert text.index('<section id="scoreboard">') < text.index("1 runs compared")
        page = Page()
        page.feed(text)
        assert page.h2[0] == "Scoreboard" and len(page.rows) == 3


@pytest.mark.parametrize("parameters, expected", [("135000000", "135M"), ("7000000000", "7B"), (None, "-")])
def test_size_cell(parameters, expected):
    row = board_row("r", "id", TAGS, {"model_size.parameters": parameters} if parameters else {},
                    scores({"resemblance_L1": 1.0}), None)
    assert _cells(_page([row]), "size")[0]["text"] == expected


def test_corpora_never_share_a_column_and_rows_rank_best_first_within_a_corpus():
    def row(name, corpus, value):
        return board_row(name, name, {**TAGS, "corpus": corpus}, {}, scores({"resemblance_L1": value}), None)

    one = [row("a", "Reading Brain", 34.6), row("b", "Reading Brain", 64.3), row("c", "Reading Brain", 38.5)]
    assert columns(one) == ["saccade L1"]
    assert [r.name for r in ranked(one)] == ["b", "c", "a"]
    mixed = one + [row("d", "OneStop", 13.9), board_row("e", "e", {**TAGS, "corpus": "OneStop"}, {}, [], None)]
    assert columns(mixed) == ["OneStop · saccade L1", "Reading Brain · saccade L1"]
    assert [r.name for r in ranked(mixed)] == ["d", "e", "b", "c", "a"]       # a run without the column: last
    texts = [c["text"] for c in _cells(_page(mixed), "OneStop · saccade L1")]      # rows a, b, c, d, e
    assert texts[:3] == ["-", "-", "-"] and texts[3].startswith("13.9") and texts[4] == "-"
