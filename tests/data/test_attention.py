"""Attention store and importers on the released LLaMA-30B and GPT-2 attention."""
import numpy as np
import pytest

from attnhuman.attention.store import AttentionStore, load_attention, load_packed
from attnhuman.errors import DataError
from helpers.paths import DATA, LLAMA30


def test_native_import_equals_packed(corpus, llama30):
    native = load_attention(LLAMA30 / "native", corpus)
    assert native.attention.shape == (2, 52, 8953)
    np.testing.assert_array_equal(native.attention, llama30.attention[:2])
    raw = np.load(LLAMA30 / "native" / "rb_p1_layer1.npy")
    a, s = corpus.position(100)
    n = corpus.n_words[100]
    np.testing.assert_array_equal(llama30.sentence(100)[1], raw[a, s, :, :n, :n])



def test_token_level_gpt2_is_rejected_not_sliced(corpus):
    with pytest.raises(DataError) as info:
        load_attention(DATA / "released_attention" / "gpt2-large" / "native", corpus)
    message = str(info.value)
    assert "147 of 148 sentences" in message and "token-level" in message
    assert "#0 (article 0, sentence 0): the text has 7 words" in message



def test_roundtrip_and_packed_layout(tmp_path, corpus, llama30):
    small = AttentionStore(llama30.attention[:3, :4].astype(np.float32), corpus.n_words, corpus.sentences_per_article)
    back = load_attention(small.save(tmp_path / "a.npz"), corpus)
    np.testing.assert_array_equal(back.attention, small.attention)
    with np.load(tmp_path / "a.npz") as z:
        assert sorted(z.files) == ["attention", "n_words", "sentences_per_article"]



def _store(corpus, attention):
    return AttentionStore(attention, corpus.n_words.copy(), corpus.sentences_per_article.copy())



@pytest.fixture
def small(corpus, llama30):
    return _store(corpus, llama30.attention[:2, :3].astype(np.float32))



def test_word_count_mismatch_names_the_sentences(tmp_path, corpus, small):
    n_words = corpus.n_words.copy()
    n_words[5] += 1
    n_words[6] -= 1
    cells = int(sum(n * (n + 1) // 2 for n in n_words))
    AttentionStore(np.full((2, 3, cells), 0.01, np.float32), n_words, corpus.sentences_per_article).save(tmp_path / "w.npz")
    with pytest.raises(DataError, match=r"differ from the corpus in 2 sentences; first: #5 \(article 0, sentence 5\) "
                                        r"has 12 words in the attention, 11 in the text"):
        load_attention(tmp_path / "w.npz", corpus)



@pytest.mark.parametrize("value,problem", [(np.nan, "non-finite"), (-0.5, "negative weights"),
                                           (3.0, "rows summing to more than 1")])
def test_bad_values_name_layer_and_sentence(tmp_path, corpus, small, value, problem):
    small.attention[1, 2, corpus.offsets[40] + 3] = value
    small.save(tmp_path / "bad.npz")
    with pytest.raises(DataError, match=rf"layer 1 has {problem}.*first in sentence #40 \(article 1, sentence 9\)"):
        load_attention(tmp_path / "bad.npz", corpus)



def test_corrupt_and_incomplete_files(tmp_path, corpus, small):
    path = small.save(tmp_path / "c.npz")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_packed(path)
    np.savez(tmp_path / "k.npz", attention=small.attention)
    with pytest.raises(DataError, match=r"missing array\(s\) \['n_words', 'sentences_per_article'\]"):
        load_packed(tmp_path / "k.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_attention(tmp_path / "nothing.npz", corpus)



def test_native_folder_with_a_gap(tmp_path, corpus):
    (tmp_path / "rb_p1_layer0.npy").symlink_to(LLAMA30 / "native" / "rb_p1_layer0.npy")
    (tmp_path / "rb_p1_layer2.npy").symlink_to(LLAMA30 / "native" / "rb_p1_layer1.npy")
    with pytest.raises(DataError, match=r"missing layers \[1\]"):
        load_attention(tmp_path, corpus)

