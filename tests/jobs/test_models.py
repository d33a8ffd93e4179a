"""A real language model end to end, in-process: SmolLM2-135M from its PyPI package (extraction, loss, resemblance);
the second run reuses the extraction cache."""
import numpy as np

from helpers.commands import command, runs
from helpers.paths import READING_BRAIN


def test_real_model_end_to_end_with_cache(tmp_path):
    """SmolLM2-135M from its PyPI package: extraction, loss and resemblance logged; the second run reuses the cache."""
    args = ["model=smollm2", "size=135m", f"data.root={READING_BRAIN}", "data.download=false",
            f"source.cache_dir={tmp_path}/cache", "source.progress=false", "analysis.fmri=false"]
    command(tmp_path, *args)
    command(tmp_path, *args, "rerun=true")
    client, (first, second) = runs(tmp_path)
    for key in ("ntp_loss", "ntp_loss_per_len", "extract_s", "tokens_per_s", "peak_rss_mb",
                "align_tokens_per_word", "resemblance_L1", "resemblance_L2"):
        assert np.isfinite(first.data.metrics[key]), key
    assert 1 < first.data.metrics["ntp_loss"] < 10 and first.data.metrics["align_tokens_per_word"] > 1
    assert (first.data.tags["cache_hit"], second.data.tags["cache_hit"]) == ("false", "true")
    assert second.data.metrics["resemblance_L1"] == first.data.metrics["resemblance_L1"]
    stored = np.load(client.download_artifacts(first.info.run_id, "attention/attention.npz", str(tmp_path)))
    assert stored["attention"].dtype == np.float32 and stored["attention"].shape == (30, 9, 8953)
