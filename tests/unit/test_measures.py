"""Norm, rollout and value zeroing against naive references (explicit loops over heads and tokens, one unpadded
sequence at a time, weights sliced here), on tiny seeded llama (GQA), gpt2 and gemma3_text models in float64."""
import copy
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman.attention.extraction.measures import value_zeroing as value_zeroing_module
from attnhuman.attention.extraction.measures.norm import norm
from attnhuman.attention.extraction.measures.rollout import rollout
from attnhuman.attention.extraction.measures.value_zeroing import value_zeroing
from attnhuman.errors import DataError
from helpers.models import padded_batch

SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 64}
FAMILIES = {
    "llama": SMALL,
    "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 100, "n_positions": 64},
    # head_dim 16 != hidden / heads; one sliding-window layer narrower than the sequences
    "gemma3_text": {**SMALL, "head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 4,
                    "layer_types": ["sliding_attention", "full_attention"], "pad_token_id": 0, "bos_token_id": 2,
                    "eos_token_id": 1},
}
LENGTHS = (5, 8)
MEASURES = {"norm": norm, "rollout": rollout, "value_zeroing": value_zeroing}
TOL = 1e-5


def _build(name: str):
    torch.manual_seed(0)
    config = AutoConfig.for_model(name, **FAMILIES[name])
    m = AutoModelForCausalLM.from_config(config, attn_implementation="eager").double().eval()
    with torch.no_grad():   # larger weights than the default init, and non-zero biases (GPT-2's value bias)
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
            else:
                p.add_(torch.randn_like(p) * 0.1)
    return m


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request):
    return _build(request.param)


def _batch(lengths=LENGTHS, seed=1):
    return padded_batch(lengths, seed)


def _alone(inputs, b):
    n = int(inputs["attention_mask"][b].sum())
    return {"input_ids": inputs["input_ids"][b:b + 1, :n], "attention_mask": inputs["attention_mask"][b:b + 1, :n]}


def _run(measure, model, inputs):
    with torch.inference_mode():
        return MEASURES[measure](model, inputs)


def _parts(model):
    """(blocks, attention modules, heads, kv heads, head dim, hidden), read here independently of families.py."""
    c = model.config
    if c.model_type == "gpt2":
        blocks = list(model.transformer.h)
        return blocks, [b.attn for b in blocks], c.n_head, c.n_head, c.n_embd // c.n_head, c.n_embd
    blocks = list(model.model.layers)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return (blocks, [b.self_attn for b in blocks], c.num_attention_heads, c.num_key_value_heads, head_dim,
            c.hidden_size)


def _head_weights(model, attn, h):
    """W_V (hidden, dh) of head h's value head and W_O (dh, hidden) of head h, sliced by hand."""
    _, _, heads, kv, dh, e = _parts(model)
    g = h // (heads // kv)
    if model.config.model_type == "gpt2":
        return attn.c_attn.weight[:, 2 * e + g * dh:2 * e + (g + 1) * dh], attn.c_proj.weight[h * dh:(h + 1) * dh, :]
    return attn.v_proj.weight[g * dh:(g + 1) * dh, :].T, attn.o_proj.weight[:, h * dh:(h + 1) * dh].T


def _naive_norm(model, ids):
    """[(heads, n, n)] for one unpadded sequence: loops over layers, heads, source and target tokens."""
    blocks, attns, heads, _, _, _ = _parts(model)
    xs = {}
    hooks = [a.register_forward_pre_hook(
        lambda mod, args, kwargs, layer=layer: xs.__setitem__(layer, kwargs.get("hidden_states", args[0] if args
                                                                                  else None)), with_kwargs=True)
        for layer, a in enumerate(attns)]
    with torch.no_grad():
        out = model(input_ids=ids[None], output_attentions=True)
    for hk in hooks:
        hk.remove()
    n = len(ids)
    result = []
    for layer, attn in enumerate(attns):
        s = torch.zeros(heads, n, n, dtype=torch.float64)
        for h in range(heads):
            wv, wo = _head_weights(model, attn, h)
            for j in range(n):
                size = torch.linalg.norm((xs[layer][0, j] @ wv) @ wo)
                for i in range(n):
                    s[h, i, j] = out.attentions[layer][0, h, i, j] * size
        result.append(s)
    return result


def _naive_rollout(model, ids):
    """[(n, n)]: mean over heads, mix with the identity, renormalise and multiply, all by explicit loops."""
    with torch.no_grad():
        alphas = model(input_ids=ids[None], output_attentions=True).attentions
    n = len(ids)
    rolled, result = None, []
    for alpha in alphas:
        heads = alpha.shape[1]
        mixed = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                mixed[i, j] = 0.5 * sum(float(alpha[0, h, i, j]) for h in range(heads)) / heads + 0.5 * (i == j)
            mixed[i] /= mixed[i].sum()
        if rolled is None:
            rolled = mixed
        else:
            product = torch.zeros(n, n, dtype=torch.float64)
            for i in range(n):
                for j in range(n):
                    product[i, j] = sum(mixed[i, k] * rolled[k, j] for k in range(n))
            rolled = product
        result.append(rolled)
    return result


def _zero_token_hook(model, attn, j):
    """A forward hook on the value projection that zeroes token j's value vectors (every head)."""
    if model.config.model_type == "gpt2":
        e = model.config.n_embd

        def hook(mod, args, out):
            out = out.clone()
            out[:, j, 2 * e:] = 0
            return out
        return attn.c_attn.register_forward_hook(hook)

    def hook(mod, args, out):
        out = out.clone()
        out[:, j, :] = 0
        return out
    return attn.v_proj.register_forward_hook(hook)


def _naive_value_zeroing(model, ids):
    """[(n, n)]: the whole model rerun once per layer and zeroed token, block outputs compared row by row."""
    blocks, attns, _, _, _, _ = _parts(model)
    n = len(ids)

    def block_output(layer, zero=None):
        got = {}
        hooks = [blocks[layer].register_forward_hook(lambda mod, args, out: got.__setitem__("out", out))]
        if zero is not None:
            hooks.append(_zero_token_hook(model, attns[layer], zero))
        with torch.no_grad():
            model(input_ids=ids[None])
        for hk in hooks:
            hk.remove()
        out = got["out"]
        return (out[0] if isinstance(out, tuple) else out)[0]

    result = []
    for layer in range(len(blocks)):
        plain = block_output(layer)
        vz = torch.zeros(n, n, dtype=torch.float64)
        for j in range(n):
            zeroed = block_output(layer, zero=j)
            for i in range(j, n):
                cos = torch.dot(plain[i], zeroed[i]) / (torch.linalg.norm(plain[i]) * torch.linalg.norm(zeroed[i]))
                vz[i, j] = 1 - cos
        for i in range(n):
            if vz[i].sum() > 0:
                vz[i] /= vz[i].sum()
        result.append(vz)
    return result


NAIVE = {"norm": _naive_norm, "rollout": _naive_rollout, "value_zeroing": _naive_value_zeroing}


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_matches_naive_reference(model, measure):
    inputs = _batch()
    scores, _ = _run(measure, model, inputs)
    heads = 1 if measure != "norm" else model.config.num_attention_heads
    assert len(scores) == model.config.num_hidden_layers
    for b, n in enumerate(LENGTHS):
        naive = NAIVE[measure](model, inputs["input_ids"][b, :n])
        for layer, expected in enumerate(naive):
            assert scores[layer].shape == (len(LENGTHS), heads, max(LENGTHS), max(LENGTHS))
            got = scores[layer][b, :, :n, :n].double()
            torch.testing.assert_close(got, expected.reshape(got.shape), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_padding_leaves_real_rows_unchanged(model, measure):
    inputs = _batch()
    batched, logits = _run(measure, model, inputs)
    for b, n in enumerate(LENGTHS):
        alone, alone_logits = _run(measure, model, _alone(inputs, b))
        torch.testing.assert_close(logits[b, :n], alone_logits[0], atol=TOL, rtol=TOL)
        for layer in range(len(batched)):
            torch.testing.assert_close(batched[layer][b, :, :n, :n], alone[layer][0], atol=TOL, rtol=TOL)


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_logits_are_the_plain_forward(model, measure):
    inputs = _batch()
    _, logits = _run(measure, model, inputs)
    with torch.inference_mode():
        expected = model(**inputs).logits
    torch.testing.assert_close(logits, expected)


def test_rollout_rows_sum_to_one(model):
    inputs = _batch()
    scores, _ = _run("rollout", model, inputs)
    for layer in scores:
        assert torch.isfinite(layer).all()
        for b, n in enumerate(LENGTHS):
            torch.testing.assert_close(layer[b, 0, :n, :n].sum(dim=-1), torch.ones(n, dtype=layer.dtype))
            assert (layer[b, 0, :n, :n] >= 0).all()


def test_value_zeroing_rows_and_triangle(model):
    scores, _ = _run("value_zeroing", model, _batch())
    for layer in scores:
        for b, n in enumerate(LENGTHS):
            real = layer[b, 0, :n, :n]
            assert (real >= 0).all()
            assert (torch.triu(real, diagonal=1) == 0).all()
            torch.testing.assert_close(real.sum(dim=-1), torch.ones(n, dtype=real.dtype))


def test_value_zeroing_without_values_is_zero(model):
    """Zero value projection (weights and GPT-2's value bias): zeroing a token's values changes nothing."""
    silent = copy.deepcopy(model)
    _, attns, _, _, _, e = _parts(silent)
    with torch.no_grad():
        for attn in attns:
            if silent.config.model_type == "gpt2":
                attn.c_attn.weight[:, 2 * e:] = 0
                attn.c_attn.bias[2 * e:] = 0
            else:
                attn.v_proj.weight.zero_()
    scores, _ = _run("value_zeroing", silent, _batch())
    for layer in scores:
        assert (layer == 0).all()


def test_value_zeroing_chunks_agree(model, monkeypatch):
    """Several block calls per sequence (a small memory budget) give the same scores as one."""
    inputs = _batch()
    whole, _ = _run("value_zeroing", model, inputs)
    hidden = _parts(model)[5]
    monkeypatch.setattr(value_zeroing_module, "_BUDGET", 3 * max(LENGTHS) * hidden)
    chunked, _ = _run("value_zeroing", model, inputs)
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_float32_close_to_float64(name, measure):
    """The measures run on float32 models too (work in at least float32) and agree with float64."""
    inputs = _batch()
    wide_model = _build(name)
    wide, _ = _run(measure, wide_model, inputs)
    narrow, _ = _run(measure, copy.deepcopy(wide_model).float(), inputs)
    for a, b in zip(wide, narrow, strict=True):
        assert b.dtype == torch.float32
        for row, n in enumerate(LENGTHS):
            torch.testing.assert_close(b[row, :, :n, :n].double(), a[row, :, :n, :n], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("measure", ["norm", "value_zeroing"])
def test_unsupported_family_is_a_data_error(measure):
    other = SimpleNamespace(config=SimpleNamespace(model_type="opt", num_hidden_layers=1))
    with pytest.raises(DataError, match=f"measure={measure} supports llama, gpt2, gemma3 families; this model is opt"):
        MEASURES[measure](other, _batch())
