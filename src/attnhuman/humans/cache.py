"""The human-data cache: parsed cohorts, fMRI cohorts, exclusions and provenance tags on disk, by key.

Parsing the Reading Brain pickles takes seconds per job; a cached entry loads in a fraction of one. The
key (from the caller) covers the data files' contents, every data and analysis setting and the code
version. Entries are one ``.npz`` (no pickle): arrays plus a JSON description with the arrays' digest. An entry is
checked when read: its arrays must have that digest (an edited entry is parsed again, never trusted) and each cohort
the shapes and ranges of a freshly parsed one.
"""
from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from attnhuman import identity
from attnhuman.humans.cohort import Cohort, Exclusion, ExclusionReport

log = logging.getLogger(__name__)
COHORT_ARRAYS = ("keep", "cell_mask", "targets", "mean")
COUNTS = ("counts", "proxy", "fixations", "synthetic")       # saccade cohorts: values are counts (or 0/1), >= 0


def cache_key(*parts: str) -> str:
    """The entry of ``parts`` (data fingerprint, settings hash) under the current code of ``attnhuman.humans``."""
    return identity.of_value([*parts, identity.of_code("corpus.py", "humans")])[:24]


def _pack(prefix: str, cohort: Cohort, arrays: dict) -> dict:
    for name in COHORT_ARRAYS:
        arrays[f"{prefix}/{name}"] = getattr(cohort, name)
    return {"group": cohort.group, "subjects": list(cohort.subjects), "subject_data": cohort.subject_data}


def _unpack(prefix: str, meta: dict, z) -> Cohort:
    cohort = Cohort(meta["group"], list(meta["subjects"]), *(z[f"{prefix}/{name}"] for name in COHORT_ARRAYS),
                    meta["subject_data"])
    problem = _problem(cohort)
    if problem:
        raise ValueError(f"{prefix}: {problem}")
    return cohort


def _problem(c: Cohort) -> str | None:
    """What no parsed cohort can be: inconsistent shapes, values that are not finite, negative saccade values."""
    n_cells = int(c.cell_mask.sum())
    if c.targets.shape != (n_cells, len(c.subjects)) or c.mean.shape != (n_cells,):
        return (f"targets {c.targets.shape} and mean {c.mean.shape} do not match {n_cells} kept cells and "
                f"{len(c.subjects)} subjects")
    if not (np.isfinite(c.targets).all() and np.isfinite(c.mean).all()):
        return "values that are not finite"
    if c.subject_data in COUNTS and (c.targets.min(initial=0) < 0 or c.mean.min(initial=0) < 0):
        return "negative saccade values"
    return None


class HumansCache:
    """``(cohorts, report, fmri, tags)`` by key in ``folder``; an unreadable entry is reported and rebuilt."""

    def __init__(self, folder: Path):
        self.folder = Path(folder).expanduser()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def load(self, key: str):
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta["key"] != key:
                    raise ValueError("key mismatch")
                if identity.of_arrays({k: z[k] for k in z.files if k != "meta"}) != meta["digest"]:
                    raise ValueError("its arrays were edited since it was written")
                cohorts = {g: _unpack(f"saccades/{g}", m, z) for g, m in meta["cohorts"].items()}
                fmri = {g: {r: _unpack(f"fmri/{g}/{r}", m, z) for r, m in regions.items()}
                        for g, regions in meta["fmri"].items()}
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as e:
            log.warning("Human-data cache file %s is unusable (%s: %s); parsing the data again.", path,
                        type(e).__name__, e)
            path.unlink(missing_ok=True)
            return None
        report = ExclusionReport([Exclusion(**e) for e in meta["report"]])
        return cohorts, report, fmri, meta["tags"]

    def save(self, key: str, cohorts: dict, report: ExclusionReport, fmri: dict, tags: dict) -> None:
        """Write the entry (atomically); a folder that cannot be written costs a warning, not the run."""
        arrays: dict = {}
        meta = {"key": key, "tags": tags, "report": [e.__dict__ for e in report.entries],
                "cohorts": {g: _pack(f"saccades/{g}", c, arrays) for g, c in cohorts.items()},
                "fmri": {g: {r: _pack(f"fmri/{g}/{r}", c, arrays) for r, c in regions.items()}
                         for g, regions in fmri.items()}}
        meta["digest"] = identity.of_arrays(arrays)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.path(key).with_suffix(".part.npz")
            np.savez(partial, meta=json.dumps(meta), **arrays)
            partial.replace(self.path(key))
        except OSError as e:
            log.warning("Could not write the human-data cache %s (%s); the next job parses the data again.",
                        self.path(key), e)
