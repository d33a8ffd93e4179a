"""A job's own figures: per-layer resemblance, word importance and predictive power of one run."""
from __future__ import annotations

import numpy as np

from attnhuman.analysis.resemblance import GroupResemblance
from attnhuman.reporting.plotting import GROUP_COLORS, plt

STRIP_WORDS = 30          # words shown in a word-importance example strip


def layerwise_resemblance(results: dict[str, GroupResemblance], title: str) -> plt.Figure:
    """Paper Figure 6 style: resemblance (% of ceiling) per layer, one line per group, +-1 SEM band, the best layer
    marked; a store of one layer (a measure without layers, saliency) as one marker with its SEM and no layer."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    for group, res in results.items():
        scale = 100.0 / res.ceiling
        color = GROUP_COLORS.get(group)
        if len(res.layer_r2) == 1:
            ax.errorbar([0], [res.resemblance], yerr=[res.layer_sem[0] * scale], fmt="D", color=color, capsize=3,
                        label=f"{group}: {res.resemblance:.1f}% (one value: the measure has no layers)")
            continue
        layers = range(len(res.layer_r2))
        ax.plot(layers, res.layer_r2 * scale, color=color,
                label=f"{group}: best layer {res.best_layer}, {res.resemblance:.1f}%")
        ax.fill_between(layers, (res.layer_r2 - res.layer_sem) * scale,
                        (res.layer_r2 + res.layer_sem) * scale, color=color, alpha=0.2, linewidth=0)
        ax.plot(res.best_layer, res.resemblance, "o", color=color)
    one = all(len(res.layer_r2) == 1 for res in results.values())
    ax.set(xlabel="no layers (one value)" if one else "layer (0-based)", ylabel="human resemblance (% of ceiling)",
           title=title)
    if one:
        ax.set_xticks([])
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig


def word_importance_curves(results: dict, title: str) -> plt.Figure:
    """Spearman rho per layer for each ``received`` mode (+-1 SD over units as a band), the baselines and the
    leave-one-subject-out ceiling as horizontal lines."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    for (mode, res), color in zip(results.items(), ("tab:blue", "tab:purple")):
        layers = np.arange(len(res.layer_rho))
        ax.plot(layers, res.layer_rho, color=color,
                label=f"attention, received={mode}: best layer {res.best_layer}, rho {res.best_rho:.3f}")
        ax.fill_between(layers, res.layer_rho - res.layer_sd, res.layer_rho + res.layer_sd, color=color, alpha=0.1,
                        linewidth=0)
    first = next(iter(results.values()))
    ax.axhline(first.ceiling, color="black", linewidth=1.2, label=f"ceiling (leave one subject out) {first.ceiling:.3f}")
    for (name, value), style in zip(first.baselines.items(), ("--", ":", "-.")):
        ax.axhline(value, color="gray", linestyle=style, label=f"{name} baseline {value:.3f}")
    ax.set(xlabel="layer", ylabel="Spearman rho (mean over units)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    return fig


def predictive_power_figure(name: str, cv, insample, title: str) -> plt.Figure:
    """One predictor's predictive power. A per-layer predictor: held-out and in-sample ``DeltaLL`` per layer with
    their 95% bootstrap bands, the best layer marked. A word-level one: the reading time against the predictor (the
    words analysed, their mean in 20 quantile bins of the predictor, +-1 SEM) with the least-squares line of the
    target on the predictor alone, and the ``DeltaLL`` in the title."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    if cv.best_layer is not None:
        layers = np.arange(len(cv.delta_ll))
        for res, label, color in ((cv, "held out", "tab:blue"), (insample, "in-sample", "tab:gray")):
            ax.plot(layers, res.delta_ll, color=color, label=f"{label}: best layer {int(np.argmax(res.delta_ll))}, "
                    f"{res.delta_ll.max():.4f}")
            ax.fill_between(layers, res.low, res.high, color=color, alpha=0.2, linewidth=0)
        ax.plot(cv.best_layer, cv.delta_ll[cv.best_layer], "o", color="tab:blue")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel="layer", ylabel="DeltaLL (nats per word)", title=title)
        ax.legend(loc="best", fontsize=8)
    else:
        x, y = cv.word_predictor, cv.word_target
        edges = np.unique(np.quantile(x, np.linspace(0, 1, 21)))
        bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        count = np.bincount(bins, minlength=len(edges) - 1)
        keep = count > 1
        mean_x = np.bincount(bins, x, len(edges) - 1)[keep] / count[keep]
        mean_y = np.bincount(bins, y, len(edges) - 1)[keep] / count[keep]
        sd = np.sqrt(np.maximum(np.bincount(bins, y * y, len(edges) - 1)[keep] / count[keep] - mean_y ** 2, 0))
        ax.errorbar(mean_x, mean_y, yerr=sd / np.sqrt(count[keep]), fmt="o", color="tab:blue", markersize=4,
                    label=f"{len(x)} words: mean per 20-quantile bin of {name}, +-1 SEM")
        slope, intercept = np.polyfit(x, y, 1)
        line = np.linspace(x.min(), x.max(), 2)
        ax.plot(line, intercept + slope * line, color="tab:red",
                label=f"least squares: {slope:.2f} ms per unit of {name}")
        ax.set(xlabel=name, ylabel="reading time (ms)", title=f"{title}\nDeltaLL held out {cv.delta_ll[0]:.4f} "
               f"[{cv.low[0]:.4f}, {cv.high[0]:.4f}], in-sample {insample.delta_ll[0]:.4f}, r {cv.r[0]:.3f}")
        ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def importance_strip(res, corpus, group: str) -> plt.Figure:
    """One unit's words with the readers' relative fixation time and the model's importance at its best layer
    (each scaled to sum 1): the unit whose rho is nearest the median among those of 8 to 20 words."""
    lengths = np.array([len(h) for h in res.human])
    rhos = np.array([_rank_rho(h, m) for h, m in zip(res.human, res.model)])
    fits = np.flatnonzero((lengths >= 8) & (lengths <= 20) & np.isfinite(rhos))
    pool = fits if len(fits) else np.flatnonzero(np.isfinite(rhos)) if np.isfinite(rhos).any() else np.arange(len(rhos))
    pick = pool[np.argmin(np.abs(rhos[pool] - np.nanmedian(rhos[pool])))] if len(pool) else 0
    k, human, model = int(res.units[pick]), res.human[pick], res.model[pick]
    words, shown = corpus.words[k], min(len(corpus.words[k]), STRIP_WORDS)     # a paragraph: its first words
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * shown), 3.4), constrained_layout=True)
    x = np.arange(shown)
    ax.bar(x - 0.2, (human / human.sum())[:shown], 0.4, label=f"readers ({group}, relative fixation time)")
    ax.bar(x + 0.2, (model / model.sum())[:shown], 0.4, label=f"model, layer {res.best_layer} (received={res.received})")
    ax.set_xticks(x, words[:shown], rotation=45, ha="right", fontsize=8)
    first = f", first {shown} of {len(words)} words" if shown < len(words) else ""
    ax.set(ylabel="share of the unit", title=f"{corpus.label(k)}: Spearman rho {rhos[pick]:.2f}{first}")
    ax.legend(fontsize=7)
    return fig


def _rank_rho(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr  # scipy.stats loads in a second: only for word importance

    return float(spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan
