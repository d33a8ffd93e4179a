"""The names of what a job logs, one name per quantity: the job writes through them; the comparison, its tables,
figures and report read through them. docs/analyses.md lists them.

``suffix`` is the score options' (:attr:`attnhuman.analysis.options.ScoreOptions.suffix`; '' for the paper's),
``group`` a reader group (``L1``), ``region`` an fMRI region, ``received`` the word-importance mode (``mean``, the
headline, has no suffix; ``sum`` adds ``_sum``). A per-layer curve is logged twice: :func:`layer` (step = layer) and
:func:`depth` (step = percent of depth).
"""
from __future__ import annotations

from collections.abc import Callable


def layer(key: str) -> str:
    """The metric of a per-layer curve: step = layer index."""
    return f"layer/{key}"


def depth(key: str) -> str:
    """The same curve over relative depth: step = round(100 * layer / (layers - 1)), to overlay models of any depth."""
    return f"depth/{key}"


def _per_group(base: str) -> Callable[..., str]:
    """``name(group, suffix='')``: ``<base>_<group>``, or ``<base>_<suffix>_<group>`` under other score options."""
    def name(group: str, suffix: str = "") -> str:
        return f"{base}_{suffix}_{group}" if suffix else f"{base}_{group}"
    name.__name__ = name.__qualname__ = base
    return name


def _per_region(base: str) -> Callable[[str, str], str]:
    """``name(region, group)``: ``<base>_<region>_<group>``."""
    def name(region: str, group: str) -> str:
        return f"{base}_{region}_{group}"
    name.__name__ = name.__qualname__ = base
    return name


def _word_importance(base: str) -> Callable[..., str]:
    """``name(group, received='mean')``: ``wi_<base>_<group>``, ``wi_<base>_sum_<group>`` for ``received='sum'``."""
    def name(group: str, received: str = "mean") -> str:
        return f"wi_{base}{'' if received == 'mean' else '_' + received}_{group}"
    name.__name__ = name.__qualname__ = f"wi_{base}"
    return name


# saccade resemblance (docs/method.md, "Human resemblance"); r2, perm_p and perm_q are per-layer curves
r2 = _per_group("r2")
resemblance = _per_group("resemblance")
best_layer = _per_group("best_layer")
ceiling = _per_group("ceiling")
n_subjects = _per_group("n_subjects")
n_sentences = _per_group("n_sentences")
perm_p = _per_group("perm_p")
perm_q = _per_group("perm_q")
n_fdr_layers = _per_group("n_fdr_layers")
perm_immobile_sentences = _per_group("perm_immobile_sentences")
# their 95% bootstrap intervals over subjects (docs/method.md, "Uncertainty"), and the per-layer % of ceiling as a curve
# with its band
resemblance_low = _per_group("resemblance_low")
resemblance_high = _per_group("resemblance_high")
ceiling_low = _per_group("ceiling_low")
ceiling_high = _per_group("ceiling_high")
pct = _per_group("pct")
pct_low = _per_group("pct_low")
pct_high = _per_group("pct_high")
TRIVIAL_R2 = "trivial_r2"          # curve: mean R2 over a layer's heads on the start / previous / self patterns

# fMRI (docs/method.md, "fMRI"); fmri_r2 is a per-layer curve
fmri_r2 = _per_region("fmri_r2")
fmri_resemblance = _per_region("fmri_resemblance")
fmri_ceiling = _per_region("fmri_ceiling")
fmri_best_layer = _per_region("fmri_best_layer")
fmri_n_subjects = _per_region("fmri_n_subjects")
fmri_n_sentences = _per_region("fmri_n_sentences")
fmri_legacy_pearson = _per_region("fmri_legacy_pearson")
fmri_resemblance_low = _per_region("fmri_resemblance_low")      # 95% bootstrap intervals over subjects
fmri_resemblance_high = _per_region("fmri_resemblance_high")
fmri_ceiling_low = _per_region("fmri_ceiling_low")
fmri_ceiling_high = _per_region("fmri_ceiling_high")

# word importance (docs/method.md, "Word importance from reading times"); wi_rho is a per-layer curve
wi_rho = _word_importance("rho")
wi_best_rho = _word_importance("best_rho")
wi_best_layer = _word_importance("best_layer")
wi_sd = _word_importance("sd")
wi_normalised = _word_importance("normalised")
wi_ceiling = _per_group("wi_ceiling")
wi_n_units = _per_group("wi_n_units")
wi_n_subjects = _per_group("wi_n_subjects")
# 95% bootstrap intervals over units (docs/method.md, "Uncertainty"); wi_pct: the per-layer % of ceiling, a curve
wi_normalised_low = _word_importance("normalised_low")
wi_normalised_high = _word_importance("normalised_high")
wi_best_rho_low = _word_importance("best_rho_low")
wi_best_rho_high = _word_importance("best_rho_high")
wi_ceiling_low = _per_group("wi_ceiling_low")
wi_ceiling_high = _per_group("wi_ceiling_high")
wi_pct = _word_importance("pct")
wi_pct_low = _word_importance("pct_low")
wi_pct_high = _word_importance("pct_high")


def wi_baseline(name: str, group: str) -> str:
    """The word-importance baseline ``name`` (length, frequency, position)."""
    return f"wi_baseline_{name}_{group}"


def _predictive(base: str) -> Callable[..., str]:
    """``name(predictor, measure, group)``: ``pp_<base>_<predictor>_<measure>_<group>`` (measure: the reading measure,
    e.g. ``RT``, ``TRT``, ``IA_DWELL_TIME``)."""
    def name(predictor: str, measure: str, group: str) -> str:
        return f"pp_{base}_{predictor}_{measure}_{group}"
    name.__name__ = name.__qualname__ = f"pp_{base}"
    return name


# predictive power (docs/method.md, "Reading times from model predictions"); for a per-layer predictor (lens,
# attention_entropy) pp_dll_cv and pp_dll_insample are also per-layer curves and the scalars are the best layer's
pp_dll_cv = _predictive("dll_cv")               # held-out DeltaLL (nats per word)
pp_dll_cv_low = _predictive("dll_cv_low")       # its 95% bootstrap interval over units
pp_dll_cv_high = _predictive("dll_cv_high")
pp_dll_insample = _predictive("dll_insample")   # in-sample DeltaLL (the published convention)
pp_dll_insample_low = _predictive("dll_insample_low")
pp_dll_insample_high = _predictive("dll_insample_high")
pp_r = _predictive("r")                         # Pearson r of predictor and target
pp_n_words = _predictive("n_words")             # words analysed
pp_best_layer = _predictive("best_layer")       # per-layer predictors: the layer of the best held-out DeltaLL
pp_n_excluded = _predictive("n_excluded")       # words of the units left out of the analysis (each reason: EXCLUSIONS)


def predictive_cells(names, predictors, groups) -> list[tuple[str, str, str]]:
    """``(predictor, measure, group)`` of each :func:`pp_dll_cv` among metric ``names``, for the ``predictors`` and
    ``groups`` named (a reading measure may hold underscores, so they are matched from both ends)."""
    cells = []
    for name in names:
        for predictor in predictors:
            for group in groups:
                head = pp_dll_cv(predictor, "", group)[:-len(group) - 1]      # pp_dll_cv_<predictor>_
                measure = name[len(head):-len(group) - 1]
                if measure and pp_dll_cv(predictor, measure, group) == name:
                    cells.append((predictor, measure, group))
    return cells


def predictive_table(measure: str, group: str) -> str:
    """The per-word table of the predictive-power analyses of one reading measure and group."""
    return f"tables/predictive_power_{measure}_{group}.csv"


def predictive_figure(predictor: str, measure: str, group: str) -> str:
    return f"figures/predictive_power_{predictor}_{measure}_{group}.png"


# the extraction (source=hf) and the job's own cost
NTP_LOSS = "ntp_loss"                     # mean over sentences of the mean token NLL (nats)
NTP_LOSS_PER_LEN = "ntp_loss_per_len"     # the same divided once more by the token count (the paper's Table 1 scale)
ANALYSIS_S = "analysis_s"                 # seconds of the analyses (bench/sweep.py)


def n_excluded(level: str, group: str) -> str:
    """How many of ``level`` (subject, sentence, unit, subject_unit ...) the data left out for ``group`` (each one
    with its reason in :data:`EXCLUSIONS`; the words each predictive-power analysis left out: :func:`pp_n_excluded`)."""
    return f"n_excluded_{level}_{group}"


# tags of a job run besides its settings: which corpus (a name for people), which attention measure, the sanity flags
# of its scores (comparison/scores.py) and the one-line summary MLflow shows as the run's description
CORPUS = "corpus"
MEASURE = "measure"
FLAGS = "flags"
DESCRIPTION = "mlflow.note.content"


# artifacts
ATTENTION = "attention/attention.npz"
EXCLUSIONS = "reports/exclusions.csv"
FMRI_TABLE = "tables/fmri_resemblance.csv"
LAYERWISE_FIGURE = "figures/layerwise_resemblance.png"


def r2_table(group: str, suffix: str = "") -> str:
    """Per-subject (rows) and per-layer (columns) R2."""
    return f"tables/{r2(group, suffix)}.csv"


def permutation_table(group: str, suffix: str = "") -> str:
    return f"tables/{_per_group('permutation')(group, suffix)}.csv"


def word_importance_table(group: str) -> str:
    return f"tables/word_importance_{group}.csv"
