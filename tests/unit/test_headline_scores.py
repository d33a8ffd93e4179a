"""A run's headline scores and sanity flags, read from its metrics, and their one-line description."""
import pytest

from attnhuman import metrics
from attnhuman.comparison.scores import flag_text, groups_of, scores
from attnhuman.reporting.formats import headline, parameters


def _saccade(group: str, value: float, ceiling: float, low: float, n: int) -> dict:
    return {metrics.resemblance(group): value, metrics.resemblance_low(group): value - 3,
            metrics.resemblance_high(group): value + 3, metrics.best_layer(group): 11.0,
            metrics.ceiling(group): ceiling, metrics.ceiling_low(group): low, metrics.ceiling_high(group): ceiling + 0.02,
            metrics.n_subjects(group): float(n), metrics.resemblance("cv", "L1"): 1.0}


def test_saccade_scores_carry_interval_layer_ceiling_and_no_flag_when_sound():
    values = {**_saccade("L1", 38.54, 0.147, 0.13, 46), **_saccade("L2", 46.12, 0.217, 0.2, 54)}
    found = scores(values)
    assert [(s.column, s.key) for s in found] == [("saccade L1", "L1 saccade"), ("saccade L2", "L2 saccade")]
    s = found[0]
    assert (s.value, s.low, s.high, s.layer, s.ceiling, s.ceiling_low, s.n_subjects) == \
        (38.54, 35.54, 41.54, 11, 0.147, 0.13, 46)
    assert s.flags == () and flag_text(found) == "none"
    assert headline(found) == "L1 saccade 38.5 % (layer 11) · L2 saccade 46.1 % (layer 11)"


def test_each_flag_is_raised_by_what_it_names():
    values = {**_saccade("L1", 100.54, 0.01, -0.002, 2),
              metrics.wi_normalised("L2"): 98.0, metrics.wi_ceiling("L2"): 0.28, metrics.wi_baseline("length", "L2"): 0.51,
              metrics.wi_baseline("position", "L2"): 0.1, metrics.wi_best_layer("L2"): 3.0,
              metrics.wi_n_subjects("L2"): 14.0, metrics.wi_n_units("L2"): 5000.0}
    by_column = {s.column: s for s in scores(values)}
    assert by_column["saccade L1"].flags == ("above_ceiling", "few_subjects", "ceiling_includes_zero")
    assert by_column["word importance L2"].flags == ("baseline_above_ceiling",)
    assert by_column["word importance L2"].baseline == pytest.approx(0.51)
    assert flag_text(list(by_column.values())) == ("saccade L1: above_ceiling, few_subjects, ceiling_includes_zero; "
                                                   "word importance L2: baseline_above_ceiling")
    assert headline(list(by_column.values())).endswith(
        "— flags: L1 saccade: above_ceiling, few_subjects, ceiling_includes_zero; L2 words: baseline_above_ceiling")


def test_predictive_scores_and_groups_from_metric_names():
    values = {metrics.pp_dll_cv("surprisal", "RT", "L1"): 0.0161, metrics.pp_dll_cv_low("surprisal", "RT", "L1"): 0.0083,
              metrics.pp_dll_cv_high("surprisal", "RT", "L1"): 0.0239, metrics.pp_n_words("surprisal", "RT", "L1"): 8534,
              metrics.pp_dll_cv("lens", "IA_DWELL_TIME", "L1"): 0.02, metrics.pp_best_layer("lens", "IA_DWELL_TIME", "L1"): 4}
    assert groups_of(values) == ["L1"]
    found = {s.column: s for s in scores(values)}
    assert set(found) == {"predictive RT surprisal L1", "predictive IA_DWELL_TIME lens L1"}
    s = found["predictive RT surprisal L1"]
    assert (s.value, s.low, s.high, s.n_units, s.layer, s.unit) == (0.0161, 0.0083, 0.0239, 8534, None, "nats per word")
    assert found["predictive IA_DWELL_TIME lens L1"].layer == 4
    assert headline([s]) == "L1 RT surprisal 0.0161 nats"


def test_parameters_read_as_people_say_them():
    assert [parameters(n) for n in (134_515_008, 1.5e9, 7e9, 32_500_000_000, 175e9)] == \
        ["135M", "1.5B", "7B", "32.5B", "175B"]
