"""What the numbers depend on is what their identity covers: released attention against its pinned SHA-256, cached
cohorts and extractions checked again when read."""
import json
import logging
import re
import shutil

import numpy as np

from attnhuman import identity
from attnhuman.attention.source import ReleasedSource
from helpers.commands import command, runs
from helpers.paths import LLAMA30, READING_BRAIN

JOB = ("source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", "data.download=false",
       "analysis.fmri=false")


def _swapped_sentences(folder):
    """A copy of the released packed_plain.npz, at the release's path under ``folder``, with two sentences of the
    same length swapped: valid attention, not the release's."""
    with np.load(LLAMA30 / "packed_plain.npz") as z:
        arrays = dict(z)
    n = arrays["n_words"]
    offsets = np.cumsum([0, *(n * (n + 1) // 2)])
    a = int(np.flatnonzero(n == n[0])[1])                          # the next sentence as long as the first
    attention = arrays["attention"]
    first, second = slice(offsets[0], offsets[1]), slice(offsets[a], offsets[a + 1])
    attention[:, :, first], attention[:, :, second] = attention[:, :, second].copy(), attention[:, :, first].copy()
    path = folder / "llama-30b" / "packed_plain.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, **arrays)
    return path


def test_released_attention_that_is_not_the_release_is_named_tagged_or_refused(tmp_path, corpus, caplog):
    path = _swapped_sentences(tmp_path / "released")
    with caplog.at_level(logging.WARNING):
        output = ReleasedSource(path, verify="warn").load(corpus)
    assert f"{path} differs from the released llama-30b/packed_plain.npz (SHA-256 is not 2e4eaf2be58e...): its " \
           "numbers are not the release's; the run is tagged attention_modified (source.verify=strict refuses such " \
           "files)." in caplog.text
    assert output.tags["attention_modified"] == "packed_plain.npz"          # a job logs its source's tags

    refused = command(tmp_path / "strict", *JOB, f"source.path={path}", "data.verify=strict", check=False)
    assert refused.returncode == 1
    assert f"{path} differs from the released llama-30b/packed_plain.npz (SHA-256 is not 2e4eaf2be58e...): its " \
           "numbers are not the release's. Restore the file, or set source.verify=warn (default: data.verify)." \
           in refused.output
    assert runs(tmp_path / "strict")[1] == []


def test_the_release_itself_is_not_flagged(tmp_path):
    copy = tmp_path / "llama-30b" / "packed_plain.npz"
    copy.parent.mkdir()
    shutil.copyfile(LLAMA30 / "packed_plain.npz", copy)
    source = ReleasedSource(copy, verify="strict")
    assert source.modified == {} and source.unavailable() == []


def _edit_cache_entry(cache, edit, digest=None):
    """Apply ``edit`` to the arrays of the one human-data cache entry under ``cache``; ``digest``: rewrite the
    entry's digest with this function (an edit that knows the format) or leave it."""
    (entry,) = (cache / "humans").glob("*.npz")
    with np.load(entry) as z:
        arrays = dict(z)
    edit(arrays)
    if digest is not None:
        meta = json.loads(str(arrays["meta"]))
        meta["digest"] = digest({k: v for k, v in arrays.items() if k != "meta"})
        arrays["meta"] = json.dumps(meta)
    np.savez(entry, **arrays)
    return entry


def test_an_edited_human_data_cache_entry_is_parsed_again_not_trusted(tmp_path, tiny_released):
    job = (*tiny_released, f"paths.cache={tmp_path / 'cache'}", "rerun=true", "analysis.groups=[L1]")
    first = re.search(r"L1: resemblance [0-9.]+%", command(tmp_path, *job).output).group(0)

    def triple(arrays):
        arrays["saccades/L1/mean"] = arrays["saccades/L1/mean"] * 3
    entry = _edit_cache_entry(tmp_path / "cache", triple)
    result = command(tmp_path, *job)
    assert f"Human-data cache file {entry} is unusable (ValueError: its arrays were edited since it was written); " \
           "parsing the data again." in result.output
    assert first in result.output                     # the numbers of the data, not of the edited entry

    def negate(arrays):
        arrays["saccades/L1/targets"] = -arrays["saccades/L1/targets"]
    entry = _edit_cache_entry(tmp_path / "cache", negate, digest=identity.of_arrays)
    result = command(tmp_path, *job)
    assert f"Human-data cache file {entry} is unusable (ValueError: saccades/L1: negative saccade values); parsing " \
           "the data again." in result.output
    assert first in result.output
