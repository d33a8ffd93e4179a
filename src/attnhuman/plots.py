"""Figures (matplotlib, no display needed)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attnhuman.resemblance import GroupResemblance  # noqa: E402

GROUP_COLORS = {"L1": "tab:blue", "L2": "tab:orange"}


def layerwise_resemblance(results: dict[str, GroupResemblance], title: str) -> plt.Figure:
    """Paper Figure 6 style: resemblance (% of ceiling) per layer, one line per group, +-1 SEM band."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    for group, res in results.items():
        scale = 100.0 / res.ceiling
        layers = range(len(res.layer_r2))
        color = GROUP_COLORS.get(group)
        ax.plot(layers, res.layer_r2 * scale, color=color,
                label=f"{group}: best layer {res.best_layer}, {res.resemblance:.1f}%")
        ax.fill_between(layers, (res.layer_r2 - res.layer_sem) * scale,
                        (res.layer_r2 + res.layer_sem) * scale, color=color, alpha=0.2, linewidth=0)
        ax.plot(res.best_layer, res.resemblance, "o", color=color)
    ax.set(xlabel="layer", ylabel="human resemblance (% of ceiling)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig
