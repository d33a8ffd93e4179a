"""Loading causal language models through transformers, with eager attention.

A checkpoint location (:mod:`attnhuman.attention.models.location`) is a local Hugging Face folder, a GGUF file
shipped inside an installed Python package, or a seeded random model of the registry's ``architecture``.

``cache_dir`` holds what is worth keeping between runs: weight-file hashes (by the file's stamp: path, size, mtime and
sampled blocks), GGUF files that a package ships in parts, and the tokenizers converted from GGUF files (20 s for
Gemma-3's).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from attnhuman import identity
from attnhuman.attention.models.location import Folder, Location, Package, Random, folder_problem, parse
from attnhuman.errors import DataError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    identity: str


def _package_gguf(module: str, cache_dir: Path | None) -> tuple[Path, str]:
    """Folder and file name of the GGUF file shipped by an installed package (not imported if avoidable)."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise DataError(f"the model package '{module}' is not installed; run `make install`.")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if files:
        return folder, files[0].name
    package = importlib.import_module(module)
    if hasattr(package, "assemble"):       # split across several packages, joined and verified once
        if cache_dir is None:
            raise DataError(f"package '{module}' ships its GGUF file in parts: give a cache folder to join them in.")
        path = Path(package.assemble(Path(cache_dir) / "gguf" / package.MODEL_NAME))
        return path.parent, path.name
    raise DataError(f"package '{module}' holds no .gguf file in {folder}.")


def _folder(checkpoint: Folder, label: str) -> Path:
    problem = folder_problem(checkpoint, label)
    if problem:
        raise DataError(problem)
    return checkpoint.folder


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


def _gguf_tokenizer(folder: Path, gguf: str, cache_dir: Path | None):
    """The tokenizer of a GGUF file, converted once per file (its stamp) and transformers version and
    kept in ``cache_dir/tokenizers``; without ``cache_dir``, converted every time."""
    if cache_dir is None:
        return AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf)
    key = identity.of_value([identity.stamp(folder / gguf), transformers.__version__])[:16]
    target = Path(cache_dir) / "tokenizers" / f"{Path(gguf).stem}-{key}"
    if target.is_dir():
        return AutoTokenizer.from_pretrained(str(target))
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    tok.save_pretrained(staging)
    try:
        os.rename(staging, target)              # atomic; another process may have put it there first
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return tok


def _tokenizer(folder: Path, gguf: str | None = None, trust_remote_code: bool = False, cache_dir: Path | None = None):
    if gguf:
        return _gguf_tokenizer(folder, gguf, cache_dir)
    present = [name for name in TOKENIZER_FILES if (folder / name).is_file()]
    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError) as e:      # transformers' own hint (install sentencepiece) misleads here
        raise DataError(f"{folder}: its tokenizer cannot be loaded ({type(e).__name__}: "
                        f"{str(e).strip().splitlines()[0][:200]}); tokenizer files present: {present or 'none'}. "
                        "Copy the tokenizer files of this model's release into the folder.") from e


def load_tokenizer(checkpoint: Location | str, trust_remote_code: bool = False, cache_dir: Path | None = None):
    """The tokenizer at a package's GGUF file or in a folder (``checkpoint``: a location, or its registry string)."""
    checkpoint = parse(checkpoint)
    if isinstance(checkpoint, Package):
        return _tokenizer(*_package_gguf(checkpoint.module, cache_dir), cache_dir=cache_dir)
    if isinstance(checkpoint, Random):
        raise DataError("a random checkpoint has no tokenizer of its own: name one in the registry entry.")
    return _tokenizer(checkpoint.folder, trust_remote_code=trust_remote_code)


@dataclass
class Checkpoint:
    """A checkpoint whose tokenizer and identity are known before its weights are read."""

    location: Location
    label: str
    tokenizer: object
    identity: str        # what the weights are: content hash of the files, or random seed + architecture
    trust_remote_code: bool = False
    architecture: dict | None = None
    seed: int = 0
    cache_dir: Path | None = None

    def load(self, dtype: str = "float32", device_map: str | None = None) -> torch.nn.Module:
        """The model in eval mode with ``attn_implementation="eager"`` (others return no attention)."""
        if dtype not in DTYPES:
            raise DataError(f"source.dtype={dtype!r}: choose one of {sorted(DTYPES)}")
        kwargs = dict(attn_implementation="eager", dtype=DTYPES[dtype], trust_remote_code=self.trust_remote_code)
        if device_map:
            kwargs["device_map"] = device_map
        if isinstance(self.location, Random):
            tok = self.tokenizer
            config = AutoConfig.for_model(**{**self.architecture, "vocab_size": len(tok),
                                              "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id})
            torch.manual_seed(self.seed)
            model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=DTYPES[dtype])
        elif isinstance(self.location, Package):
            folder, gguf = _package_gguf(self.location.module, self.cache_dir)
            model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, **kwargs)
        else:
            folder = _folder(self.location, self.label)
            try:
                model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
            except (OSError, ValueError, RuntimeError, SafetensorError) as e:
                raise DataError(f"checkpoint of {self.label} at {folder}: its weights cannot be read "
                                f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]}). The weight files are "
                                "damaged or incomplete: copy them again from the model's release.") from e
        return model.eval()


def open_checkpoint(location: Location | str, label: str, *, trust_remote_code: bool = False,
                    architecture: dict | None = None, tokenizer: Location | str | None = None, seed: int = 0,
                    cache_dir: Path | None = None) -> Checkpoint:
    """Tokenizer and weights identity of a checkpoint location (or its registry string); weights are not read."""
    location = parse(location)
    if isinstance(location, Random):
        if not architecture or not tokenizer:
            raise DataError(f"{label}: checkpoint 'random' needs 'architecture' and 'tokenizer' in its registry entry.")
        tok = load_tokenizer(tokenizer, cache_dir=cache_dir)
        weights = f"random:{seed}:{json.dumps(architecture, sort_keys=True)}:{tokenizer}"
    elif isinstance(location, Package):
        folder, gguf = _package_gguf(location.module, cache_dir)
        tok = _tokenizer(folder, gguf, cache_dir=cache_dir)
        weights = f"gguf:{gguf}:{identity.of_file_memo(folder / gguf, cache_dir)}"
    else:
        folder = _folder(location, label)
        tok = _tokenizer(folder, trust_remote_code=trust_remote_code)
        files = [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".json")]
        weights = "folder:" + identity.of_files(files, cache_dir)
    return Checkpoint(location, label, tok, weights, trust_remote_code, architecture, seed, cache_dir)


def load_model(location: Location | str, label: str, *, dtype: str = "float32", device_map: str | None = None,
               **checkpoint) -> LoadedModel:
    """Model, tokenizer and identity in one step (``checkpoint``: keyword arguments of open_checkpoint)."""
    opened = open_checkpoint(location, label, **checkpoint)
    return LoadedModel(opened.load(dtype, device_map), opened.tokenizer, opened.identity)
