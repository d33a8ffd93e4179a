"""Statistics of the comparisons (docs/method.md, "Statistics"), on pingouin.

- Layer comparisons of two runs: paired t-test over subjects per layer, significant at
  p < alpha / n_layers (Bonferroni), counted as higher / lower (paper Tables 4, 6, 7).
- L1 vs L2: independent t-test, Student (pooled variance) by default; see :func:`independent_test`.
- Loss vs resemblance: Pearson r. Scaling: least-squares line of a score vs log10(parameters),
  extrapolated to 100B parameters.

pingouin rounds some output columns for display (``CI95`` to 2 decimals, ``BF10`` to a string);
every call here switches that rounding off for its own duration, so the values are full precision
(except the correlation CI, which pingouin computes to 6 decimals).
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

TEST_COLUMNS = ("layer", "mean_a", "mean_b", "T", "dof", "p_val", "p_bonf", "significant",
                "direction", "cohen_d")



def _pingouin():
    """pingouin, imported on first use: it loads scipy.stats and more (about 1 s), which a job never needs."""
    import pingouin

    return pingouin


@contextmanager
def _full_precision():
    """Switch pingouin's output rounding off (restored afterwards; not thread-safe) and silence
    pingouin's own warnings about power and Bayes factors, which are not returned."""
    saved = dict(_pingouin().options)
    try:
        for k in saved:
            if k == "round" or k.startswith("round."):
                _pingouin().options[k] = None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"pingouin\.(bayesian|power|effsize)")
            warnings.filterwarnings("ignore", message="Sample size is too small to estimate power")
            warnings.filterwarnings("ignore", message="x and y are equals")
            yield
    finally:
        _pingouin().options.clear()
        _pingouin().options.update(saved)


def _vector(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {x.shape}.")
    return x


def paired_layer_tests(r2_a: np.ndarray, r2_b: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Per layer, paired t-test over subjects of ``r2_b`` against ``r2_a``, both ``(layers, subjects)``.

    Column s of both arrays is the same subject. Returns one row per layer with ``layer``,
    ``mean_a``, ``mean_b`` (means over subjects), ``T`` (t statistic of b - a: positive when b is
    higher), ``dof`` (subjects - 1), ``p_val`` (two-sided), ``p_bonf`` (``pingouin.multicomp``,
    method 'bonf', min(1, p * number of finite p-values)), ``significant`` (p_val < alpha / layers),
    ``direction`` ('higher' when significant with b > a, 'lower' when significant with b < a, else
    '') and ``cohen_d`` (pingouin's paired Cohen d, absolute value). A layer where a and b are
    identical for every subject gets NaN T / p and is not significant.
    """
    a = np.asarray(r2_a, dtype=np.float64)
    b = np.asarray(r2_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"r2_a and r2_b must be (layers, subjects) arrays of the same shape (the same "
                         f"subjects in the same order), got {a.shape} and {b.shape}.")
    if a.shape[0] < 1 or a.shape[1] < 2:
        raise ValueError(f"need at least 1 layer and 2 subjects for a paired t-test, got shape {a.shape}.")
    for name, x in (("r2_a", a), ("r2_b", b)):
        if not np.isfinite(x).all():
            layer, subject = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{name} has non-finite values, first at layer {layer}, subject {subject}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}.")
    rows = []
    with _full_precision():
        for layer in range(a.shape[0]):
            res = _pingouin().ttest(b[layer], a[layer], paired=True).iloc[0]
            rows.append({"layer": layer, "mean_a": a[layer].mean(), "mean_b": b[layer].mean(),
                         "T": float(res["T"]), "dof": float(res["dof"]), "p_val": float(res["p_val"]),
                         "cohen_d": float(res["cohen_d"])})
    out = pd.DataFrame(rows)
    p = out["p_val"].to_numpy()
    out["p_bonf"] = _pingouin().multicomp(p, alpha=alpha, method="bonf")[1]
    significant = np.isfinite(p) & (p < alpha / a.shape[0])
    out["significant"] = significant
    t = out["T"].to_numpy()
    out["direction"] = np.where(significant & (t > 0), "higher", np.where(significant & (t < 0), "lower", ""))
    return out[list(TEST_COLUMNS)]


def layer_lists(tests: pd.DataFrame) -> dict:
    """``{'higher': [layers], 'lower': [layers]}`` (ascending ints) from :func:`paired_layer_tests`."""
    missing = {"layer", "direction"} - set(tests.columns)
    if missing:
        raise ValueError(f"tests lacks column(s) {sorted(missing)}; pass the output of paired_layer_tests.")
    return {d: sorted(int(x) for x in tests.loc[tests["direction"] == d, "layer"]) for d in ("higher", "lower")}


def independent_test(x, y, correction: bool | str = False) -> dict:
    """Independent two-sample t-test of ``x`` ``(n_x,)`` against ``y`` ``(n_y,)`` (T of x - y).

    ``correction=False`` (default): Student's test with pooled variance, as
    ``scipy.stats.ttest_ind``'s default and the paper's "independent t-test" (paper-faithful).
    ``True``: Welch's test (unequal variances, Welch-Satterthwaite dof). ``'auto'``: pingouin's
    rule, Welch when the sizes differ (L1 46 vs L2 54 subjects: Welch).
    Returns T, dof, p_val (two-sided), ci95_low / ci95_high (95% CI of mean_x - mean_y), cohen_d
    (absolute, pooled sd), n_x, n_y, mean_x, mean_y and test ('student' or 'welch').
    """
    x, y = _vector(x, "x"), _vector(y, "y")
    if correction not in (False, True, "auto"):
        raise ValueError(f"correction must be False (Student), True (Welch) or 'auto', got {correction!r}.")
    for name, v in (("x", x), ("y", y)):
        if v.size < 2:
            raise ValueError(f"{name} has {v.size} value(s); an independent t-test needs at least 2 per sample.")
        if not np.isfinite(v).all():
            raise ValueError(f"{name} has non-finite values, first at index {np.flatnonzero(~np.isfinite(v))[0]}.")
    with _full_precision():
        res = _pingouin().ttest(x, y, paired=False, correction=correction).iloc[0]
    welch = correction is True or (correction == "auto" and x.size != y.size)
    ci = np.asarray(res["CI95"], dtype=np.float64)
    return {"T": float(res["T"]), "dof": float(res["dof"]), "p_val": float(res["p_val"]),
            "ci95_low": float(ci[0]), "ci95_high": float(ci[1]), "cohen_d": float(res["cohen_d"]),
            "n_x": int(x.size), "n_y": int(y.size), "mean_x": float(x.mean()), "mean_y": float(y.mean()),
            "test": "welch" if welch else "student"}


def correlation(x, y) -> dict:
    """Pearson correlation of ``x`` and ``y`` (both ``(n,)``) via ``_pingouin().corr``.

    Pairs with a non-finite value are dropped; ``n`` counts the pairs used. With n < 3, or a
    constant input, r, p_val and the CI are NaN (no error).
    Returns n, r, p_val (two-sided), ci95_low, ci95_high (Fisher z, 6 decimals; [-1, 1] at n == 3
    as in scipy).
    """
    x, y = _vector(x, "x"), _vector(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}.")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"n": int(x.size), "r": np.nan, "p_val": np.nan, "ci95_low": np.nan, "ci95_high": np.nan}
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    with _full_precision():
        res = _pingouin().corr(x, y, method="pearson").iloc[0]
    ci = np.asarray(res["CI95"], dtype=np.float64) if np.ndim(res["CI95"]) else np.full(2, np.nan)
    out.update(r=float(res["r"]), p_val=float(res["p_val"]), ci95_low=float(ci[0]), ci95_high=float(ci[1]))
    return out


def scaling_fit(parameters, values, target: float = 1e11) -> dict:
    """Least-squares line ``values = intercept + slope * log10(parameters)``, extrapolated to ``target``.

    ``parameters`` and ``values``: ``(n,)``; parameters are counts (> 0), e.g. 7e9. Pairs with a
    non-finite value are dropped. Returns n, slope, intercept, r, p_val (Pearson of values vs
    log10(parameters), :func:`correlation`), target and predicted (the line at log10(target); the
    paper extrapolates to 100B = 1e11). n < 2 (or one distinct size): all NaN; n == 2: the line
    through both points, r and p_val NaN.
    """
    params, values = _vector(parameters, "parameters"), _vector(values, "values")
    if params.shape != values.shape:
        raise ValueError(f"parameters and values must have the same length, got {params.size} and {values.size}.")
    if not target > 0:
        raise ValueError(f"target must be a positive parameter count, got {target}.")
    keep = np.isfinite(params) & np.isfinite(values)
    params, values = params[keep], values[keep]
    if (params <= 0).any():
        raise ValueError(f"parameters must be positive counts, got {params[params <= 0].tolist()}.")
    x = np.log10(params)
    out = {"n": int(x.size), "slope": np.nan, "intercept": np.nan, "r": np.nan, "p_val": np.nan,
           "target": float(target), "predicted": np.nan}
    if x.size < 2 or np.ptp(x) == 0:
        return out
    dx = x - x.mean()
    slope = float(dx @ (values - values.mean()) / (dx @ dx))
    intercept = float(values.mean() - slope * x.mean())
    corr = correlation(x, values) if x.size >= 3 else {"r": np.nan, "p_val": np.nan}
    out.update(slope=slope, intercept=intercept, r=corr["r"], p_val=corr["p_val"],
               predicted=intercept + slope * float(np.log10(target)))
    return out
