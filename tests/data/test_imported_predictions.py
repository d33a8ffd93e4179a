"""GPT-3's token log-probabilities on Natural Stories (all_stories_gpt3.csv.gz) merged onto the data=natural_stories
corpus, against a per-token loop written here; the GPT-3 text's one misspelling noted; damaged tables refused."""
import csv
import gzip

import numpy as np
import pytest

from attnhuman.attention.imported import imported_predictions
from attnhuman.errors import DataError
from attnhuman.humans.natural_stories import NaturalStories
from helpers.paths import DATA

TABLE = DATA / "natural_stories" / "all_stories_gpt3.csv.gz"


@pytest.fixture(scope="module")
def corpus():
    return NaturalStories(DATA / "natural_stories").corpus()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with gzip.open(TABLE, "rt", newline="") as f:
        return list(csv.DictReader(f))


def _reference(rows) -> dict[int, tuple[list[str], list[float]]]:
    """Per story, its words and their surprisal: characters scanned one by one; a token goes to the word of its first
    non-space character, a token of spaces only to the next word."""
    out = {}
    for row in rows:
        words, sums, state = out.setdefault(int(row["story"]), ([], [], {"inside": False, "pending": 0.0}))
        value = -float(row["logprob"]) if row["logprob"] else float("nan")
        target = None
        for ch in row["token"]:
            if ch.isspace():
                state["inside"] = False
                continue
            if not state["inside"]:
                words.append("")
                sums.append(0.0)
                state["inside"] = True
            target = len(words) - 1 if target is None else target
            words[-1] += ch
        if target is None:
            state["pending"] += value
        else:
            sums[target] += value + state["pending"]
            state["pending"] = 0.0
    return {s: (w, v) for s, (w, v, _) in out.items()}


def test_gpt3_surprisal_on_natural_stories_is_the_per_token_sum(corpus, rows):
    predictions = imported_predictions(TABLE, corpus)
    reference = _reference(rows)
    expected = np.concatenate([reference[corpus.article_of[k]][1][corpus.text_starts[k]:corpus.text_starts[k] + n]
                               for k, n in enumerate(corpus.n_words)])
    surprisal = predictions.values["surprisal"]
    assert surprisal.shape == (10253,) and list(predictions.values) == ["surprisal"]
    np.testing.assert_allclose(surprisal, expected, rtol=1e-12)
    assert np.flatnonzero(np.isnan(surprisal)).tolist() == [int(corpus.word_offsets[k]) for k in range(len(corpus))
                                                            if corpus.text_starts[k] == 0]      # each story's first
    assert predictions.notes == [("story 2, word 749", "the imported text has 'peeked', the corpus 'peaked': kept by "
                                  "position; its length and frequency are the corpus word's")]


def _write(tmp_path, rows, drop=()) -> str:
    path = tmp_path / "damaged.csv"
    columns = [c for c in rows[0] if c not in drop]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_missing_token_is_refused_by_its_offset(tmp_path, corpus, rows):
    path = _write(tmp_path, rows[:10] + rows[11:])
    with pytest.raises(DataError) as e:
        imported_predictions(path, corpus)
    assert str(e.value) == (f"{path}: story 0, token 10 ({rows[11]['token']!r}): offset {rows[11]['offset']}, but the "
                            f"tokens before it make {rows[10]['offset']} characters; each offset must be the length of "
                            "the story's text before the token (a token missing or out of order?).")


def test_a_text_shorter_than_the_corpus_is_refused(tmp_path, corpus, rows):
    path = _write(tmp_path, rows[:-6])
    words = _reference(rows[:-6])[9][0]
    last = len(corpus) - 1
    need = corpus.text_starts[last] + corpus.n_words[last] - 1
    shown = corpus.words[last][len(words) - corpus.text_starts[last] - 3:len(words) - corpus.text_starts[last] + 3]
    with pytest.raises(DataError) as e:
        imported_predictions(path, corpus)
    assert str(e.value) == (f"{path}: story 9 has {len(words)} words, but unit {corpus.label(last)} needs words "
                            f"{corpus.text_starts[last]} to {need}: around word {len(words)} the imported text reads "
                            f"'{' '.join(words[-3:])}', the corpus '{' '.join(shown)}'. Give the predictions of this "
                            "corpus's texts.")


def test_a_table_without_offsets_is_refused(tmp_path, corpus, rows):
    path = _write(tmp_path, rows, drop=("offset",))
    with pytest.raises(DataError) as e:
        imported_predictions(path, corpus)
    assert str(e.value) == (f"{path}: no column offset; its columns are ['token', 'logprob', 'model', 'time', 'id', "
                            "'story']. An imported table needs the columns token, logprob, offset, story "
                            "(docs/corpora.md, \"Natural Stories\").")
