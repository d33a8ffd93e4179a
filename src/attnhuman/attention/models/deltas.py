"""A weight delta applied to its base model: Vicuna's deltas (FastChat's ``apply_delta``) and Alpaca's weight diff
(stanford_alpaca's ``weight_diff.py recover``).

Every tensor of the result is ``delta + base``, added in float32 and stored in the delta's dtype. Where the delta's
vocabulary is larger (a ``[PAD]`` token added in fine-tuning), the base's embedding and output matrices first get
the missing rows: zeros (Vicuna v0) or the mean of the existing rows (Alpaca). Streamed one weight file at a time,
tensors read memory-mapped, the result written as safetensors with the delta's config and tokenizer files.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from attnhuman.errors import DataError

NEW_ROWS = ("zero", "mean")
RECOMPUTED = ("rotary_emb.inv_freq",)          # buffers that transformers recomputes: not weights, not summed


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise DataError(f"{folder}: no weight files (*.safetensors or pytorch_model*.bin).")
    return files


def _read(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one weight file, memory-mapped."""
    if path.suffix == ".safetensors":
        with safe_open(str(path), framework="pt") as f:
            return {name: f.get_tensor(name) for name in f.keys()}
    return torch.load(path, map_location="cpu", mmap=True, weights_only=True)


class _Tensors:
    """Every tensor of a folder by name, each file opened when first needed."""

    def __init__(self, folder: Path):
        self.folder, self._files, self._where = folder, {}, {}
        for path in _weight_files(folder):
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as f:
                    names = list(f.keys())
            else:
                names = list(self._open(path))
            self._where.update(dict.fromkeys(names, path))

    def _open(self, path: Path) -> dict[str, torch.Tensor]:
        if path not in self._files:
            self._files[path] = _read(path)
        return self._files[path]

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._open(self._where[name])[name]

    def names(self) -> set[str]:
        return set(self._where)


def _grown(base: torch.Tensor, rows: int, new_rows: str) -> torch.Tensor:
    """``base`` with rows appended up to ``rows``: zeros, or the mean of its rows."""
    extra = rows - base.shape[0]
    fill = base.float().mean(0, keepdim=True) if new_rows == "mean" else base.new_zeros((1, base.shape[1])).float()
    return torch.cat([base.float(), fill.expand(extra, -1)])


def apply_delta(base: Path, delta: Path, out: Path, label: str, new_rows: str = "zero",
                check_sum: float | None = None) -> dict:
    """Write ``delta + base`` to ``out`` (a new folder); return what was done: tensors and their sum.

    ``check_sum``: the sum of every weight of the result that the release publishes (Alpaca): a different sum means
    another base or delta, and stops with both numbers.
    """
    if new_rows not in NEW_ROWS:
        raise DataError(f"{label}: delta.new_rows={new_rows!r}: choose one of {list(NEW_ROWS)}.")
    base_tensors, files = _Tensors(base), _weight_files(delta)
    out.mkdir(parents=True)
    weight_map, total, used = {}, 0.0, set()
    for i, path in enumerate(tqdm(files, desc=f"Applying the delta of {label}", unit="file"), 1):
        result = {}
        for name, change in _read(path).items():
            if name.endswith(RECOMPUTED):
                continue
            if name not in base_tensors:
                raise DataError(f"{label}: the delta's tensor {name} ({path.name}) is not in the base model at {base}. "
                                "Is the base the model this delta was made from?")
            original, used = base_tensors[name], used | {name}
            if original.shape != change.shape:
                if original.dim() == change.dim() == 2 and original.shape[1] == change.shape[1] \
                        and original.shape[0] < change.shape[0]:
                    original = _grown(original, change.shape[0], new_rows)
                else:
                    raise DataError(f"{label}: tensor {name} is {tuple(change.shape)} in the delta but "
                                    f"{tuple(original.shape)} in the base at {base}: another base model?")
            summed = change.float() + original.float()
            total += float(summed.double().sum())          # before rounding to the delta's dtype, as Alpaca checks
            result[name] = summed.to(change.dtype).contiguous()
        shard = f"model-{i:05d}-of-{len(files):05d}.safetensors"
        save_file(result, str(out / shard), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(result, shard))
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=1))
    for path in delta.iterdir():          # config, generation config and tokenizer of the fine-tuned model
        if path.is_file() and path.suffix not in (".bin", ".safetensors", ".lock") and "index" not in path.name:
            shutil.copy(path, out / path.name)
    base_only = sorted(n for n in base_tensors.names() - used if not n.endswith(RECOMPUTED))
    if base_only:
        raise DataError(f"{label}: the base model at {base} has {len(base_only)} tensors the delta {delta} lacks "
                        f"({', '.join(base_only[:3])}, ...): is the base the model this delta was made from?")
    if check_sum is not None and abs(total - check_sum) > max(1e-2, 1e-6 * abs(check_sum)):
        raise DataError(f"{label}: the weights recovered from {delta} and {base} sum to {total:.4f}, but the release "
                        f"says {check_sum}: the base is not the model the delta was made from (or a file is damaged).")
    return {"tensors": len(weight_map), "sum": total, "new_rows": new_rows}
