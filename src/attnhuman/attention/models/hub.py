"""Any causal LM by Hugging Face Hub id (and revision) or local folder: where its files are and what it is.

Files come through the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``; ``HF_HUB_OFFLINE=1`` reads only
the cache); the model's facts (layers, heads, hidden size, parameters) are read from its ``config.json``
and its safetensors headers, never typed by hand. Torch-free.
"""
from __future__ import annotations

import functools
import json
import math
import pickle
import re
import struct
import zipfile
from pathlib import Path

from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from attnhuman.errors import DataError

MODEL_FILES = ["*.json", "*.model", "*.txt", "*.tiktoken"]    # config and tokenizer
WEIGHTS = ["*.safetensors"]                                    # preferred; pickled weights only where a repo has no other
PICKLED = ["pytorch_model*.bin"]
CONFIG_KEYS = {"layers": ("num_hidden_layers", "n_layer", "num_layers"),
               "heads": ("num_attention_heads", "n_head"),
               "hidden": ("hidden_size", "n_embd", "d_model")}


@functools.lru_cache(maxsize=None)
def locate(model_id: str, revision: str | None = None) -> Path:
    """The folder holding the model's files: ``model_id`` itself when it is a local folder, else its snapshot
    in the Hugging Face cache (downloaded unless offline)."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise DataError(f"model.id={model_id}: this folder is not a model (no config.json); give a folder saved "
                            "with save_pretrained or a Hub id such as EleutherAI/pythia-160m.")
        return folder.resolve()
    where = f"{model_id} (revision {revision or 'main'})"
    try:
        return Path(snapshot_download(model_id, revision=revision, allow_patterns=MODEL_FILES + _weights(model_id, revision)))
    except RevisionNotFoundError as e:
        raise DataError(f"{where}: this revision does not exist on the Hub; use one of the repository's "
                        "branches, tags or commits (model.revision), or leave it out for main.") from e
    except GatedRepoError as e:
        raise DataError(f"{where} is gated: accept its licence on huggingface.co and set HF_TOKEN.") from e
    except RepositoryNotFoundError as e:
        raise DataError(f"{where}: no such model on the Hub (or it is private: set HF_TOKEN); check model.id.") from e
    except LocalEntryNotFoundError as e:
        raise DataError(f"{_not_cached(model_id, revision)}, or give a local folder instead.") from e
    except HFValidationError as e:
        raise DataError(f"model.id={model_id!r} is neither a local folder nor a Hub id (owner/name).") from e


def _weights(model_id: str, revision: str | None) -> list[str]:
    """The weight files to fetch: safetensors where the repository has them, else its pickled ``.bin`` files."""
    if constants.HF_HUB_OFFLINE:
        return WEIGHTS + PICKLED
    try:
        files = HfApi().list_repo_files(model_id, revision=revision)
    except (HfHubHTTPError, HFValidationError):
        raise
    except Exception:            # the Hub cannot be reached: what the cache holds decides (snapshot_download says)
        return WEIGHTS + PICKLED
    return WEIGHTS if any(f.endswith(".safetensors") for f in files) else PICKLED


def split(pinned: str) -> tuple[str, str | None]:
    """``owner/name@revision`` -> (``owner/name``, ``revision``); no ``@``: revision None (main)."""
    model_id, _, revision = pinned.partition("@")
    return model_id, revision or None


def cached(model_id: str, revision: str | None) -> Path | None:
    """The model's snapshot folder when the Hugging Face cache holds it, else None; never reaches the network."""
    try:
        folder = Path(snapshot_download(model_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError):
        return None
    return folder if (folder / "config.json").is_file() else None


def absent(model_id: str, revision: str | None) -> str | None:
    """Why the model cannot be had without downloading it while downloads are off (HF_HUB_OFFLINE=1), or None."""
    if not constants.HF_HUB_OFFLINE or cached(model_id, revision) is not None:
        return None
    return _not_cached(model_id, revision)


def _not_cached(model_id: str, revision: str | None) -> str:
    why = "downloads are off (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else "the Hub cannot be reached from here"
    return (f"{model_id} (revision {revision or 'main'}) is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
            f"and {why}: download it once online (hf download {model_id}"
            f"{f' --revision {revision}' if revision else ''})")


def _safetensors_count(path: Path) -> int | None:
    """The number of weights a safetensors file's header lists, or None when the header cannot be read."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8).ljust(8, b"\0"))[0]
        if not 0 < size <= path.stat().st_size - 8:
            return None
        try:
            header = json.loads(f.read(size))
            return sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError):
            return None


class _StandIn:
    """Whatever a weight file's pickle builds (tensors, parameters, ordered dicts): takes everything, keeps nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setitem__(self, key, value):
        pass

    def __setstate__(self, state):
        pass


class _Storages(pickle.Unpickler):
    """A PyTorch weight file's pickle read for its storages alone: every class it names is a :class:`_StandIn` (none
    of its code runs); each storage, ``("storage", type, key, location, elements, ...)``, is kept by key."""

    def __init__(self, file):
        super().__init__(file)
        self.elements: dict[str, int] = {}

    def find_class(self, module, name):
        return _StandIn

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            self.elements[str(pid[2])] = int(pid[4])


def _pickled_count(path: Path) -> int | None:
    """The number of weights in a PyTorch weight file (a zip archive, or the legacy pickles one after another): the
    elements of the storages its pickle lists, or None when it cannot be read."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive, archive.open(next(
                    n for n in archive.namelist() if n.endswith("data.pkl"))) as f:
                storages = _Storages(f)
                storages.load()
        else:
            with open(path, "rb") as f:
                for _ in range(3):                  # the legacy format's magic number, protocol and system info
                    _Storages(f).load()
                storages = _Storages(f)
                storages.load()
    except Exception:               # whatever the damage: the file is named by the caller
        return None
    return sum(storages.elements.values())


def weight_count(folder: Path) -> int | None:
    """The number of weights in a folder's weight files, none loaded: from the safetensors headers, else from the
    storages that the pickles of ``pytorch_model*.bin`` files list (read without torch); None when the folder holds
    no weight file. DataError naming a file that cannot be read."""
    total = None
    for path in sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin")):
        pickled = path.suffix == ".bin"
        count = _pickled_count(path) if pickled else _safetensors_count(path)
        if count is None:
            raise DataError(f"{path.name}: not a {'PyTorch weight file' if pickled else 'safetensors file'}")
        total = (total or 0) + count
    return total


def _parameters(folder: Path) -> int:
    """The number of weights, from the safetensors headers (0 when the weights are not safetensors or a header
    cannot be read: loading the weights then says what is wrong with them)."""
    counts = [_safetensors_count(path) for path in sorted(folder.glob("*.safetensors"))]
    return 0 if None in counts else sum(counts)


def read_config(path: Path) -> dict:
    """A model's ``config.json``; DataError naming the file when it is not a JSON object."""
    try:
        config = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not JSON ({e}); copy config.json again from the model's release.") from e
    if not isinstance(config, dict):
        raise DataError(f"{path}: not a model config (a JSON {type(config).__name__}, not an object); copy "
                        "config.json again from the model's release.")
    return config


@functools.lru_cache(maxsize=None)
def facts(folder: Path) -> dict:
    """``{model_type, layers, heads, hidden, parameters}`` from the folder's config and weights."""
    config = read_config(folder / "config.json")
    config = {**config.get("text_config", {}), **config}
    out = {"model_type": config.get("model_type", "unknown")}
    for fact, keys in CONFIG_KEYS.items():
        value = next((config[k] for k in keys if k in config), None)
        if value is None:
            raise DataError(f"{folder / 'config.json'}: no {fact} ({' / '.join(keys)}); is this a causal LM?")
        out[fact] = int(value)
    out["parameters"] = _parameters(folder)
    return out


def training_step(revision: str | None) -> int | None:
    """The training step a revision names (Pythia's ``step1000``, OLMo's ``stage1-step5000-tokens...``), or None."""
    found = re.search(r"step(\d+)", revision or "")
    return int(found.group(1)) if found else None
