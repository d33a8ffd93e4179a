"""Hydra ``_target_`` factories: a ``data`` or ``source`` config node becomes the package's object.

``conf/data/*.yaml`` and ``conf/source/*.yaml`` name one of these functions; :func:`build` calls it with the node's
settings and gets a source of human data (:class:`attnhuman.humans.source.HumanData`) or of attention
(:class:`attnhuman.attention.source.AttentionSource`). A factory takes exactly its settings: a key it does not know is
refused. A new data or attention source is a new YAML file and a factory here (sources that run a model:
:mod:`attnhuman.app.model_factories`, which alone imports torch).
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
from pathlib import Path

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from attnhuman.attention.imported import ImportedSource
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.attention.source import ReleasedSource
from attnhuman.attention.store import load_attention, reference_rows
from attnhuman.corpus import DEMO_CORPUS, Corpus, demo_corpus
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.natural_stories import NaturalStories
from attnhuman.humans.reading_brain.release import TEXT_FILE, Release
from attnhuman.humans.reading_brain.source import ReadingBrain, load_corpus
from attnhuman.humans.reading_tables import ReadingTables, table_paths
from attnhuman.humans.simulate import DEFAULT_GROUPS, GroupParams, Simulation

log = logging.getLogger(__name__)
CORPORA = ("auto", "reading_brain", "demo")
NODE_KEYS = ("_target_", "name", "label", "runs_model")     # what a node tells the application, not its factory


def build(node: DictConfig, group: str, **runtime):
    """``group``'s node (``data``, ``source``) as the package's object: its factory called with its settings (plain
    containers) and the ``runtime`` objects. A setting the factory does not take is refused, naming it."""
    settings = OmegaConf.to_container(node, resolve=True)
    factory = get_method(settings["_target_"])
    settings = {k: v for k, v in settings.items() if k not in NODE_KEYS}
    known = [p.name for p in inspect.signature(factory).parameters.values() if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"{', '.join(f'{group}.{k}' for k in unknown)}: not a setting of {group}={node.name}; "
                          f"its settings are {', '.join(k for k in known if k not in runtime)}.")
    return factory(**settings, **runtime)


def reading_brain(*, root, cache_dir, download: bool, verify: str, subjects: str, exclude_subjects) -> ReadingBrain:
    """``data=reading_brain``: the release under ``root`` (else $READING_BRAIN_DIR, else ``cache_dir``)."""
    return ReadingBrain(Release(root, download=download, cache_dir=cache_dir, verify=verify), subjects=subjects,
                        exclude={g: list(v or []) for g, v in (exclude_subjects or {}).items()})


def word_measures(*, path, columns: dict, group: str = "L1", subject_pattern: str = r"^([^-_.]+)",
                  sample: int | None = None, sample_seed: int = 0, times: dict | None = None) -> ReadingTables:
    """``data=word_measures`` (and ``data=geco``): word tables named by ``path`` with the ``columns`` given."""
    return ReadingTables(table_paths(path), dict(columns), group=group, subject_pattern=subject_pattern,
                         sample=sample, sample_seed=sample_seed, times=dict(times) if times else None)


def eyelink(*, path, ia_report: str, fixation_report: str | None, columns: dict, fixation_columns: dict,
            group: str = "L1", sample: int | None = None, sample_seed: int = 0,
            times: dict | None = None) -> ReadingTables:
    """``data=eyelink``: a folder with Data Viewer's interest-area report (words, word measures) and fixation
    report (saccades); ``fixation_report: null`` reads word measures alone."""
    if not path:
        raise DataError("data=eyelink needs data.path: the folder of the Data Viewer exports "
                        f"({ia_report}, {fixation_report}), e.g. ../shared/data/onestop_sample.")
    folder = Path(str(path)).expanduser()
    return ReadingTables([folder / ia_report], dict(columns), group=group,
                         fixations=folder / fixation_report if fixation_report else None,
                         fixation_columns=dict(fixation_columns), sample=sample, sample_seed=sample_seed,
                         times=dict(times) if times else None)


def natural_stories(*, root) -> NaturalStories:
    """``data=natural_stories``: the Natural Stories files under ``root``."""
    if not root:
        raise DataError("data=natural_stories needs data.root: the folder holding all_stories.tok and "
                        "processed_wordinfo.tsv, e.g. ../shared/data/natural_stories.")
    return NaturalStories(Path(str(root)).expanduser())


def simulation(*, corpus: str, root, cache_dir, download: bool, verify: str, synthetic: dict) -> Simulation:
    """``data=synthetic``: simulated readers of the corpus ``corpus`` names (see :func:`synthetic_corpus`)."""
    text, origin, modified = synthetic_corpus(corpus, root, cache_dir, download, verify)
    sim = dict(synthetic or {})
    groups = {g: GroupParams.from_mapping(g, {**dataclasses.asdict(DEFAULT_GROUPS.get(g, GroupParams())), **(p or {})})
              for g, p in (sim.get("groups") or {}).items()}
    difficulty = dict(sim.get("difficulty") or {})
    unknown = sorted(set(difficulty) - {"length", "lexical", "seed"})
    if unknown:
        raise DataError(f"data.synthetic.difficulty: unknown key(s) {unknown}; known: length, lexical, seed.")
    reference_cfg = dict(sim.get("reference") or {})
    weight = float(sim.get("reference_weight", 0.0) or 0.0)
    reference = None
    if reference_cfg.get("path"):
        reference = load_reference(reference_cfg["path"], int(reference_cfg.get("layer", 0)), text)
    elif weight > 0:
        raise DataError(f"data.synthetic.reference_weight={weight} needs data.synthetic.reference.path "
                        "(an attention .npz of this corpus, e.g. a run's attention/attention.npz).")
    log.info("Simulated readers on the %s (%d sentences)", origin, len(text))
    return Simulation(text, groups, seed=int(sim.get("seed", 0)), binarize=bool(sim.get("binarize", True)),
                      difficulty=difficulty, reference=reference, reference_weight=weight,
                      max_fixations_per_word=int(sim.get("max_fixations_per_word", 20)), modified_files=tuple(modified))


def synthetic_corpus(mode: str, root, cache_dir, download: bool, verify: str = "warn") -> tuple[Corpus, str, list]:
    """``(corpus, where it came from, files that differ from the release)`` per ``data.corpus``: ``auto`` = the Reading Brain sentences when the
    text file is already in the release folder (never downloads), else the shipped demo corpus;
    ``reading_brain`` (may download if ``download``); ``demo``."""
    if mode not in CORPORA:
        raise DataError(f"data.corpus={mode!r}: choose auto, reading_brain or demo.")
    if mode != "demo":
        release = Release(root, download=bool(download), cache_dir=cache_dir, verify=verify)
        if mode == "reading_brain" or release.has(TEXT_FILE):
            return load_corpus(release), f"Reading Brain sentences ({release.path(TEXT_FILE)})", release.modified
        log.info("Reading Brain text not found in %s: using the shipped demo corpus (set data.root to use "
                 "the Reading Brain sentences).", release.root)
    return demo_corpus(), f"shipped demo corpus (attnhuman/resources/{DEMO_CORPUS})", []


def load_reference(path, layer: int, corpus: Corpus):
    """``(n_cells,)`` planted reference rows from an attention file (packed .npz or native folder)."""
    where = f"data.synthetic.reference.path={path}"
    try:
        store = load_attention(Path(path), corpus)
    except DataError as e:
        raise DataError(f"{where}: {e} The reference attention must be computed on the simulated corpus "
                        "(see data.corpus / data.root).") from e
    if not -store.n_layers <= layer < store.n_layers:
        raise DataError(f"data.synthetic.reference.layer={layer}: {where} has {store.n_layers} layers "
                        f"(0..{store.n_layers - 1}).")
    return reference_rows(store, layer, corpus, where)


def released_source(*, path, root, verify: str, spec: ModelSpec, prefix: dict, paths: dict,
                    measure: str = "weights", context: dict | None = None) -> ReleasedSource:
    """``source=released``: ``path``, else ``<root>/<model>-<size>/<prefix.released_file>``; it gives no word
    predictions, so ``context=text`` is refused."""
    _unit_context(context, "source=released gives attention, no word predictions to read in context")
    if measure != "weights":
        raise ConfigError(f"measure={measure}: released attention holds the weights only; the other measures need "
                          "the model (source=hf).")
    return ReleasedSource(released_path(path, root, spec, prefix), cache_dir=Path(paths["cache"]).expanduser(),
                          verify=str(verify))


def imported_source(*, path, spec: ModelSpec, prefix: dict, paths: dict, measure: str = "weights",
                    context: dict | None = None) -> ImportedSource:
    """``source=imported``: word predictions from a table of token log-probabilities (``path``); the model it names
    (``spec``) labels the run. It holds no attention and was computed on the texts alone: another measure or a prefix is
    refused."""
    if measure != "weights":
        raise ConfigError(f"measure={measure}: source=imported holds word predictions, no attention to measure.")
    _unit_context(context, "source=imported predictions read what the table's model read (GPT-3: each story whole)")
    if prefix["name"] != "none":
        raise ConfigError(f"prefix={prefix['name']}: imported predictions were computed on the texts alone; use "
                          "prefix=none.")
    return ImportedSource(Path(str(path)).expanduser().resolve(), cache_dir=Path(paths["cache"]).expanduser())


def _unit_context(context: dict | None, why: str) -> None:
    """Refuse ``context=text`` for a source whose predictions it cannot change."""
    if context and context.get("context") != "unit":
        raise ConfigError(f"context={context.get('context')}: {why}; leave context=unit.")


def released_path(path, root, spec: ModelSpec, prefix: dict) -> Path:
    """The released attention a job reads, whichever of ``source.path`` or ``source.root`` named it (absolute)."""
    if path:
        return Path(path).expanduser().resolve()
    if not root:
        raise DataError("source=released needs source.path (a packed .npz or a native folder) or "
                        "source.root (a folder with <model>-<size>/packed_*.npz, e.g. "
                        "../shared/data/released_attention).")
    if not prefix["released_file"]:
        raise DataError(f"no released attention exists for prefix={prefix['name']}; give source.path.")
    return (Path(root).expanduser() / f"{spec.model}-{spec.size}" / prefix["released_file"]).resolve()
