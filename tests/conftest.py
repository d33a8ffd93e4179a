"""Shared fixtures. The real data is read from $ATTNHUMAN_DATA (default ../shared/data); it must exist."""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from attnhuman.attention import load_attention
from attnhuman.humans import REGIONS, load_cohorts, load_corpus
from attnhuman.release import Release

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ATTNHUMAN_DATA", ROOT.parent / "shared" / "data")).resolve()
if not (DATA / "reading_brain" / "sentences_p1.txt").is_file():
    raise pytest.UsageError(f"Real data not found at {DATA}: set ATTNHUMAN_DATA to the folder holding "
                            "reading_brain/ and released_attention/ (see README, 'Data').")
READING_BRAIN = DATA / "reading_brain"
LLAMA30 = DATA / "released_attention" / "llama-30b"


@pytest.fixture(scope="session")
def release() -> Release:
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


@pytest.fixture
def release_copy(tmp_path) -> Path:
    """A writable folder with the release layout: symlinks to the real files, to be altered by a test."""
    for src in READING_BRAIN.rglob("*"):
        if src.is_file():
            dst = tmp_path / src.relative_to(READING_BRAIN)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    return tmp_path


def write_pickle(path: Path, obj) -> None:
    if path.is_symlink():
        path.unlink()
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def read_pickle(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f)  # test-only: real release files, plain pickle as reference


def copy_file(src: Path, dst: Path) -> None:
    if dst.is_symlink():
        dst.unlink()
    shutil.copyfile(src, dst)


def lstsq_r2(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Reference: OLS with intercept by numpy.linalg.lstsq, R2 per target column."""
    x = np.column_stack([np.ones(len(design)), design])
    coef = np.linalg.lstsq(x, targets, rcond=None)[0]
    residual = targets - x @ coef
    centred = targets - targets.mean(axis=0)
    return 1 - (residual ** 2).sum(axis=0) / (centred ** 2).sum(axis=0)


def reference_cohort(group, sfx, exclude, kept_sentences):
    """Independent proxy cohort: plain loops over the raw pickles."""
    rois = [read_pickle(READING_BRAIN / "roi_activations" / group / f"activations_{r}_{sfx}.pkl") for r in REGIONS]
    means = [m for article in read_pickle(READING_BRAIN / f"mean_saccade_num_{sfx}.pkl") for m in article]
    columns = []
    for s in range(len(rois[0])):
        cells = []
        for k in kept_sentences:
            hit = None
            for roi in rois:
                if not roi[s]:
                    continue
                sentence = [x for article in roi[s] for x in article][k]
                try:
                    m = np.array(sentence, dtype=float)
                except ValueError:
                    continue
                m[np.isnan(m)] = 0
                hit = (m != 0) if hit is None else (hit | (m != 0))
            if hit is None:
                break
            cells.append(hit[np.tril_indices(len(hit))])
        if len(cells) == len(kept_sentences) and s not in exclude:
            columns.append(np.concatenate(cells).astype(float))
    mean = np.concatenate([np.asarray(means[k])[np.tril_indices(len(means[k]))] for k in kept_sentences])
    return np.column_stack(columns), mean
