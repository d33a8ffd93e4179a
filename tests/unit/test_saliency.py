"""Gradient x input saliency against a naive per-position reference and finite differences, on tiny seeded models."""
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman.attention.extraction.measures import saliency as saliency_module
from attnhuman.attention.extraction.measures.saliency import saliency
from helpers.models import padded_batch

SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 64}
FAMILIES = {
    "llama": SMALL,
    "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 100, "n_positions": 64},
    "gemma3_text": {**SMALL, "head_dim": 8, "sliding_window": 8, "pad_token_id": 0, "bos_token_id": 2,
                    "eos_token_id": 1},
}
LENGTHS = (7, 4, 9)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def model(request):
    torch.manual_seed(0)
    config = AutoConfig.for_model(request.param, **FAMILIES[request.param])
    m = AutoModelForCausalLM.from_config(config, attn_implementation="eager").double().eval()
    with torch.no_grad():   # larger weights than the default init, so that targets depend visibly on the context
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    return m


def _batch(lengths=LENGTHS, seed=1):
    """Right-padded input_ids / attention_mask (built under inference mode, like the caller's)."""
    with torch.inference_mode():
        return padded_batch(lengths, seed)


def _run(model, inputs):
    with torch.inference_mode():
        (scores,), logits = saliency(model, inputs)
    return scores, logits


def _target_token(logits_row: torch.Tensor, ids: torch.Tensor, i: int) -> int:
    return int(ids[i + 1]) if i + 1 < len(ids) else int(logits_row.argmax())


def _naive(model, ids: torch.Tensor) -> torch.Tensor:
    """(T, T) saliency of one unpadded sequence: a fresh forward and backward per target, explicit loops over j."""
    ids = ids.clone()[None]
    t = ids.shape[1]
    s = torch.zeros(t, t, dtype=torch.float64)
    for i in range(t):
        embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        logits = model(inputs_embeds=embeds, attention_mask=torch.ones_like(ids)).logits[0, i]
        target = torch.log_softmax(logits, -1)[_target_token(logits, ids[0], i)]
        (grad,) = torch.autograd.grad(target, embeds)
        for j in range(i + 1):
            s[i, j] = torch.linalg.vector_norm(grad[0, j] * embeds[0, j].detach())
        s[i] /= s[i].sum()
    return s


def test_embeddings_as_inputs_reproduce_the_model(model):
    """Feeding get_input_embeddings()(ids) as inputs_embeds gives the logits of input_ids (Gemma's scale included)."""
    inputs = _batch()
    _, logits = _run(model, inputs)
    with torch.no_grad():
        direct = model(**{k: v.clone() for k, v in inputs.items()}).logits
    for b, n in enumerate(LENGTHS):
        torch.testing.assert_close(logits[b, :n], direct[b, :n], atol=1e-10, rtol=0)


def test_matches_naive_reference_and_ignores_padding(model):
    """Each real row of the padded batch equals the naive per-position computation on the sequence alone."""
    inputs = _batch()
    scores, _ = _run(model, inputs)
    assert scores.shape == (3, 1, 9, 9)
    for b, n in enumerate(LENGTHS):
        reference = _naive(model, inputs["input_ids"][b, :n].clone())
        torch.testing.assert_close(scores[b, 0, :n, :n], reference, atol=1e-6, rtol=0)


def test_padding_does_not_change_real_rows(model):
    inputs = _batch()
    padded, _ = _run(model, inputs)
    for b, n in enumerate(LENGTHS):
        with torch.inference_mode():
            alone = {k: v[b:b + 1, :n].clone() for k, v in inputs.items()}
        single, _ = _run(model, alone)
        torch.testing.assert_close(padded[b, 0, :n, :n], single[0, 0], atol=1e-6, rtol=0)


def test_rows_sum_to_one_and_upper_triangle_is_zero(model):
    inputs = _batch()
    scores, _ = _run(model, inputs)
    for b, n in enumerate(LENGTHS):
        s = scores[b, 0, :n, :n]
        torch.testing.assert_close(s.sum(-1), torch.ones(n, dtype=s.dtype), atol=1e-12, rtol=0)
        assert torch.all(s.triu(1) == 0) and torch.all(s >= 0)
        assert torch.all(s[0, 1:] == 0) and s[0, 0] == pytest.approx(1.0)


def _exact_float64(model, monkeypatch):
    """Llama and Gemma compute RMSNorm and the eager softmax in float32 even in a float64 model: that rounding
    (~1e-7) swamps finite differences, so run those in float64 here (the same formulas)."""
    softmax = torch.nn.functional.softmax

    def softmax64(x, dim=None, _stacklevel=3, dtype=None):
        return softmax(x, dim=dim, dtype=None if x.dtype == torch.float64 else dtype)

    def rms(module, offset):
        eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
        return lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (offset + module.weight)

    monkeypatch.setattr(torch.nn.functional, "softmax", softmax64)
    for module in model.modules():
        name = type(module).__name__
        if name.endswith("RMSNorm"):
            monkeypatch.setattr(module, "forward", rms(module, 1.0 if name.startswith("Gemma") else 0.0))


def test_matches_finite_differences(model, monkeypatch):
    """Every entry g_d * e_jd of the products whose norms form two rows, by central differences in float64."""
    _exact_float64(model, monkeypatch)
    inputs = _batch(lengths=(6,), seed=3)
    scores, logits = _run(model, inputs)
    ids = inputs["input_ids"][0].clone()
    base = model.get_input_embeddings()(ids[None]).detach()
    t, h = base.shape[1:]
    eps = 1e-5
    for i in (3, t - 1):        # a next-token target and the last position (the model's own top prediction)
        token = _target_token(logits[0, i], ids, i)
        # one perturbed copy per (j, d, sign): e_jd -> e_jd * (1 +- eps); the derivative in eps is g_d * e_jd
        js, ds = torch.meshgrid(torch.arange(i + 1), torch.arange(h), indexing="ij")
        js, ds = js.flatten(), ds.flatten()
        plus = base.repeat(len(js), 1, 1)
        minus = plus.clone()
        rows = torch.arange(len(js))
        plus[rows, js, ds] *= 1 + eps
        minus[rows, js, ds] *= 1 - eps
        with torch.no_grad():
            lp = torch.log_softmax(model(inputs_embeds=plus).logits[:, i], -1)[:, token]
            lm = torch.log_softmax(model(inputs_embeds=minus).logits[:, i], -1)[:, token]
        products = ((lp - lm) / (2 * eps)).reshape(i + 1, h)
        row = torch.linalg.vector_norm(products, dim=-1)
        torch.testing.assert_close(scores[0, 0, i, :i + 1], row / row.sum(), rtol=1e-5, atol=1e-9)


def test_model_left_clean(model):
    _run(model, _batch())
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_batched_backward_needs_no_fallback(model, monkeypatch):
    """The vmapped (is_grads_batched) backward works for this family; the per-position loop gives the same."""
    def refuse(*args):
        raise AssertionError("fell back to the per-position loop")

    inputs = _batch()
    monkeypatch.setattr(saliency_module, "_looped", refuse)
    batched, _ = _run(model, inputs)
    monkeypatch.undo()

    def no_batching(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            raise RuntimeError("no batching rule")
        return grad(*args, **kwargs)

    grad = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", no_batching)
    looped, _ = _run(model, inputs)
    torch.testing.assert_close(looped, batched, atol=1e-12, rtol=0)


def test_float32_model_gives_float32_scores():
    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **SMALL), attn_implementation="eager").eval()
    scores, logits = _run(m, _batch())
    assert scores.dtype == torch.float32 and logits.shape == (3, 9, 100)
    assert torch.isfinite(scores).all()
