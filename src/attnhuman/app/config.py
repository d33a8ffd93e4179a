"""From the composed Hydra config to the package's objects: the registry entry, score options, the job's identity.

Importing this module registers two config nodes whose values live in Python: ``analysis/schema``, the typed
score options (:class:`attnhuman.analysis.options.ScoreOptions`) with their defaults plus ``groups`` and
``fmri``; and ``readers/calibrated``, the simulated readers' calibrated parameters
(:data:`attnhuman.humans.simulate.DEFAULT_GROUPS`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from attnhuman.analysis.options import ScoreOptions
from attnhuman.app.factories import released_path
from attnhuman.attention.models import hub
from attnhuman.attention.models.location import Folder, parse
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.simulate import DEFAULT_GROUPS

UNHASHED_KEYS = ("rerun", "mlflow", "compare", "hydra", "cluster")   # they do not change a job's results
SOURCE_SETTINGS_WITHOUT_EFFECT = ("progress", "chunk_size", "runs_model", "one_process_per_shard", "gpu_memory_gb")
DEFAULT_DATA = "reading_brain"          # runs on other data carry its name in theirs
DEFAULT_SOURCE = "hf"                   # runs with attention from another source carry its name in theirs
DEFAULT_MEASURE = "weights"             # runs of another attention measure carry its name in theirs
FMRI_SCORES = {"true": "r2", "r2": "r2", "legacy_pearson": "legacy_pearson"}


@dataclass
class AnalysisSchema(ScoreOptions):
    """The ``analysis`` config group: score options, the groups to compare, and the fMRI score."""

    groups: list[str] = field(default_factory=lambda: ["L1", "L2"])
    fmri: Any = True


ConfigStore.instance().store(group="analysis", name="schema", node=AnalysisSchema, provider="attnhuman")
ConfigStore.instance().store(group="readers", name="calibrated", provider="attnhuman",
                             node={g: dataclasses.asdict(p) for g, p in DEFAULT_GROUPS.items()})


class CompactConfigError(CompactHydraException, ConfigError):
    """A ConfigError that Hydra prints as one message, without a traceback."""


class CompactDataError(CompactHydraException, DataError):
    """A DataError that Hydra prints as one message (the full trace with HYDRA_FULL_ERROR=1)."""


def score_options(cfg: DictConfig) -> ScoreOptions:
    """``analysis`` as checked :class:`ScoreOptions`."""
    options = OmegaConf.to_object(cfg.analysis)
    return ScoreOptions(**{f: getattr(options, f) for f in ScoreOptions.__dataclass_fields__}).check()


def fmri_score(cfg: DictConfig) -> str | None:
    """``analysis.fmri`` as a score: false -> None (off), true -> ``"r2"``, ``legacy_pearson`` -> R2 plus the legacy score."""
    value = cfg.analysis.get("fmri", False)
    if value is None or str(value).lower() == "false":
        return None
    if str(value).lower() not in FMRI_SCORES:
        raise ConfigError(f"analysis.fmri={value!r}: choose true (R2, docs/method.md section 9), false or legacy_pearson")
    return FMRI_SCORES[str(value).lower()]


def _size(cfg: DictConfig) -> str:
    size = str(cfg.size)
    return str(cfg.model.default_size) if size == "auto" else size


def resolve_model(cfg: DictConfig) -> ModelSpec:
    """The registry entry of a job: ``size=auto`` is the model's default size, ``tuning=default`` the entry's;
    for ``model=hub``, the model ``model.id`` names (size: its name, tuning: its revision), facts from its config."""
    model, size = cfg.model, _size(cfg)
    if "id" in model:
        return _hub_model(model)
    if size not in model.sizes:
        raise CompactConfigError(f"{model.name} has no size '{size}'; choose one of {sorted(model.sizes)} "
                                 "(or size=auto).")
    entry = model.sizes[size]
    tuning = entry.default_tuning if cfg.tuning == "default" else str(cfg.tuning)
    if tuning not in entry.tunings:
        raise CompactConfigError(f"{model.name} {size} has no tuning '{tuning}'; "
                                 f"choose one of {sorted(entry.tunings)} (or tuning=default).")
    plain = OmegaConf.to_container(entry, resolve=True)
    where = plain["tunings"][tuning]
    return ModelSpec(model=model.name, size=size, tuning=tuning, family=model.family, stage=model.stage,
                     parameters=int(entry.parameters), layers=int(entry.layers), heads=int(entry.heads),
                     hidden=int(entry.hidden), checkpoint=parse(where["checkpoint"]) if where["checkpoint"] else None,
                     architecture=plain.get("architecture"),
                     tokenizer=parse(plain["tokenizer"]) if plain.get("tokenizer") else None, hub=where.get("hub"), delta=where.get("delta"),
                     trust_remote_code=bool(where.get("trust_remote_code", False)))


def _hub_model(model: DictConfig) -> ModelSpec:
    if not model.id:
        raise CompactConfigError("model=hub needs model.id: a Hub id (EleutherAI/pythia-160m) or a local folder.")
    folder = hub.locate(str(model.id), str(model.revision) if model.revision else None)
    found = hub.facts(folder)
    name = re.sub(r"[^\w.-]+", "_", Path(str(model.id).rstrip("/")).name)
    return ModelSpec(model=model.name, size=name, tuning=str(model.revision or "main"),
                     family=str(model.family or found["model_type"]), stage=str(model.stage),
                     parameters=found["parameters"], layers=found["layers"], heads=found["heads"],
                     hidden=found["hidden"], checkpoint=Folder(str(folder)))


def run_name(cfg: DictConfig) -> str:
    """``model-size-tuning-prefix``, the MLflow run name of a job, with ``+<source>`` for attention not extracted by
    transformers here (``released``, ``deepspeed``), ``+<measure>`` for a measure other than the weights, ``+<data>``
    for data other than Reading Brain, ``+sample<N>`` for a sample of its units and ``+<options>`` for score options
    other than the paper's (``llama-30b-base-none+released+synthetic+cv``, ``smollm2-...-none+norm+geco+sample500``)."""
    extras = [cfg.source.name] if cfg.source.name != DEFAULT_SOURCE else []
    extras += [cfg.measure.name] if cfg.measure.name != DEFAULT_MEASURE else []
    extras += [cfg.data.name] if cfg.data.name != DEFAULT_DATA else []
    extras += [f"sample{cfg.data.sample}"] if cfg.data.get("sample") is not None else []
    suffix = score_options(cfg).suffix
    extras += [suffix] if suffix else []
    return f"{resolve_model(cfg).label}-{cfg.prefix.name}" + "".join(f"+{e}" for e in extras)


def job_config(cfg: DictConfig) -> dict:
    """The resolved job config without the keys that do not change results: the model's description and its
    chosen registry entry (``model_size``) instead of every size, ``size`` and ``tuning`` resolved, and a
    released file as one absolute ``source.path`` however it was named."""
    job = _resolved(cfg, [k for k in cfg if k not in UNHASHED_KEYS])
    spec = resolve_model(cfg)
    model = job.pop("model")
    job["model"] = {k: v for k, v in model.items() if k not in ("sizes", "default_size")}
    if "id" in model:                   # model=hub: the facts read from its config, and where it was found
        job["model_size"] = {"parameters": spec.parameters, "layers": spec.layers, "heads": spec.heads,
                             "hidden": spec.hidden, "family": spec.family}
        step = hub.training_step(model["revision"])
        if step is not None:
            job["training_step"] = step
    else:
        job["model_size"] = model["sizes"][spec.size]
    job["size"], job["tuning"] = spec.size, spec.tuning
    source, prefix = job["source"], job["prefix"]
    for key in SOURCE_SETTINGS_WITHOUT_EFFECT:
        source.pop(key, None)
    if source.get("name") == "released" and (source["path"] or (source["root"] and prefix["released_file"])):
        source["path"], source["root"] = str(released_path(source["path"], source["root"], spec, prefix)), None
    return _without_targets(job)


def _without_targets(tree):
    """The tree without Hydra's ``_target_`` keys (they name factories, not settings)."""
    if isinstance(tree, dict):
        return {k: _without_targets(v) for k, v in tree.items() if k != "_target_"}
    return tree


def _resolved(cfg: DictConfig, keys: list[str]) -> dict:
    """The resolved plain dict of ``keys`` of ``cfg`` (the ``hydra`` node is never resolved)."""
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)


def _digest(tree: dict) -> str:
    return hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_hash(cfg: DictConfig) -> str:
    """The job's identity: its resolved config (:func:`job_config`), equivalent forms normalised."""
    return _digest(job_config(cfg))


DATA_LOCATION_KEYS = ("root", "cache_dir", "download", "verify")   # where the data is, not what it is


def humans_hash(cfg: DictConfig) -> str:
    """The identity of what a run is scored against: the ``data`` settings but its location (the files' contents
    are vouched for by the ``data_modified`` tag), and the ``analysis`` settings. A comparison holds only runs
    with its own."""
    tree = _without_targets(_resolved(cfg, ["data", "analysis", "paths"]))
    data = {k: v for k, v in tree["data"].items() if k not in DATA_LOCATION_KEYS}
    return _digest({"data": data, "analysis": tree["analysis"]})


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat
