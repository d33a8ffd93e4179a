"""The names of what a job logs, one function per quantity: the job writes through them; the comparison, its tables,
figures and report read through them. docs/analyses.md lists them.

``suffix`` is the score options' (:attr:`attnhuman.analysis.options.ScoreOptions.suffix`; '' for the paper's),
``group`` a reader group (``L1``), ``region`` an fMRI region, ``received`` the word-importance mode (``mean``, the
headline, has no suffix; ``sum`` adds ``_sum``). A per-layer curve is logged twice: :func:`layer` (step = layer) and
:func:`depth` (step = percent of depth).
"""
from __future__ import annotations


def _key(base: str, suffix: str, group: str) -> str:
    return f"{base}_{suffix}_{group}" if suffix else f"{base}_{group}"


def layer(key: str) -> str:
    """The metric of a per-layer curve: step = layer index."""
    return f"layer/{key}"


def depth(key: str) -> str:
    """The same curve over relative depth: step = round(100 * layer / (layers - 1)), to overlay models of any depth."""
    return f"depth/{key}"


# saccade resemblance (docs/method.md, "Human resemblance")
def r2(group: str, suffix: str = "") -> str:
    """Curve: mean R2 over the group's subjects, per layer."""
    return _key("r2", suffix, group)


def resemblance(group: str, suffix: str = "") -> str:
    return _key("resemblance", suffix, group)


def best_layer(group: str, suffix: str = "") -> str:
    return _key("best_layer", suffix, group)


def ceiling(group: str, suffix: str = "") -> str:
    return _key("ceiling", suffix, group)


def n_subjects(group: str) -> str:
    return f"n_subjects_{group}"


def n_sentences(group: str) -> str:
    return f"n_sentences_{group}"


def perm_p(group: str, suffix: str = "") -> str:
    """Curve: the sentence-permutation test's p-value per layer."""
    return _key("perm_p", suffix, group)


def perm_q(group: str, suffix: str = "") -> str:
    return _key("perm_q", suffix, group)


def n_fdr_layers(group: str, suffix: str = "") -> str:
    return _key("n_fdr_layers", suffix, group)


def perm_immobile_sentences(group: str) -> str:
    return f"perm_immobile_sentences_{group}"


TRIVIAL_R2 = "trivial_r2"          # curve: mean R2 over a layer's heads on the start / previous / self patterns


# fMRI (docs/method.md, "fMRI")
def fmri_r2(region: str, group: str) -> str:
    """Curve: mean R2 over the region's subjects, per layer."""
    return f"fmri_r2_{region}_{group}"


def fmri_resemblance(region: str, group: str) -> str:
    return f"fmri_resemblance_{region}_{group}"


def fmri_ceiling(region: str, group: str) -> str:
    return f"fmri_ceiling_{region}_{group}"


def fmri_best_layer(region: str, group: str) -> str:
    return f"fmri_best_layer_{region}_{group}"


def fmri_n_subjects(region: str, group: str) -> str:
    return f"fmri_n_subjects_{region}_{group}"


def fmri_n_sentences(region: str, group: str) -> str:
    return f"fmri_n_sentences_{region}_{group}"


def fmri_legacy_pearson(region: str, group: str) -> str:
    return f"fmri_legacy_pearson_{region}_{group}"


# word importance (docs/method.md, "Word importance from reading times")
def _wi(base: str, group: str, received: str) -> str:
    return f"wi_{base}{'' if received == 'mean' else '_' + received}_{group}"


def wi_rho(group: str, received: str = "mean") -> str:
    """Curve: mean Spearman rho over units, per layer."""
    return _wi("rho", group, received)


def wi_best_rho(group: str, received: str = "mean") -> str:
    return _wi("best_rho", group, received)


def wi_best_layer(group: str, received: str = "mean") -> str:
    return _wi("best_layer", group, received)


def wi_sd(group: str, received: str = "mean") -> str:
    return _wi("sd", group, received)


def wi_normalised(group: str, received: str = "mean") -> str:
    return _wi("normalised", group, received)


def wi_ceiling(group: str) -> str:
    return f"wi_ceiling_{group}"


def wi_n_units(group: str) -> str:
    return f"wi_n_units_{group}"


def wi_baseline(name: str, group: str) -> str:
    return f"wi_baseline_{name}_{group}"


# the extraction (source=hf) and the job's own cost
NTP_LOSS = "ntp_loss"                     # mean over sentences of the mean token NLL (nats)
NTP_LOSS_PER_LEN = "ntp_loss_per_len"     # the same divided once more by the token count (the paper's Table 1 scale)
ANALYSIS_S = "analysis_s"                 # seconds of the analyses (bench/sweep.py)


# the comparison run's headline: each compared run's resemblance
def headline(group: str, run: str) -> str:
    return f"resemblance_{group}/{run}"


# artifacts
ATTENTION = "attention/attention.npz"
EXCLUSIONS = "reports/exclusions.csv"
FMRI_TABLE = "tables/fmri_resemblance.csv"
LAYERWISE_FIGURE = "figures/layerwise_resemblance.png"


def r2_table(group: str, suffix: str = "") -> str:
    """Per-subject (rows) and per-layer (columns) R2."""
    return f"tables/{r2(group, suffix)}.csv"


def permutation_table(group: str, suffix: str = "") -> str:
    return f"tables/{_key('permutation', suffix, group)}.csv"


def word_importance_table(group: str) -> str:
    return f"tables/word_importance_{group}.csv"
