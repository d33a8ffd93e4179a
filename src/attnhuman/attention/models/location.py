"""Where a registry entry's checkpoint is (``tunings.<t>.checkpoint``), parsed once into a typed location, and what
is missing there, found without reading the weights (torch-free):

- :class:`Folder`: a local Hugging Face folder (``config.json``, tokenizer files, weights), and who named it;
- :class:`Package`: ``package:<module>``, a GGUF file shipped inside an installed Python package;
- :class:`Random`: ``random``, a small randomly initialised model built from the entry's ``architecture`` (seeded),
  with the tokenizer of the entry's ``tokenizer`` (another location).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Folder:
    """A local folder. ``named``: the environment variable or setting that named it and the folder it gave
    (``("ATTNHUMAN_LLAMA_7B", "/models/llama-7b")``, or ``("paths.checkpoints", "/models")`` when that folder is not
    there); None for the registry's default folder under ``paths.checkpoints``, whose absence leaves the Hub route."""

    path: str
    named: tuple[str, str] | None = None

    def __str__(self) -> str:
        return self.path

    @property
    def folder(self) -> Path:
        return Path(self.path).expanduser()


@dataclass(frozen=True)
class Package:
    module: str

    def __str__(self) -> str:
        return f"package:{self.module}"


@dataclass(frozen=True)
class Random:
    def __str__(self) -> str:
        return "random"


Location = Folder | Package | Random


def parse(text: str | Location) -> Location:
    """The location a registry string names: ``random``, ``package:<module>`` or a folder."""
    if isinstance(text, (Folder, Package, Random)):
        return text
    text = str(text)
    if text == "random":
        return Random()
    if text.startswith("package:"):
        return Package(text.split(":", 1)[1])
    return Folder(text)


def taken(folder: Folder) -> bool:
    """Whether the folder route is taken: the folder is there or was named; the Hub only stands in for the registry's
    default folder when it is absent."""
    return folder.named is not None or folder.folder.exists()


def folder_problem(checkpoint: Folder | str | Path, label: str) -> str | None:
    """Why ``checkpoint`` is not a Hugging Face model folder (config.json and weights), or None."""
    path = Path(str(checkpoint)).expanduser()
    named = checkpoint.named if isinstance(checkpoint, Folder) else None
    if named and not Path(named[1]).expanduser().is_dir():
        return (f"checkpoint of {label}: {named[0]}={named[1]}: no such folder. Correct {named[0]}, or leave it "
                "out to take the registry's route (conf/model).")
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("pytorch_model*.bin"))
    if (path / "config.json").is_file() and weights:
        return None
    found = sorted(p.name for p in path.iterdir())[:10] if path.is_dir() else "no such folder"
    fix = f"Correct {named[0]}, or complete the folder" if named else \
        "Complete the folder, or set the registry's environment variable (see conf/model) or paths.checkpoints"
    return (f"checkpoint of {label}: expected a Hugging Face folder at {path}{f' ({named[0]})' if named else ''} with "
            f"config.json, tokenizer files and weights (*.safetensors or pytorch_model*.bin); found: {found}. {fix}.")


def location_problem(location: Location | None, label: str, tokenizer: Location | None = None) -> str | None:
    """Why a checkpoint location cannot be opened, or None."""
    if location is None:
        return f"{label}: its registry entry names no checkpoint."
    if isinstance(location, Random):
        return location_problem(tokenizer, f"{label}'s tokenizer") if tokenizer else \
            f"{label}: checkpoint 'random' needs 'tokenizer' in its registry entry."
    if isinstance(location, Package):
        return None if importlib.util.find_spec(location.module) else \
            f"{label}: the model package '{location.module}' is not installed; run `make install`."
    return folder_problem(location, label)
