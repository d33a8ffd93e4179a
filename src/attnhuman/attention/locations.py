"""Where a checkpoint is, checked without reading it (torch-free): what a sweep's preflight asks of every job."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def folder_problem(checkpoint: str, label: str) -> str | None:
    """Why ``checkpoint`` is not a Hugging Face model folder (config.json and weights), or None."""
    path = Path(checkpoint).expanduser()
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("pytorch_model*.bin"))
    if (path / "config.json").is_file() and weights:
        return None
    found = sorted(p.name for p in path.iterdir())[:10] if path.is_dir() else "no such folder"
    return (f"checkpoint of {label}: expected a Hugging Face folder at {path} with config.json, tokenizer files and "
            f"weights (*.safetensors or pytorch_model*.bin); found: {found}. Set the registry's environment "
            "variable (see conf/model) or paths.checkpoints.")


def location_problem(location: str | None, label: str, tokenizer: str | None = None) -> str | None:
    """Why a registry checkpoint location (``random``, ``package:<module>``, a folder) cannot be opened, or None."""
    if not location:
        return f"{label}: its registry entry names no checkpoint."
    if location == "random":
        return location_problem(tokenizer, f"{label}'s tokenizer") if tokenizer else \
            f"{label}: checkpoint 'random' needs 'tokenizer' in its registry entry."
    if location.startswith("package:"):
        module = location.split(":", 1)[1]
        return None if importlib.util.find_spec(module) else \
            f"{label}: the model package '{module}' is not installed; run `make install`."
    return folder_problem(location, label)
