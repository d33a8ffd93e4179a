"""Where a registry entry's weights come from, in this order:

1. its local folder (the entry's environment variable or ``paths.checkpoints``), or ``random`` / ``package:``;
2. its Hugging Face Hub id at the pinned revision (``hub: owner/name@commit``), through the Hugging Face cache;
3. for a release published only as a weight delta (Vicuna, Alpaca), that delta applied once to its base model
   (the base's local folder, else its Hub id) and kept in ``cache_dir/deltas`` (:mod:`attnhuman.attention.models.deltas`).

A folder that was named (an environment variable, a setting) or is there is the folder used, whatever it holds
(:func:`attnhuman.attention.models.location.taken`): the Hub only stands in for the default folder when it is absent.

:func:`problem` and :func:`local` never download.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from filelock import FileLock

from attnhuman import identity
from attnhuman.attention.models import hub
from attnhuman.attention.models.deltas import apply_delta
from attnhuman.attention.models.location import Folder, Location, folder_problem, location_problem, taken
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.errors import DataError

MANIFEST = "attnhuman-delta.json"       # written last into an applied delta's folder


def route(spec: ModelSpec) -> str:
    """``folder`` (a local folder, ``random`` or ``package:``), ``hub`` or ``delta``."""
    location = spec.checkpoint
    if not spec.hub or not isinstance(location, Folder) or taken(location):
        return "folder"
    return "delta" if spec.delta else "hub"


def _applied(spec: ModelSpec, cache_dir: Path | None) -> Path:
    """Where the entry's delta, applied to its base, is kept: named by the delta, the base and the recipe."""
    if cache_dir is None:
        raise DataError(f"{spec.label} is published as a weight delta: give a cache folder to apply it in (paths.cache).")
    base = spec.delta["base"] if taken(spec.delta["base"]) else spec.delta["base_hub"]
    key = identity.of_value([spec.hub, str(base), spec.delta.get("new_rows")])[:12]
    return Path(cache_dir) / "deltas" / f"{spec.label}-{key}"


def _no_folder(spec: ModelSpec) -> str:
    return (f"{spec.label}: no local folder at {spec.checkpoint} (the entry's environment variable, see conf/model, "
            "or paths.checkpoints)")


def problem(spec: ModelSpec, cache_dir: Path | None = None) -> str | None:
    """Why the entry's weights cannot be had on this route (downloads off and not cached, say), or None."""
    kind = route(spec)
    if kind == "folder":
        return location_problem(spec.checkpoint, spec.label, spec.tokenizer)
    missing = hub.absent(*hub.split(spec.hub))
    if kind == "hub":
        return f"{_no_folder(spec)}, and {missing}." if missing else None
    base = spec.delta["base"]
    base_problem = taken(base) and folder_problem(base, f"{spec.label}'s base")
    if base_problem:
        return base_problem
    if (_applied(spec, cache_dir) / MANIFEST).is_file():
        return None
    base_missing = None if taken(base) else hub.absent(*hub.split(spec.delta["base_hub"]))
    if not (missing or base_missing):
        return None
    return (f"{_no_folder(spec)}; it is published as a weight delta ({spec.hub}) to apply to its base, and "
            + "; ".join(m for m in (missing, base_missing and f"the base has no folder at {base} and {base_missing}")
                        if m)
            + ". Provide these, or the finished model's folder in the entry's environment variable.")


def local(spec: ModelSpec, cache_dir: Path | None = None) -> Path | None:
    """The folder of the entry's weights when it is here already (no download, no delta applied), else None."""
    kind = route(spec)
    if kind == "folder":
        path = spec.checkpoint.folder if isinstance(spec.checkpoint, Folder) else None
        return path if path is not None and (path / "config.json").is_file() else None
    if kind == "hub":
        return hub.cached(*hub.split(spec.hub))
    applied = _applied(spec, cache_dir)
    return applied if (applied / MANIFEST).is_file() else None


def parameters(spec: ModelSpec, cache_dir: Path | None = None) -> int:
    """The number of weights to place: counted in the entry's folder when it is here (:func:`local`), else the
    registry's; DataError when the folder's weight files cannot be read."""
    folder = local(spec, cache_dir)
    try:
        count = hub.weight_count(folder) if folder is not None else None
    except DataError as e:
        raise DataError(f"checkpoint of {spec.label} at {folder}: its weights cannot be read ({e}). The weight files "
                        "are damaged or incomplete: copy them again from the model's release.") from e
    return count or spec.parameters


def resolve(spec: ModelSpec, cache_dir: Path | None = None) -> Location:
    """The checkpoint location to open: the entry's own, its Hub snapshot (downloaded unless offline), or its delta
    applied to its base (once; later calls reuse it)."""
    kind = route(spec)
    if kind == "folder":
        return spec.checkpoint
    if kind == "hub":
        return Folder(str(hub.locate(*hub.split(spec.hub))))
    return Folder(str(_apply(spec, cache_dir)))


def _apply(spec: ModelSpec, cache_dir: Path | None) -> Path:
    """The entry's delta applied to its base in ``cache_dir/deltas``, once for the same inputs (under a lock)."""
    out, base = _applied(spec, cache_dir), spec.delta["base"]
    base_folder = base.folder if taken(base) else hub.locate(*hub.split(spec.delta["base_hub"]))
    delta_folder = hub.locate(*hub.split(spec.hub))
    inputs = {"base": [str(base_folder), identity.of_stamps(base_folder)], "delta": [spec.hub, identity.of_stamps(delta_folder)]}
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{out}.lock"):
        manifest = out / MANIFEST
        if manifest.is_file() and json.loads(manifest.read_text())["inputs"] == json.loads(json.dumps(inputs)):
            return out
        partial = out.with_name(out.name + ".partial")
        for stale in (partial, out):
            shutil.rmtree(stale, ignore_errors=True)
        summary = apply_delta(base_folder, delta_folder, partial, spec.label, new_rows=spec.delta.get("new_rows", "zero"),
                              check_sum=spec.delta.get("check_sum"))
        (partial / MANIFEST).write_text(json.dumps({"inputs": inputs, **summary}, indent=1))
        partial.rename(out)
    return out


def facts_problem(spec: ModelSpec, folder: Path | None) -> str | None:
    """Why the checkpoint in ``folder`` is not the model of the registry entry (layers or heads differ), or None."""
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        found = hub.facts(folder)
    except DataError as e:
        return f"checkpoint of {spec.label}: {e}"
    if (found["layers"], found["heads"]) == (spec.layers, spec.heads):
        return None
    return (f"checkpoint of {spec.label} at {folder}: {found['layers']} layers x {found['heads']} heads (its "
            f"config.json), but the registry says {spec.model} {spec.size} has {spec.layers} x {spec.heads}. "
            "Is this another model? Pick the matching model=/size=.")
