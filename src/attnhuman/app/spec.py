"""The job spec: one frozen value built from the composed config before any data is read. Everything below ``app/``
receives it or its parts, never the config.

A job's identity (``config_hash``) is built from an explicit allow-list of the settings that define its numbers
(:data:`IDENTITY`), beside the contents of its data and of its attention input (their fingerprints) and the code that
computes them. Every other setting is listed in :data:`NOT_IDENTITY`: where things are (their contents are
fingerprinted), how fast, how a run is tracked. A new setting goes into one of the two on purpose:
``tests/unit/test_spec.py`` checks that every key of ``conf/`` is in exactly one.

Importing this module registers two config nodes whose values live in Python: ``analysis/schema``, the typed score
options (:class:`attnhuman.analysis.options.ScoreOptions`) with their defaults plus ``groups`` and ``fmri``; and
``readers/calibrated``, the simulated readers' calibrated parameters (:data:`attnhuman.humans.simulate.DEFAULT_GROUPS`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from attnhuman import identity
from attnhuman.analysis.options import ScoreOptions
from attnhuman.analysis.predictive_power import PowerOptions
from attnhuman.app.errors import CompactConfigError
from attnhuman.app.factories import build, released_path
from attnhuman.attention.extraction import measures
from attnhuman.attention.models import hub
from attnhuman.attention.models.location import Folder, Location, parse
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.attention.predictors import PREDICTORS
from attnhuman.attention.source import AttentionSource
from attnhuman.errors import ConfigError
from attnhuman.humans.simulate import DEFAULT_GROUPS
from attnhuman.humans.source import HumanData

# What defines a job's numbers, per config group (and the resolved registry entry, see _identity).
IDENTITY = {
    "prefix": ("name", "text"),
    "measure": ("name",),
    "data": ("name", "subjects", "exclude_subjects", "corpus", "synthetic", "columns", "fixation_columns", "group",
             "subject_pattern", "sample", "sample_seed", "times"),
    "source": ("name", "dtype", "seed"),
    "analysis": (*(f.name for f in dataclasses.fields(ScoreOptions)), "groups", "fmri"),
    "predictive": tuple(f.name for f in dataclasses.fields(PowerOptions)),
    "context": ("name", "max_context"),
}
# What does not: "" holds the top-level keys.
NOT_IDENTITY = {
    "": ("size", "tuning",               # resolved into the registry entry (the model part of the identity)
         "rerun", "mlflow", "compare", "paths", "cluster", "hydra"),
    "model": ("name", "family", "stage", "description", "default_size", "sizes",   # the resolved entry stands for them
              "id", "revision"),        # model=hub: the weights are fingerprinted; a stepN revision is training_step
    "prefix": ("released_file",),       # where released attention is: its contents are fingerprinted
    "data": ("_target_", "root", "cache_dir", "download", "verify", "path", "ia_report", "fixation_report",
             "label"),                  # the corpus' name for people: tags and run names
    "source": ("_target_", "path", "root", "verify",            # the attention input: fingerprinted
               "batch_size", "chunk_size", "device_map", "gpu_memory_gb", "tp_size", "one_process_per_shard",
               "runs_model", "progress", "cache", "cache_dir",  # how fast, where: the same numbers
               "trust_remote_code"),                            # permission to run the checkpoint's code
    "measure": (),
    "analysis": (),
    "predictive": (),
    "context": (),
}
PARAMS_LEFT_OUT = ("rerun", "mlflow", "compare", "hydra", "cluster")   # settings of how a job runs, not what it is
DEFAULT_DATA = "reading_brain"          # runs on other data carry its name in theirs
DEFAULT_SOURCE = "hf"                   # runs with attention from another source carry its name in theirs
DEFAULT_MEASURE = "weights"             # runs of another attention measure carry its name in theirs
FMRI_SCORES = {"true": "r2", "r2": "r2", "legacy_pearson": "legacy_pearson"}
ENV_OR_DEFAULT = re.compile(r"\$\{oc\.env:(\w+),(.*)\}")       # a setting's value: ${oc.env:VARIABLE,default}


@dataclass
class AnalysisSchema(ScoreOptions):
    """The ``analysis`` config group: score options, the groups to compare, and the fMRI score."""

    groups: list[str] = field(default_factory=lambda: ["L1", "L2"])
    fmri: Any = True


ConfigStore.instance().store(group="analysis", name="schema", node=AnalysisSchema, provider="attnhuman")
ConfigStore.instance().store(group="readers", name="calibrated", provider="attnhuman",
                             node={g: dataclasses.asdict(p) for g, p in DEFAULT_GROUPS.items()})


@dataclass(frozen=True)
class Prefix:
    """The instruction read before each sentence (docs/method.md, "Prefixes"); ``released_file``: its released
    attention file, if any."""

    name: str
    text: str
    released_file: str | None = None


@dataclass(frozen=True)
class Tracking:
    """Where runs are logged: the store (``$MLFLOW_TRACKING_URI`` wins over ``mlflow.tracking_uri``; default
    ``sqlite:///<project>/mlruns/mlflow.db``), the experiment, and the many-writers settings."""

    uri: str
    experiment: str
    artifact_location: str | None
    heartbeat_s: float
    stale_after_s: float
    cache: Path                 # paths.cache: an empty store of this MLflow version is kept under <cache>/mlflow


@dataclass(frozen=True)
class HumanSpec:
    """What a run is scored against: the human-data source, the groups, the fMRI score and its identity."""

    data: HumanData
    data_name: str
    groups: tuple[str, ...]
    fmri: str | None            # None (off), "r2" or "legacy_pearson"
    humans_hash: str            # the data settings but their location, and the analysis options
    cache: Path                 # paths.cache: parsed human data is kept under <cache>/humans
    corpus_label: str           # the corpus' name for people: GECO, OneStop, a lab's name (data.label)


@dataclass(frozen=True)
class JobSpec:
    """One job, validated: the model, its prefix and measure, where its attention comes from, the human data and
    score options it is scored with, its name and identity, the params it logs and where."""

    name: str                       # the MLflow run name
    model: ModelSpec                # the registry entry
    prefix: Prefix
    measure: str
    source_name: str                # hf | deepspeed | released
    source: AttentionSource         # built, nothing read
    humans: HumanSpec
    score: ScoreOptions
    predictive: PowerOptions        # which word predictions are scored against reading times, and how
    config_hash: str                # the allow-listed settings (IDENTITY) and the registry entry, digested
    params: dict[str, str]          # the resolved config, flattened: what the run logs as params
    tags: dict[str, str]            # model, size, tuning, prefix, source, family, stage
    training_step: int | None       # model=hub at a stepN revision
    rerun: bool
    tracking: Tracking


@dataclass(frozen=True)
class CompareOptions:
    """``compare``: the comparison run's settings."""

    after_sweep: bool                   # compare a sweep's runs when it ends
    filter: str                         # an MLflow filter over job runs (src/compare.py)
    reference: tuple[str, str]          # run names of the 'small change' baseline of the divergence figures
    divergence_metric: str              # js | sym_kl, in the figures
    alpha: float                        # family-wise level of the per-layer tests
    extrapolate_to: float               # parameters at which the scaling line is read off


@dataclass(frozen=True)
class ComparisonSpec:
    """One comparison run: the human data its runs were scored on, its options, where runs are."""

    humans: HumanSpec
    options: CompareOptions
    params: dict[str, str]
    tracking: Tracking


def job_spec(cfg: DictConfig) -> JobSpec:
    """The job ``cfg`` composes, checked: its registry entry, options, data and source (built, nothing read)."""
    model = resolve_model(cfg)
    score = score_options(cfg)
    prefix = Prefix(**OmegaConf.to_container(cfg.prefix, resolve=True))
    measure = measures.check(str(cfg.measure.name))
    humans = humans_spec(cfg)
    paths = OmegaConf.to_container(cfg.paths, resolve=True)
    asked = asked_predictors(cfg)
    context = {"context": str(cfg.context.name), "max_context": cfg.context.max_context,
               "lens": asked is not None and "lens" in asked}
    source = build(cfg.source, "source", spec=model, prefix=dataclasses.asdict(prefix), paths=paths, measure=measure,
                   context=context)
    step = hub.training_step(cfg.model.revision) if "id" in cfg.model else None
    tree = _identity(cfg, model, step)
    tags = {"model": model.model, "size": model.size, "tuning": model.tuning, "prefix": prefix.name,
            "source": str(cfg.source.name), "family": model.family, "stage": model.stage}
    return JobSpec(name=run_name(cfg, model, score), model=model, prefix=prefix, measure=measure,
                   source_name=str(cfg.source.name), source=source, humans=humans, score=score,
                   predictive=power_options(cfg, source, asked),
                   config_hash=identity.of_value(tree)[:16], params=flatten(job_config(cfg, model, step)), tags=tags,
                   training_step=step, rerun=bool(cfg.rerun), tracking=tracking(cfg))


def asked_predictors(cfg: DictConfig) -> tuple[str, ...] | None:
    """``predictive.predictors`` as the command names them, or None for ``auto``."""
    asked = OmegaConf.to_container(cfg.predictive, resolve=True)["predictors"]
    if asked == "auto":
        return None
    if not isinstance(asked, list):
        raise ConfigError(f"predictive.predictors={asked!r}: a list, e.g. [surprisal, entropy], or auto.")
    return tuple(str(p) for p in asked)


def power_options(cfg: DictConfig, source: AttentionSource, asked: tuple[str, ...] | None) -> PowerOptions:
    """``cfg.predictive`` with the ``asked`` predictors (None, ``auto``: what the source gives of surprisal and
    entropy), refused where the source cannot give them (released attention has no log-probabilities)."""
    settings = OmegaConf.to_container(cfg.predictive, resolve=True)
    del settings["predictors"]
    gives, name = tuple(source.gives), str(cfg.source.name)
    if asked is None:
        return PowerOptions(predictors=tuple(p for p in ("surprisal", "entropy") if p in gives), **settings)
    lacking = [p for p in asked if p in PREDICTORS and p not in gives]
    if lacking:
        offers = [p for p in gives if p in PREDICTORS]
        raise ConfigError(f"predictive.predictors=[{', '.join(asked)}]: source={name} gives no {', '.join(lacking)}"
                          f"{' (released attention has no log-probabilities)' if name == 'released' else ''}; it gives "
                          f"{', '.join(offers) or 'no word predictions'}. Choose among those, or a source that runs "
                          "the model (source=hf), or predictive.predictors=auto.")
    return PowerOptions(predictors=asked, **settings)


def humans_spec(cfg: DictConfig) -> HumanSpec:
    """The human data of ``cfg.data`` for ``cfg.analysis.groups`` (the data source built, nothing read)."""
    tree = _identity_of(cfg, ("data", "analysis"))
    groups = tuple(str(g) for g in cfg.analysis.groups)
    if not groups or len(set(groups)) < len(groups):
        raise ConfigError(f"analysis.groups=[{', '.join(groups)}]: name each group to compare once, at least one "
                          "(e.g. [L1, L2], or [L1] for data with native readers only).")
    return HumanSpec(data=build(cfg.data, "data"), data_name=str(cfg.data.name), groups=groups,
                     fmri=fmri_score(cfg), humans_hash=identity.of_value(tree)[:16],
                     cache=Path(str(cfg.paths.cache)).expanduser(), corpus_label=corpus_label(cfg))


def corpus_label(cfg: DictConfig) -> str:
    """``data.label``, or for a corpus in tables without one (``data=word_measures``, ``data=eyelink``) the name of its
    file or folder (``onestop_sample``): never the loader's name."""
    label = cfg.data.get("label")
    if label:
        return str(label)
    path = cfg.data.get("path")
    if path:
        name = Path(str(path).split("*")[0].rstrip("/")).name
        return name.split(".")[0] or str(cfg.data.name)
    return str(cfg.data.name)


def _slug(label: str) -> str:
    """``Natural Stories`` -> ``natural_stories``: a corpus label as part of a run name."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def comparison_spec(cfg: DictConfig) -> ComparisonSpec:
    """The comparison ``cfg`` composes (``conf/comparison.yaml``, or a sweep's own config)."""
    options = cfg.compare
    compare = CompareOptions(after_sweep=bool(options.after_sweep), filter=str(options.filter or ""),
                             reference=(str(options.reference.a), str(options.reference.b)),
                             divergence_metric=str(options.divergence_metric), alpha=float(options.alpha),
                             extrapolate_to=float(options.extrapolate_to))
    params = flatten({"compare": OmegaConf.to_container(options, resolve=True)})
    return ComparisonSpec(humans=humans_spec(cfg), options=compare, params=params, tracking=tracking(cfg))


def tracking(cfg: DictConfig) -> Tracking:
    mlflow = cfg.mlflow
    uri = store_uri(mlflow.tracking_uri, project_root())
    return Tracking(uri=uri, experiment=str(mlflow.experiment),
                    artifact_location=str(mlflow.artifact_location) if mlflow.artifact_location else None,
                    heartbeat_s=float(mlflow.heartbeat_s), stale_after_s=float(mlflow.stale_after_s),
                    cache=Path(str(cfg.paths.cache)).expanduser())


def store_uri(configured: str | None, root: Path) -> str:
    """The MLflow store: ``$MLFLOW_TRACKING_URI``, else ``mlflow.tracking_uri`` (``configured``), else
    ``sqlite:///<root>/mlruns/mlflow.db`` (``root``: the project, the folder above ``conf/``)."""
    return str(os.environ.get("MLFLOW_TRACKING_URI") or configured or f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")


def project_root() -> Path:
    """The folder above the primary config's ``conf/`` (Hydra's config source), else the working directory."""
    if HydraConfig.initialized():
        for source in HydraConfig.get().runtime.config_sources:
            if source.schema == "file" and source.provider == "main":
                return Path(source.path).resolve().parent
    return Path.cwd()


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
        raise ConfigError(f"analysis.fmri={value!r}: choose true (R2, docs/method.md, \"fMRI\"), false or legacy_pearson")
    return FMRI_SCORES[str(value).lower()]


def resolve_model(cfg: DictConfig) -> ModelSpec:
    """The registry entry of a job: ``size=auto`` is the model's default size, ``tuning=default`` the entry's;
    for ``model=hub``, the model ``model.id`` names (size: its name, tuning: its revision), facts from its config."""
    model = cfg.model
    if "id" in model:
        return _hub_model(model)
    size = str(model.default_size) if str(cfg.size) == "auto" else str(cfg.size)
    if size not in model.sizes:
        raise CompactConfigError(f"{model.name} has no size '{size}'; choose one of {sorted(model.sizes)} "
                                 "(or size=auto).")
    entry = model.sizes[size]
    tuning = entry.default_tuning if cfg.tuning == "default" else str(cfg.tuning)
    if tuning not in entry.tunings:
        raise CompactConfigError(f"{model.name} {size} has no tuning '{tuning}'; "
                                 f"choose one of {sorted(entry.tunings)} (or tuning=default).")
    plain = OmegaConf.to_container(entry, resolve=True)
    where, raw = plain["tunings"][tuning], OmegaConf.to_container(entry, resolve=False)["tunings"][tuning]
    setting = f"model.sizes.{size}.tunings.{tuning}"
    delta = where.get("delta")
    if delta:
        delta = {**delta, "base": _location(cfg, delta["base"], raw["delta"]["base"], f"{setting}.delta.base")}
    return ModelSpec(model=model.name, size=size, tuning=tuning, family=model.family, stage=model.stage,
                     parameters=int(entry.parameters), layers=int(entry.layers), heads=int(entry.heads),
                     hidden=int(entry.hidden),
                     checkpoint=_location(cfg, where["checkpoint"], raw["checkpoint"], f"{setting}.checkpoint"),
                     architecture=plain.get("architecture"),
                     tokenizer=parse(plain["tokenizer"]) if plain.get("tokenizer") else None,
                     hub=where.get("hub"), delta=delta, trust_remote_code=bool(where.get("trust_remote_code", False)))


def _given(raw, setting: str) -> str | None:
    """Who gave a setting its value: the environment variable of its ``${oc.env:VARIABLE,default}`` when that is
    set, None when the default stands, the setting itself when its value is another (given on the command line)."""
    found = ENV_OR_DEFAULT.fullmatch(str(raw))
    if found is None:
        return setting
    return found[1] if found[1] in os.environ else None


def _location(cfg: DictConfig, value, raw, setting: str) -> Location | None:
    """The checkpoint location ``setting`` names (``raw``: its value unresolved). A folder remembers who named it:
    the entry's environment variable, the setting itself, or ``paths.checkpoints`` given as a folder that is not
    there; the registry's default folder under ``paths.checkpoints`` is named by nobody (the Hub stands in for it)."""
    if not value:
        return None
    location = parse(value)
    if not isinstance(location, Folder):
        return location
    given = _given(raw, setting)
    if given:
        return Folder(location.path, (given, location.path))
    base = str(cfg.paths.checkpoints)
    given = _given(OmegaConf.to_container(cfg.paths, resolve=False)["checkpoints"], "paths.checkpoints")
    if given and "${paths.checkpoints}" in str(raw) and not Path(base).expanduser().is_dir():
        return Folder(location.path, (given, base))
    return location


def _hub_model(model: DictConfig) -> ModelSpec:
    if not model.id:
        raise CompactConfigError("model=hub needs model.id: a Hub id (EleutherAI/pythia-160m) or a local folder.")
    if model.revision and Path(str(model.id)).expanduser().is_dir():
        raise CompactConfigError(f"model.revision={model.revision} with model.id={model.id}: a local folder has no "
                                 "revisions (its files are the model); leave model.revision out, or give the Hub id "
                                 "whose revision you mean.")
    folder = hub.locate(str(model.id), str(model.revision) if model.revision else None)
    found = hub.facts(folder)
    name = re.sub(r"[^\w.-]+", "_", Path(str(model.id).rstrip("/")).name)
    return ModelSpec(model=model.name, size=name, tuning=str(model.revision or "main"),
                     family=str(model.family or found["model_type"]), stage=str(model.stage),
                     parameters=found["parameters"], layers=found["layers"], heads=found["heads"],
                     hidden=found["hidden"], checkpoint=Folder(str(folder)))


def run_name(cfg: DictConfig, model: ModelSpec, score: ScoreOptions) -> str:
    """``model-size-tuning-prefix``, the MLflow run name of a job, with ``+<source>`` for attention not extracted by
    transformers here (``released``, ``deepspeed``), ``+<measure>`` for a measure other than the weights, ``+<corpus>``
    for data other than Reading Brain (its :func:`corpus_label`, lower case), ``+sample<N>`` for a sample of its units and ``+<options>`` for score options
    other than the paper's, ``+context_text`` for predictions read after the preceding text
    (``llama-30b-base-none+released+synthetic+cv``, ``smollm2-...-none+norm+geco+sample500``)."""
    extras = [cfg.source.name] if cfg.source.name != DEFAULT_SOURCE else []
    extras += [cfg.measure.name] if cfg.measure.name != DEFAULT_MEASURE else []
    extras += [_slug(corpus_label(cfg))] if cfg.data.name != DEFAULT_DATA else []
    extras += [f"sample{cfg.data.sample}"] if cfg.data.get("sample") is not None else []
    extras += [f"context_{cfg.context.name}"] if cfg.context.name != "unit" else []
    extras += [score.suffix] if score.suffix else []
    return f"{model.label}-{cfg.prefix.name}" + "".join(f"+{e}" for e in extras)


def _identity_of(cfg: DictConfig, groups: tuple[str, ...]) -> dict:
    """The allow-listed keys of ``groups`` (:data:`IDENTITY`), resolved."""
    plain = {g: OmegaConf.to_container(cfg[g], resolve=True) for g in groups}
    return {g: {k: plain[g][k] for k in IDENTITY[g] if k in plain[g]} for g in groups}


def _identity(cfg: DictConfig, model: ModelSpec, training_step: int | None) -> dict:
    """What defines a job's numbers besides its inputs' contents: the allow-listed settings and the registry entry."""
    tree = _identity_of(cfg, tuple(IDENTITY))
    tree["model"] = {f: getattr(model, f) for f in ("model", "size", "tuning", "family", "stage", "parameters",
                                                    "layers", "heads", "hidden")}
    tree["model"]["training_step"] = training_step
    return tree


def job_config(cfg: DictConfig, model: ModelSpec, training_step: int | None) -> dict:
    """What a run logs as params: the resolved job config but how it runs (:data:`PARAMS_LEFT_OUT`), with the chosen
    registry entry (``model_size``) instead of every size, ``size`` and ``tuning`` resolved, and a released file as
    one absolute ``source.path`` however it was named."""
    keys = [k for k in cfg if k not in PARAMS_LEFT_OUT]
    job = _without_targets(OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True))
    raw = job.pop("model")
    job["model"] = {k: v for k, v in raw.items() if k not in ("sizes", "default_size")}
    if "id" in raw:                   # model=hub: the facts read from its config
        job["model_size"] = {"parameters": model.parameters, "layers": model.layers, "heads": model.heads,
                             "hidden": model.hidden, "family": model.family}
        if training_step is not None:
            job["training_step"] = training_step
    else:
        job["model_size"] = _without_targets(raw["sizes"][model.size])
    job["size"], job["tuning"] = model.size, model.tuning
    source, prefix = job["source"], job["prefix"]
    if source.get("name") == "released" and (source["path"] or (source["root"] and prefix["released_file"])):
        source["path"], source["root"] = str(released_path(source["path"], source["root"], model, prefix)), None
    return job


def _without_targets(tree):
    """The tree without Hydra's ``_target_`` keys (they name factories, not settings)."""
    if isinstance(tree, dict):
        return {k: _without_targets(v) for k, v in tree.items() if k != "_target_"}
    return tree


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
