"""``report.md`` of a comparison run: every table and figure explained in a sentence, paper values beside ours."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import markdown
import numpy as np
import pandas as pd

from attnhuman.comparison import paper
from attnhuman.comparison.tables import ComparisonTables
from attnhuman.comparison.verdict import PAPER_CLAIM, group_verdict
from attnhuman.reporting.formats import parameters, percent


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


# how the report prints a column, by its name in the tables (others: :func:`_fmt`); the CSVs keep full precision
FORMATS = {"parameters": parameters, "mean_x": percent, "mean_y": percent, "predicted": percent,
           "paper_predicted": percent, "relative_change_pct": percent}


def _format(column: str):
    """The formatter of a table column: percentages (``*resemblance_*``) to one decimal, parameters as 7B / 135M."""
    if column in FORMATS:
        return FORMATS[column]
    if "resemblance_" in column:
        return percent
    return _fmt


def markdown_table(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    """``columns``: frame column -> header. Missing values print as '-'; numbers as :func:`_format` says."""
    formats = {c: _format(c) for c in columns}
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(formats[c](row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _resemblance(table: pd.DataFrame, groups: list[str]) -> str:
    columns = {"run": "run", "parameters": "parameters", "ntp_loss": "NTP loss (nats)",
               "ntp_loss_per_len": "loss / length", "paper_ntp_loss_per_len": "paper loss / length"}
    for g in groups:
        columns.update({f"resemblance_{g}": f"{g} %", f"paper_resemblance_{g}": f"paper {g} %",
                        f"best_layer_{g}": "best layer", f"ceiling_{g}": f"ceiling {g}"})
    ceilings = ", ".join(f"{g} {v}" for g, v in paper.CEILING.items())
    fmri = {f"fmri_resemblance_{g}": f"fMRI {g} %" for g in groups}
    fmri.update({f"paper_fmri_resemblance_{g}": f"paper fMRI {g} %" for g in groups})
    has_fmri = any(table.get(c) is not None and table[c].notna().any() for c in fmri)
    return "\n".join([
        "## Human resemblance per run (`tables/resemblance.csv`)",
        "Maximum layerwise human resemblance (% of the inter-subject ceiling, docs/method.md, 'Human resemblance'), the layer "
        "reaching it, and the next-token loss (`ntp_loss`: mean token NLL in nats; `loss / length`: divided once "
        "more by the token count, the paper's Table 1 scale), beside the paper's Table 1 "
        f"(paper ceilings with true counts: {ceilings}).", "",
        markdown_table(table, columns), "",
        *(["fMRI resemblance of the " + paper.FMRI_REGION + " region beside the paper's Table 8. Caution: on the "
           "public ROI data the group-mean ceiling is about 1/N (mostly the predicted subject's own share of the "
           "mean), so percentages near or above 100% mean a weak ceiling, not a brain match; the paper's values "
           "came from a different (Pearson-based) computation.", "",
           markdown_table(table, {"run": "run", **fmri}), ""] if has_fmri else []),
    ])


def _trivial_humans(table: pd.DataFrame) -> str:
    frame = table.reset_index().rename(columns={table.index.name or "index": "row"})
    for g, (lo, hi, mean, se) in paper.TRIVIAL_HUMANS.items():
        frame.loc[frame["row"] == g, ["paper_min", "paper_max", "paper_mean", "paper_se"]] = [lo, hi, mean, se]
    numeric = [c for c in ("n", "mean", "se", "min", "max") if c in frame.columns]
    columns = {"row": "group", **{c: c for c in numeric},
               "paper_min": "paper min", "paper_max": "paper max", "paper_mean": "paper mean", "paper_se": "paper SE"}
    test = frame[frame["row"] == "L1 vs L2"]
    tail = ""
    if not test.empty and "p_val" in test.columns:
        t = test.iloc[0]
        tail = (f"\nL1 vs L2 independent t-test: T = {_fmt(t.get('T'))}, p = {_fmt(t.get('p_val'))}, "
                f"Cohen's d = {_fmt(t.get('cohen_d'))} (paper: L2 higher, p < 5e-8).")
    return "\n".join([
        "## Human trivial-pattern reliance (`tables/trivial_humans.csv`)",
        "R2 of each subject's saccades regressed on the start / previous / self patterns (docs/method.md, 'Trivial pattern reliance'), "
        "per group, beside the paper's Table 5.", "",
        markdown_table(frame[frame["row"] != "L1 vs L2"], columns), tail, ""])


def _divergence(table: pd.DataFrame, metric: str) -> str:
    rows = table[table.metric == metric]
    if rows.empty:
        return ("## Attention divergence (`tables/divergence.csv`)\nNo pair of runs to compare (scaling, tuning, "
                "instruction, noise or reference pairs need two runs of related models).\n")
    summary = rows.groupby(["kind", "run_a", "run_b", "unit"], sort=False).agg(
        mean=("mean", "mean"), max=("mean", "max"), argmax=("mean", lambda s: int(rows.loc[s.idxmax(), "index"])),
        n_sentences=("n_sentences", "first")).reset_index()
    reference = rows[rows.kind == "reference"]
    note = (f"The reference pair ({reference.run_a.iloc[0]} vs {reference.run_b.iloc[0]}) averages "
            f"{_fmt(reference[reference.unit == 'layer']['mean'].mean())}; pairs above it changed a lot."
            if not reference.empty else
            "No reference pair is among the runs (default: Vicuna v0 vs v1.1 13B, `compare.reference`), so "
            "there is no 'small change' baseline; compare pairs with each other and with the noise control.")
    return "\n".join([
        "## Attention divergence (`tables/divergence.csv`)",
        f"Divergence between two runs' head-averaged attention, row by row per sentence (`{metric}`: "
        + ("Jensen-Shannon averaged over rows, as the released code" if metric == "js" else
           "symmetric KL summed over rows, as the paper's formula")
        + "), per layer for equal depths, per layer quarter otherwise; the table holds both metrics and "
        "every layer with its SEM over sentences. Summary over layers / quarters:", "",
        markdown_table(summary, {"kind": "kind", "run_a": "run a", "run_b": "run b", "unit": "unit",
                                 "mean": "mean", "max": "max", "argmax": "at", "n_sentences": "sentences"}),
        "", note, ""])


def _layer_tests(table: pd.DataFrame) -> str:
    if table.empty or "significant" not in table.columns:
        return ("## Layer-by-layer tests (`tables/layer_tests.csv`)\nNo pair of runs of equal depth to test.\n")
    lines = ["## Layer-by-layer tests (`tables/layer_tests.csv`)",
             "Paired t-tests over subjects of each layer's R2, run b against run a, significant at "
             "p < 0.05 / number of layers (Bonferroni), as the paper's Tables 4, 6 and 7.", "",
             "| kind | run a | run b | group | higher in b | lower in b | paper (higher / lower) |", "|---|---|---|---|---|---|---|"]
    for (kind, a, b, g), part in table.groupby(["kind", "run_a", "run_b", "group"], sort=False):
        higher = part.loc[part.direction == "higher", "layer"].tolist()
        lower = part.loc[part.direction == "lower", "layer"].tolist()
        model_b, size_b = b.split("-")[:2]
        counts = paper.LAYER_COUNTS.get((model_b, size_b)) if a.startswith(f"llama-{size_b}-") and kind == "tuning" else None
        reported = f"{counts[('higher', g)]} / {counts[('lower', g)]}" if counts and ("higher", g) in counts else "-"
        lines.append(f"| {kind} | {a} | {b} | {g} | {len(higher)}: {higher} | {len(lower)}: {lower} | {reported} |")
    return "\n".join(lines + [""])


def _section(title: str, table_name: str, text: str, table: pd.DataFrame, columns: dict[str, str]) -> str:
    """A report section: heading naming the CSV, one explaining paragraph, the table (nothing when empty)."""
    if table.empty:
        return ""
    return "\n".join([f"## {title} (`tables/{table_name}.csv`)", text, "", markdown_table(table, columns), ""])


def _group_tests(table: pd.DataFrame) -> str:
    return _section(
        "L1 vs L2", "group_tests",
        "Per run, an independent t-test of per-subject resemblance (% of the group's ceiling at the group's best "
        f"layer), L1 against L2, Bonferroni over runs. {PAPER_CLAIM} Here: {group_verdict(table)}",
        table, {"run": "run", "mean_x": "L1 mean %", "mean_y": "L2 mean %", "T": "T", "p_val": "p",
                "p_bonf": "p (Bonferroni)", "significant": "significant"})


def _correlations(table: pd.DataFrame) -> str:
    return _section(
        "Correlations across runs", "correlations",
        "Loss against resemblance over plain runs that report a loss, and resemblance against log10(parameters) "
        "over plain runs of pretrained models with the least-squares line extrapolated to 100B parameters "
        "(r needs at least 3 runs; '-' otherwise). Note: the paper's 100B values do not follow from its own "
        "Table 2: a least-squares line through its five models gives about 69% (L1) and 77% (L2) at 100B, "
        "not 88.82% and 98.80% (its r values, 0.99 and 0.96, are reproduced).",
        table, {"x": "x", "y": "y", "group": "group", "n": "runs", "r": "Pearson r", "p_val": "p",
                "paper_r": "paper r", "predicted": "at 100B (%)", "paper_predicted": "paper at 100B"})


def _trivial_models(table: pd.DataFrame) -> str:
    return _section(
        "Trivial-pattern reliance of models", "trivial_differences",
        "Mean over heads of the R2 of attention on the start / previous / self patterns, per layer quarter, and its "
        "relative change from run a to run b (paper Figures 8 and 9: scaling lowers it, tuning raises it).",
        table, {"kind": "kind", "run_a": "run a", "run_b": "run b", "quarter": "quarter", "trivial_a": "a",
                "trivial_b": "b", "relative_change_pct": "change %"})


def _bias(table: pd.DataFrame) -> str:
    """The paragraph on the head-count bias of the in-sample score, with this comparison's numbers."""
    if table.empty:
        return ""
    random = table[table.attention == "random"]
    source, group = random.cohorts.iloc[0], random.group.iloc[0]
    pick = random[(random.cohorts == source) & (random.group == group)].set_index(["score", "heads"]).r2
    few, many = sorted(pick.index.get_level_values("heads").unique())[-2:]
    real = table[table.attention != "random"]
    real_text = ""
    if not real.empty:
        part = real[(real.cohorts == source) & (real.group == group)].set_index(["score", "heads"]).r2
        h = sorted(part.index.get_level_values("heads").unique())
        real_text = (f" For {real.attention.iloc[0]}, {h[0]} random heads give an in-sample R2 of "
                     f"{_fmt(part['insample', h[0]])} and all {h[-1]} give {_fmt(part['insample', h[-1]])}; "
                     f"cross-validated: {_fmt(part['cv', h[0]])} and {_fmt(part['cv', h[-1]])}.")
    return "\n".join([
        "## The head-count bias of the paper's score (`tables/head_count_bias.csv`)",
        "The paper's resemblance is an in-sample R2 with one predictor per head, so a model with more heads gets "
        f"more predictors. Random attention shows it: on the {source} {group} cohort, {few} random heads reach an "
        f"in-sample R2 of {_fmt(pick['insample', few])} and {many} reach {_fmt(pick['insample', many])}, although "
        f"neither carries any information; cross-validated by sentence they score {_fmt(pick['cv', few])} and "
        f"{_fmt(pick['cv', many])}.{real_text} Compare models of different head counts with `analysis.score=cv` "
        "or a fixed number of components (`analysis.predictors=pcs`).", ""])


def _predictive_power(table: pd.DataFrame | None) -> list[str]:
    """The predictive-power section, nothing when no run has a pp_* metric."""
    if table is None:
        return []
    return [_section(
        "Predictive power", "predictive_power",
        "Per run, predictor, reading measure and group: DeltaLL, the log-likelihood per word (nats) that the "
        "predictor of a word and of its previous words adds to a regression of reading times on length and frequency "
        "(docs/method.md, 'Reading times from model predictions'), held out (folds of units) and in-sample (the "
        "published convention), each with its 95% bootstrap interval over units; r: Pearson r of the predictor and "
        "the reading time; best layer: that of the best held-out DeltaLL, for per-layer predictors.",
        table, {"run": "run", "parameters": "parameters", "stage": "stage", "predictor": "predictor",
                "measure": "measure", "group": "group", "dll_cv": "held out", "dll_cv_low": "low",
                "dll_cv_high": "high", "dll_insample": "in-sample", "dll_insample_low": "low",
                "dll_insample_high": "high", "r": "r", "n_words": "words", "best_layer": "best layer"})]


EXTRA_FIGURES = {"bias": "Head-count bias (not in the paper)", "steps": "Training steps (not in the paper)",
                 "l1_vs_l2": "L1 vs L2 readers per run",
                 "measures": "Attention measures (not in the paper)",
                 "measure_tests": "Attention measures of one model, layer by layer (not in the paper)",
                 "power_scaling": "Predictive power and model size (not in the paper)",
                 "attention_prediction": "Attention resemblance and predictive power (not in the paper)"}


def _compared(runs) -> list[str]:
    """The runs compared and the code that computed them."""
    codes = sorted({r.code_digest for r in runs})
    return [f"{len(runs)} runs compared: " + ", ".join(f"`{r.label}` (code {r.code_digest})" for r in runs) + ".",
            (f"Code: every run was computed by the same code ({codes[0]})." if len(codes) == 1 else
             f"Code: the runs were computed by {len(codes)} versions of the code ({', '.join(codes)}): their numbers "
             "may differ for that reason alone.")]


def _entered(table: pd.DataFrame | None) -> list[str]:
    """What entered each run's analyses and what was left out, with the most frequent reasons."""
    if table is None or table.empty:
        return []
    return [_section(
        "What entered", "entered",
        "Per run, group and level: how many entered the analyses (subjects and sentences of the saccade scores, units "
        "of word importance, words of predictive power), how many were left out and the most frequent reasons; every "
        "entry is in the run's `reports/exclusions.csv`.",
        table, {"run": "run", "group": "group", "level": "level", "entered": "entered", "left_out": "left out",
                "reasons": "reasons"})]


def _figures(figures, notes: list[str]) -> list[str]:
    """Every figure with its caption (or why it is not drawn), then the runs left out."""
    parts = ["## Figures", ""]
    for f in figures:
        title = EXTRA_FIGURES.get(f.paper, f"Paper Figure {f.paper}")
        if f.file:
            parts += [f"**{title}.** {f.caption}", "", f"![{title}]({f.file})", ""]
        else:
            parts += [f"**{title}** is not drawn: it {f.caption}.", ""]
    if notes:
        parts += ["## Runs left out", "", *[f"- {n}" for n in notes], ""]
    return parts


def _scoreboard(section: str) -> list[str]:
    """The scoreboard's HTML section (:func:`attnhuman.reporting.scoreboard.html`) as a raw block of report.md,
    which Markdown, and so report.html, keeps as it is."""
    return [section, ""] if section else []


def write_report(path: Path, runs, pairs, tables: ComparisonTables, figures, notes: list[str],
                 divergence_metric: str, scoreboard: str = "") -> None:
    """report.md: the scoreboard first (``scoreboard``: its HTML section), then the runs, every table and figure."""
    groups = [c[len("resemblance_"):] for c in tables.resemblance.columns if c.startswith("resemblance_")]
    kinds = sorted({p.kind for p in pairs})
    parts = [
        "# attnhuman comparison report", "", *_scoreboard(scoreboard),
        *_compared(runs),
        f"Pairs found: {', '.join(f'{k} ({sum(p.kind == k for p in pairs)})' for k in kinds) or 'none'}.",
        "Human data: the public Reading Brain release has no per-subject saccade counts, so subjects are the proxy "
        "cohort (docs/method.md, 'Human data and the proxy cohort'); the paper used the true counts, so our ceilings and percentages differ from "
        "its values even for the same attention. Every table is a CSV next to this file; definitions are in "
        "docs/method.md of the attnhuman project.", "",
        *_entered(tables.entered),
        _resemblance(tables.resemblance, groups),
        _trivial_humans(tables.trivial_humans),
        _divergence(tables.divergence, divergence_metric),
        _layer_tests(tables.layer_tests),
        _group_tests(tables.group_tests),
        _correlations(tables.correlations),
        _trivial_models(tables.trivial_differences),
        _bias(tables.head_count_bias),
        *_predictive_power(tables.predictive_power),
        *_figures(figures, notes),
    ]
    Path(path).write_text("\n".join(parts), encoding="utf-8")


def write_word_report(path: Path, runs, tables: ComparisonTables, figures, notes: list[str],
                      scoreboard: str = "") -> None:
    """``report.md`` of a comparison on data without saccades (GECO, Natural Stories): the scoreboard, the runs, the
    predictive-power table, the figures and the runs left out."""
    parts = [
        "# attnhuman comparison report", "", *_scoreboard(scoreboard), *_compared(runs),
        "The data has no saccades, so the paper's tables are not computed; `tables/measures.csv` holds each run's "
        "best-layer word importance. Definitions are in docs/method.md of the attnhuman project.", "",
        *_entered(tables.entered), *_predictive_power(tables.predictive_power), *_figures(figures, notes)]
    Path(path).write_text("\n".join(parts), encoding="utf-8")


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>attnhuman comparison report</title>
<style>body{{font-family:sans-serif;max-width:1300px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse;font-size:90%}}td,th{{border:1px solid #ccc;padding:2px 6px}}
img{{max-width:100%}}</style></head>
<body>
{body}
</body></html>
"""


def write_html(markdown_path: Path, html_path: Path) -> None:
    """report.md as one self-contained HTML page: its figures embedded as data URIs, so the page renders
    where it is opened, MLflow's artifact viewer included."""
    folder = Path(markdown_path).parent
    body = markdown.markdown(Path(markdown_path).read_text(encoding="utf-8"), extensions=["tables"])

    def embed(match: re.Match) -> str:
        data = base64.b64encode((folder / match.group(1)).read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="(figures/[^"]+\.png)"', embed, body)
    Path(html_path).write_text(HTML_PAGE.format(body=body), encoding="utf-8")
