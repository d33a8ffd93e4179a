"""Fixtures, and the tiers by purpose (docs/architecture.md, "Tests, by purpose"): tests/unit (functions against
references, no real data), tests/data (analyses on the real data), tests/reliability (the catalogue of bad inputs),
tests/jobs (jobs, sweeps and comparisons in-process), tests/system (where the process boundary is the point)."""
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
from helpers.paths import DATA, LLAMA30, READING_BRAIN
from helpers.references import random_store

# caches (paths.cache: human data, extractions, weight hashes) of this test session only, never the user's; shared by
# the session's worker processes (pytest -n), which inherit the variable from the first
os.environ.setdefault("ATTNHUMAN_TEST_CACHE", tempfile.mkdtemp(prefix="attnhuman-test-cache-"))
os.environ["XDG_CACHE_HOME"] = os.environ["ATTNHUMAN_TEST_CACHE"]
TIERS = ("unit", "data", "reliability", "jobs", "system")


def pytest_collection_modifyitems(config, items):
    """Mark every test with its tier (by folder): ``pytest -m unit`` runs the first tier alone."""
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
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
def checkpoint_cache() -> Path:
    """The checkpoint cache (weight hashes, joined GGUF files, converted tokenizers) of this test session: the
    paths.cache of the jobs it runs, shared by its workers (each entry is written atomically), so that a GGUF
    tokenizer is converted once per session, not once per worker and again in a job."""
    path = Path(os.environ["ATTNHUMAN_TEST_CACHE"]) / "attnhuman"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


@pytest.fixture(scope="session")
def tiny_released(corpus, tmp_path_factory) -> list[str]:
    """Overrides of a job that reads seeded random attention of the registry's tiny LLaMA (2 layers x 5 heads) on the
    Reading Brain corpus as released attention: a real job in a fraction of a second, for tests of what runs where
    (parallel writers, servers, the UI, identity), not of numbers."""
    path = random_store(corpus, seed=0, layers=2, heads=5).save(tmp_path_factory.mktemp("tiny-released") / "tiny.npz")
    return ["source=released", "model=llama", "size=tiny", f"source.path={path}", f"data.root={READING_BRAIN}",
            "data.download=false", "analysis.fmri=false"]
