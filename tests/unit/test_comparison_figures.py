"""The comparison's figures answer one question each, honestly: drawn from the runs present, one colour per run and
per measure, a scatter only over 3 distinct x values, a caption naming only what is drawn. Checked on the matplotlib
Figures before they are saved, with small synthetic runs (no MLflow)."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D

from attnhuman import metrics
from attnhuman.analysis.resemblance import GroupResemblance
from attnhuman.comparison.runs import Pair, Run, find_pairs
from attnhuman.comparison.tables import (
    ComparisonTables,
    correlation_table,
    divergence_table,
    group_test_table,
    layer_test_table,
    measures_table,
)
from attnhuman.comparison.verdict import group_verdict
from attnhuman.reporting import figures, plotting, run_figures
from attnhuman.reporting.report import _group_tests

GROUPS = ["L1", "L2"]
SUBJECTS = {"L1": 12, "L2": 14}
CEILING = 0.1


def make_run(folder, name, *, model="llama", size="7b", tuning="base", prefix="none", stage="pretrained",
             measure="weights", parameters=7e9, layers=6, loss=None, bands=True, lift=0.0, seed=0, trivial=False):
    """A run as the comparison reads it: per-subject R2 tables (the same subjects in every run), the headline metrics,
    and (``bands``) the per-layer % of ceiling curves with their bands and the best layer's interval."""
    rng = np.random.default_rng(seed)
    depth = 1 if measure == "saliency" else layers
    values, curves = {}, {}
    for g, n in SUBJECTS.items():
        mean = 0.04 + 0.02 * np.sin(np.linspace(0.3, 2.5, depth)) + (0.02 if g == "L2" else 0) + lift
        r2 = mean[None, :] + rng.normal(0, 0.004, (n, depth))
        (folder / name / "tables").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(r2, index=pd.Index([f"s{i}" for i in range(n)], name="subject")).to_csv(
            folder / name / "tables" / f"r2_{g}.csv")
        pct = 100 * r2.mean(axis=0) / CEILING
        best = int(np.argmax(pct))
        values.update({metrics.resemblance(g): pct[best], metrics.best_layer(g): best, metrics.ceiling(g): CEILING})
        if bands:
            values.update({metrics.resemblance_low(g): pct[best] - 2, metrics.resemblance_high(g): pct[best] + 2})
            curves.update({metrics.pct(g): pct, metrics.pct_low(g): pct - 3, metrics.pct_high(g): pct + 3})
    if loss is not None:
        values[metrics.NTP_LOSS_PER_LEN] = loss
    if trivial:
        curves[metrics.TRIVIAL_R2] = np.linspace(0.2, 0.1, depth)
    tags = dict(model=model, size=size, tuning=tuning, prefix=prefix, family=model, stage=stage, source="hf")
    params = {"model_size.parameters": str(int(parameters)), "model_size.layers": str(layers),
              "model_size.heads": "4", "measure.name": measure}

    def fetch(path):
        local = folder / name / path
        if not local.is_file():
            raise FileNotFoundError(path)
        return local

    def history(key):
        curve = curves.get(key.removeprefix("layer/"))
        return [] if curve is None else list(enumerate(curve))

    return Run(f"id-{name}", name, tags, params, values, fetch, history)


def tables_of(runs, pairs, divergence=None):
    return ComparisonTables(
        measures=measures_table(runs, GROUPS), divergence=divergence if divergence is not None else
        divergence_table([]), trivial_differences=pd.DataFrame(columns=["run_a", "run_b", "kind", "quarter",
                                                                         "relative_change_pct"]),
        layer_tests=layer_test_table(pairs, GROUPS, 0.05), group_tests=group_test_table(runs, GROUPS),
        correlations=correlation_table(runs, GROUPS, 1e11))


def divergence_rows(pairs: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A divergence table of ``(kind, run_a, run_b)`` pairs over 6 layers."""
    return pd.DataFrame([dict(run_a=a, run_b=b, kind=kind, metric="js", unit="layer", index=i, mean=0.1 + 0.01 * i,
                              sem=0.01, n_sentences=5) for kind, a, b in pairs for i in range(6)])


def plots_by(plots):
    return {p.paper: p for p in plots}


def lines(fig) -> list[Line2D]:
    return [line for ax in fig.axes for line in ax.get_lines()]


def bands(fig) -> list[PolyCollection]:
    return [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]


def markers(fig, marker: str) -> list[Line2D]:
    return [line for line in lines(fig) if line.get_marker() == marker and len(line.get_xdata())]


def curves_drawn(fig) -> list[Line2D]:
    """Lines of 2 points or more with a visible line style (what a reader sees as a curve or a fit)."""
    return [line for line in lines(fig) if len(line.get_xdata()) >= 2 and line.get_linestyle() not in ("None", "")]


# a caption phrase -> what the figure must hold when the caption says it
CLAIMS = {
    "dashed": lambda fig: any(line.get_linestyle() == "--" for line in lines(fig)),
    "Bands:": lambda fig: bool(bands(fig)),
    "least squares": lambda fig: bool(curves_drawn(fig)),
    "Stars": lambda fig: bool(markers(fig, "*")),
    "Diamonds": lambda fig: bool(markers(fig, "D")),
    "One marker after the last layer": lambda fig: bool(markers(fig, "D")),
    "triangles": lambda fig: bool(markers(fig, "^") or markers(fig, "v")),
    "Dotted black": lambda fig: any(line.get_linestyle() == ":" for line in lines(fig)),
    "circles": lambda fig: bool(markers(fig, "o")),
}


def assert_honest(plots, folder=None) -> None:
    """Every plot: drawn with a caption whose elements the figure holds, or not drawn with a reason (and, saved, no
    PNG); every drawn figure holds at least one visible artist."""
    for p in plots:
        if p.figure is None:
            assert p.caption and p.caption.startswith("needs"), (p.paper, p.caption)
            continue
        assert lines(p.figure) or bands(p.figure) or any(ax.patches for ax in p.figure.axes), p.paper
        for phrase, holds in CLAIMS.items():
            if phrase.lower() in p.caption.lower() and f"no {phrase.lower()}" not in p.caption.lower():
                assert holds(p.figure), (p.paper, phrase, p.caption)
    if folder is not None:
        for note in figures.save_plots(plots, folder):
            drawn = next(p for p in plots if p.paper == note.paper)
            assert (note.file is None) == (drawn.figure is None)
            assert (folder / drawn.name).is_file() == (note.file is not None), note


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def measure_sweep(tmp_path):
    """One model, four measures (saliency without layers), norm clearly above the weights at every layer."""
    return [make_run(tmp_path, f"llama-7b-base-none+{m}", measure=m, lift=lift, seed=k)
            for k, (m, lift) in enumerate((("weights", 0.0), ("norm", 0.01), ("rollout", 0.0), ("saliency", 0.0)))]


def test_measure_pairs_are_tested_per_layer_and_kept_out_of_divergence(tmp_path):
    runs = measure_sweep(tmp_path) + [make_run(tmp_path, "gpt2-large-base-none", model="gpt2", size="large")]
    pairs = find_pairs(runs, ("a", "b"))
    assert sorted((p.kind, p.a.measure, p.b.measure) for p in pairs) == [
        ("measure", "weights", "norm"), ("measure", "weights", "rollout")]       # saliency: one layer, not paired
    assert divergence_table(pairs).empty                     # would load the stores (absent here) if it used them
    tests = layer_test_table(pairs, GROUPS, 0.05)
    assert set(tests.kind) == {"measure"} and len(tests) == 2 * 2 * 6
    norm = tests[tests.run_b == "llama-7b-base-none+norm"]
    assert (norm.direction == "higher").all()
    plot = plots_by(figures.comparison_plots(runs, pairs, tables_of(runs, pairs), GROUPS, "js"))["measure_tests"]
    assert plot.figure is not None and "norm L1: 6 higher, 0 lower of 6" in plot.caption
    assert len(markers(plot.figure, "^")) == 2 and "saliency" in plot.caption
    saliency = markers(plot.figure, "D")
    assert len(saliency) == 2 and all(line.get_xdata()[0] == 6 for line in saliency)   # after the last layer
    assert_honest([plot])


def test_scatter_and_fit_need_three_distinct_x(tmp_path):
    one_size = [make_run(tmp_path, f"llama-7b-base-none+{m}", measure=m, loss=0.24) for m in ("weights", "norm")]
    plots = plots_by(figures.comparison_plots(one_size, [], tables_of(one_size, []), GROUPS, "js"))
    for paper in ("5", "7"):
        assert plots[paper].figure is None and "at least 3 distinct" in plots[paper].caption
    assert "1 present" in plots["7"].caption
    assert_honest(plots.values())
    assert_honest([plots["5"], plots["7"], plots["l1_vs_l2"]], tmp_path / "figures")      # saved: the PNG iff drawn
    assert not (tmp_path / "figures" / "fig7_scaling_resemblance.png").exists()

    sizes = {"7b": 6.7e9, "13b": 13e9, "30b": 32.5e9}
    three = [make_run(tmp_path, f"llama-{s}-base-none", size=s, parameters=p, lift=0.005 * k, loss=0.25 - 0.01 * k)
             for k, (s, p) in enumerate(sizes.items())]
    plots = plots_by(figures.comparison_plots(three, [], tables_of(three, []), GROUPS, "js"))
    fig7 = plots["7"]
    assert fig7.figure is not None and "least squares" in fig7.caption and len(curves_drawn(fig7.figure)) == 2
    assert plots["5"].figure is not None and "No line" in plots["5"].caption and not curves_drawn(plots["5"].figure)
    assert len(markers(fig7.figure, "o")) == 3 and len(markers(fig7.figure, "s")) == 3
    assert_honest(plots.values())


def test_layerwise_pct_draws_every_run_on_one_scale_with_bands_best_layers_and_the_paper(tmp_path):
    runs = [make_run(tmp_path, "llama-7b-base-none"), make_run(tmp_path, "llama-7b-base-translate", prefix="translate"),
            make_run(tmp_path, "gpt2-large-base-none", model="gpt2", size="large", layers=4, bands=False),
            make_run(tmp_path, "llama-7b-base-none+saliency", measure="saliency")]
    plot = figures.layerwise_pct_plot(runs, GROUPS, figures.colors_of(r.label for r in runs))
    fig = plot.figure
    left, right = fig.axes
    assert left.get_shared_y_axes().joined(left, right)
    assert len(curves_drawn(fig)) >= 2 * 3 and len(bands(fig)) == 2 * 2      # the saliency band: an error bar
    assert any(line.get_linestyle() == "--" and list(line.get_ydata()) == [100, 100] for line in lines(fig))
    assert len(markers(fig, "*")) == 2 * 2                          # llama-7b and gpt2-large plain; not translate
    assert "no band for gpt2-large-base-none" in plot.caption and "llama-7b-base-none+saliency" in plot.caption
    assert [line.get_xdata()[0] for line in markers(fig, "D")] == [1.0, 1.0]
    depth = next(line for line in lines(fig) if line.get_label().startswith("gpt2-large"))
    assert list(depth.get_xdata()) == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert_honest([plot])
    unbanded = figures.layerwise_pct_plot(runs[2:3], GROUPS, {})
    assert not bands(unbanded.figure) and "No bands" in unbanded.caption
    assert_honest([unbanded])


def test_colours_are_one_per_run_and_per_measure_in_every_figure(tmp_path):
    runs = measure_sweep(tmp_path)
    pairs = find_pairs(runs, ("a", "b"))
    plots = plots_by(figures.comparison_plots(runs, pairs, tables_of(runs, pairs), GROUPS, "js"))
    colors = figures.colors_of(r.label for r in runs)
    assert figures.colors_of(reversed([r.label for r in runs])) == colors and len(set(colors.values())) == 4
    weights = "llama-7b-base-none+weights"
    in_fig6 = {to_hex(line.get_color()) for line in lines(plots["6"].figure) if line.get_label().startswith(weights)}
    in_l1_l2 = {to_hex(line.get_color()) for line in lines(plots["l1_vs_l2"].figure)
                if len(line.get_xdata()) == 1 and line.get_xdata()[0] in (-0.15, 0.15)}
    assert in_fig6 == in_l1_l2 == {colors[weights]}
    bars = {c.get_label(): to_hex(c[0].get_facecolor()) for ax in plots["measures"].figure.axes for c in ax.containers}
    per_layer = {line.get_label(): to_hex(line.get_color()) for line in lines(plots["measure_tests"].figure)
                 if line.get_label() in plotting.MEASURE_COLORS}
    assert bars == {m: figures.measure_color(m) for m in ("weights", "norm", "rollout", "saliency")}
    assert per_layer == {m: figures.measure_color(m) for m in ("weights", "norm", "rollout")}


def test_divergence_captions_name_the_noise_control_and_reference_only_when_drawn(tmp_path):
    runs = [make_run(tmp_path, "llama-7b-base-none")]
    plain = figures.divergence_plot("4", "fig4.png", divergence_rows([("instruction", "a", "b")]),
                                    {"instruction": "instruction (solid)", "noise": "the noise control (dashed)"},
                                    "js", "t", "needs", figures.colors_of(["a", "b", "c"]))
    assert "(dashed)" not in plain.caption and "No noise-prefix control" in plain.caption
    assert not any(line.get_linestyle() == "--" for line in lines(plain.figure))
    noisy = figures.divergence_plot("4", "fig4.png", divergence_rows([("instruction", "a", "b"), ("noise", "a", "c"),
                                                                     ("reference", "x", "y")]),
                                    {"instruction": "instruction (solid)", "noise": "the noise control (dashed)"},
                                    "js", "t", "needs", figures.colors_of(["a", "b", "c"]))
    assert "the noise control (dashed)" in noisy.caption and "Dotted black: the reference pair (x vs y)" in noisy.caption
    assert_honest([plain, noisy])
    plots = plots_by(figures.comparison_plots(runs, [], tables_of(runs, []), GROUPS, "js"))
    assert plots["4"].figure is None and plots["4"].caption.startswith("needs")


def test_l1_vs_l2_figure_and_report_give_the_verdict(tmp_path):
    runs = [make_run(tmp_path, "llama-7b-base-none"), make_run(tmp_path, "llama-13b-base-none", size="13b",
                                                               parameters=13e9, bands=False)]
    tests = group_test_table(runs, GROUPS)
    sentence = "L2 > L1 in 2 of 2 runs, significant (Bonferroni) in 2: consistent with the paper."
    assert group_verdict(tests) == sentence and sentence in _group_tests(tests)
    plot = figures.l1_vs_l2_plot(runs, tests, figures.colors_of(r.label for r in runs))
    assert " ".join(plot.figure.axes[0].get_title().split()) == sentence and sentence in plot.caption
    assert len(markers(plot.figure, "o")) == 2 and len(markers(plot.figure, "s")) == 2
    assert "none for llama-13b-base-none" in plot.caption
    flipped = tests.assign(mean_x=tests.mean_y + 1, significant=[True, False])
    assert group_verdict(flipped) == ("L2 > L1 in 0 of 2 runs, significant (Bonferroni) in 0, L1 > L2 significant in "
                                      "1: not consistent with the paper.")


def test_one_layer_curves_are_markers_and_the_job_figure_names_no_layer(tmp_path):
    runs = [make_run(tmp_path, "gpt2-large-base-none", trivial=True),
            make_run(tmp_path, "gpt2-large-base-none+saliency", measure="saliency", trivial=True)]
    plot = plots_by(figures.comparison_plots(runs, [], tables_of(runs, []), GROUPS, "js"))["11"]
    assert len(curves_drawn(plot.figure)) == 1 and len(markers(plot.figure, "D")) == 1
    assert "gpt2-large-base-none+saliency" in plot.caption
    subjects = [f"s{i}" for i in range(5)]
    one = GroupResemblance("L1", subjects, np.full((1, 5), 0.05) + np.arange(5) * 1e-3, np.full(5, 0.1))
    fig = run_figures.layerwise_resemblance({"L1": one}, "saliency")
    [legend] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "layer" not in legend.replace("no layers", "") and len(markers(fig, "D")) == 1
    many = GroupResemblance("L1", subjects, np.random.default_rng(0).random((4, 5)), np.full(5, 0.1))
    assert run_figures.layerwise_resemblance({"L1": many}, "weights").axes[0].get_xlabel() == "layer (0-based)"


def test_unpaired_measures_leave_the_other_kinds_unchanged(tmp_path):
    """Pairs of one measure still need one measure: a norm run of a larger model is not a scaling pair."""
    runs = [make_run(tmp_path, "llama-7b-base-none"), make_run(tmp_path, "llama-13b-base-none+norm", size="13b",
                                                               parameters=13e9, measure="norm")]
    assert find_pairs(runs, ("a", "b")) == []
    assert isinstance(Pair("measure", *runs), Pair)
