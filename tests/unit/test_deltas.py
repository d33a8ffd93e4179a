"""Weight deltas applied to a base (Vicuna's zero rows, Alpaca's mean rows) against sums written out in the test."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from attnhuman.attention.models.deltas import apply_delta
from attnhuman.errors import DataError

RNG = np.random.default_rng(7)
BASE = {"embed_tokens.weight": RNG.normal(size=(5, 3)), "layer.weight": RNG.normal(size=(3, 3)),
        "lm_head.weight": RNG.normal(size=(5, 3))}
DELTA = {"embed_tokens.weight": RNG.normal(size=(6, 3)), "layer.weight": RNG.normal(size=(3, 3)),
         "lm_head.weight": RNG.normal(size=(6, 3)), "rotary_emb.inv_freq": np.ones(2)}


def _folders(tmp_path, base=BASE, delta=DELTA):
    """Base as one safetensors file, the delta as two pickled .bin shards (as the Vicuna delta repositories hold)."""
    (tmp_path / "base").mkdir()
    (tmp_path / "delta").mkdir()
    save_file({k: torch.tensor(v, dtype=torch.float32) for k, v in base.items()}, str(tmp_path / "base" / "model.safetensors"))
    names = sorted(delta)
    for i, part in enumerate((names[:2], names[2:]), 1):
        torch.save({k: torch.tensor(delta[k], dtype=torch.float32) for k in part},
                   tmp_path / "delta" / f"pytorch_model-0000{i}-of-00002.bin")
    (tmp_path / "delta" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "delta" / "pytorch_model.bin.index.json").write_text("{}")
    return tmp_path / "base", tmp_path / "delta"


def _result(folder):
    index = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
    from safetensors import safe_open
    out = {}
    for name, shard in index.items():
        with safe_open(str(folder / shard), framework="np") as f:
            out[name] = f.get_tensor(name)
    return out


@pytest.mark.parametrize("new_rows", ["zero", "mean"])
def test_every_tensor_is_delta_plus_base_with_the_added_rows(tmp_path, new_rows):
    base, delta = _folders(tmp_path)
    summary = apply_delta(base, delta, tmp_path / "out", "vicuna-test", new_rows=new_rows)
    result = _result(tmp_path / "out")
    assert set(result) == {"embed_tokens.weight", "layer.weight", "lm_head.weight"}     # inv_freq: recomputed
    for name in result:
        expected = DELTA[name].copy()
        for row in range(DELTA[name].shape[0]):
            if row < BASE[name].shape[0]:
                expected[row] += BASE[name][row]
            elif new_rows == "mean":
                expected[row] += sum(BASE[name][r] for r in range(BASE[name].shape[0])) / BASE[name].shape[0]
        np.testing.assert_allclose(result[name], expected, rtol=1e-6, atol=1e-6)
    assert summary["sum"] == pytest.approx(sum(float(v.sum()) for v in result.values()), abs=1e-4)
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == {"model_type": "llama"}
    assert not (tmp_path / "out" / "pytorch_model.bin.index.json").exists()


def test_a_published_sum_that_differs_stops_with_both_numbers(tmp_path):
    base, delta = _folders(tmp_path)
    true_sum = apply_delta(base, delta, tmp_path / "ok", "alpaca-test", new_rows="mean")["sum"]
    apply_delta(base, delta, tmp_path / "checked", "alpaca-test", new_rows="mean", check_sum=true_sum + 0.005)
    with pytest.raises(DataError, match=rf"sum to {true_sum:.4f}, but the release says 50637.1836"):
        apply_delta(base, delta, tmp_path / "bad", "alpaca-test", new_rows="mean", check_sum=50637.1836)


@pytest.mark.parametrize("base, message", [
    ({k: v for k, v in BASE.items() if k != "layer.weight"}, "the delta's tensor layer.weight .* is not in the base"),
    ({**BASE, "layer.weight": np.ones((3, 4))}, r"layer.weight is \(3, 3\) in the delta but \(3, 4\) in the base"),
    ({**BASE, "extra.weight": np.ones(2)}, "has 1 tensors the delta .* lacks \\(extra.weight"),
])
def test_a_base_of_another_model_is_refused(tmp_path, base, message):
    base_folder, delta = _folders(tmp_path, base=base)
    with pytest.raises(DataError, match=message):
        apply_delta(base_folder, delta, tmp_path / "out", "vicuna-test")
