"""Fixtures, and the tiers: tests/unit (no real data, seconds), tests/data and tests/reliability (real data;
the latter a catalogue of bad inputs), tests/e2e (the commands)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from attnhuman.attention.store import load_attention
from attnhuman.corpus import demo_corpus
from attnhuman.humans.reading_brain.release import Release
from attnhuman.humans.reading_brain.saccades import load_cohorts
from attnhuman.humans.reading_brain.source import load_corpus
from helpers import DATA, LLAMA30, READING_BRAIN

# caches (paths.cache: human data, extractions, weight hashes) of this test session only, never the user's
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="attnhuman-test-cache-")
TIERS = {"unit": "unit", "data": "data", "reliability": "data", "e2e": "e2e"}   # folder -> tier


def pytest_collection_modifyitems(config, items):
    """Mark every test with its tier (by folder): ``pytest -m unit`` runs the first tier alone."""
    for item in items:
        tier = TIERS.get(Path(str(item.fspath)).parent.name)
        if tier:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def release() -> Release:
    if not (READING_BRAIN / "sentences_p1.txt").is_file():
        raise pytest.UsageError(f"Real data not found at {DATA}: set ATTNHUMAN_DATA to the folder holding "
                                "reading_brain/ and released_attention/ (see README, 'Data'), or run "
                                "`make test-unit`, which needs none.")
    return Release(READING_BRAIN, download=False)


@pytest.fixture(scope="session")
def corpus(release):
    return load_corpus(release)


@pytest.fixture(scope="session")
def cohorts(release, corpus):
    return load_cohorts(release, corpus, exclude={"L1": ["L1_S01"]})


@pytest.fixture(scope="session")
def llama30(corpus):
    return load_attention(LLAMA30 / "packed_plain.npz", corpus)


@pytest.fixture(scope="session")
def checkpoint_cache(tmp_path_factory) -> Path:
    """The checkpoint cache (weight hashes, joined GGUF files) of this test session."""
    return tmp_path_factory.mktemp("checkpoint-cache")


@pytest.fixture(scope="session")
def demo():
    """The small corpus shipped with the package (3 articles, 20 sentences)."""
    return demo_corpus()


@pytest.fixture
def release_copy(tmp_path) -> Path:
    """A writable folder with the release layout: symlinks to the real files, to be altered by a test."""
    for src in READING_BRAIN.rglob("*"):
        if src.is_file():
            dst = tmp_path / src.relative_to(READING_BRAIN)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    return tmp_path
