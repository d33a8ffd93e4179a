"""Simulated readers (attnhuman.simulate): seeding, rates, plant-and-recover, config, end to end."""
import numpy as np

from helpers.commands import command, runs
from helpers.paths import LLAMA30, READING_BRAIN

FLAT = dict(refixation_difficulty=0.0, regression_difficulty=0.0, skipping_difficulty=0.0, subject_sd=0.0)


def test_end_to_end_released_attention_on_simulated_readers(tmp_path):
    result = command(tmp_path, "data=synthetic", "source=released", "model=llama", "size=30b",
                f"source.path={LLAMA30 / 'packed_plain.npz'}", f"data.root={READING_BRAIN}")
    client, found = runs(tmp_path)
    assert [r.info.status for r in found] == ["FINISHED"]
    metrics = found[0].data.metrics
    assert metrics["n_sentences_L1"] == 148 and metrics["n_sentences_L2"] == 148
    assert 40 <= metrics["n_subjects_L1"] <= 46 and 48 <= metrics["n_subjects_L2"] <= 54
    assert 0.05 < metrics["ceiling_L1"] < 0.4 and np.isfinite(metrics["resemblance_L2"])
    assert found[0].data.params["data.name"] == "synthetic"
    assert "Simulated" in result.output

