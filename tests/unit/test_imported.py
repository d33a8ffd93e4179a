"""Imported predictions on a tiny table: token -> word by character offsets (a leading space, or a token of spaces
only, belongs to the word that follows), word surprisal = sum of the tokens' -logprob, units matched by position."""
import numpy as np
import pytest

from attnhuman.attention.imported import ImportedSource, imported_predictions
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError

# "The cat  sat on the mat." in 8 tokens: a split word, a lone space, a story's first token without a log-probability
TOKENS = [("The", "", 0), (" c", "-1", 3), ("at", "-2", 5), (" ", "-0.5", 7), (" sat", "-3", 8), (" on", "-0.25", 12),
          (" the", "-1.5", 15), (" mat.", "-4", 19)]


def _table(tmp_path, tokens=TOKENS, name="lp.csv"):
    path = tmp_path / name
    path.write_text("token,logprob,offset,story\n" + "".join(f'"{t}",{lp},{o},0\n' for t, lp, o in tokens))
    return path


def test_word_surprisal_sums_its_tokens_and_units_are_matched_by_position(tmp_path):
    corpus = Corpus((("The cat", "the mat."),), starts=(0, 4))       # "sat on" left out: a gap
    predictions = imported_predictions(_table(tmp_path), corpus)
    np.testing.assert_array_equal(predictions.values["surprisal"], [np.nan, 3.0, 1.5, 4.0])
    assert predictions.notes == []
    whole = imported_predictions(_table(tmp_path), Corpus((("The cat sat", "on the mat."),)))
    np.testing.assert_array_equal(whole.values["surprisal"], [np.nan, 3.0, 3.5, 0.25, 1.5, 4.0])


def test_an_offset_that_is_not_the_text_before_the_token_is_refused(tmp_path):
    path = _table(tmp_path, TOKENS[:2] + TOKENS[3:])
    with pytest.raises(DataError) as e:
        imported_predictions(path, Corpus((("The cat sat on the mat.",),)))
    assert str(e.value) == (f"{path}: story 0, token 2 (' '): offset 7, but the tokens before it make 5 characters; "
                            "each offset must be the length of the story's text before the token (a token missing or "
                            "out of order?).")


def test_a_word_spelled_differently_is_kept_by_position_and_noted(tmp_path):
    predictions = imported_predictions(_table(tmp_path), Corpus((("The cat sat on the mats.",),)))
    assert predictions.values["surprisal"][-1] == 4.0
    assert predictions.notes == [("story 1, word 6", "the imported text has 'mat.', the corpus 'mats.': kept by "
                                  "position; its length and frequency are the corpus word's")]


def test_the_source_names_an_absent_table(tmp_path):
    source = ImportedSource(tmp_path / "none.csv")
    assert source.unavailable() == [f"{tmp_path / 'none.csv'}: no such table of token log-probabilities; set "
                                    "source.path to one (columns token, logprob, offset, story)."]
    assert ImportedSource(_table(tmp_path)).unavailable() == []
