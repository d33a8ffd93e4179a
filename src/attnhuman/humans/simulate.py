"""Simulated readers: L1-like and L2-like cohorts of saccade matrices for any corpus (docs/method.md, "Simulated readers").

Every subject reads every sentence once, left to right, as a Markov chain over word positions.
At each fixation on word ``i`` (0-based) of an ``n``-word sentence the reader makes one saccade:

* **refixation** (``j = i``) with probability ``sigmoid(logit(refixation) + refixation_difficulty * d_i + a_s)``;
* else, when ``i >= 1``, a **regression / look-back** with probability
  ``sigmoid(logit(regression) + regression_difficulty * d_i + b_s)``; its target ``j <= i`` is drawn from
  ``(1 - reference_weight) * mix + reference_weight * R[i, :]`` where ``mix`` is the group's mixture of
  the trivial patterns and two background components (weights ``targets``, normalized to sum 1):
  ``start`` (j = 0), ``previous`` (j = i - 1), ``self`` (j = i: a look-back that lands on the current
  word, on the diagonal like a refixation), ``difficulty`` (earlier word j with probability
  proportional to ``exp(target_sharpness * d_j)``) and ``uniform`` (any earlier word); ``R[i, :]`` is
  the planted reference attention ``(n_cells,)`` (e.g. a layer of a model, head-averaged, rows renormalized);
* else a **forward** saccade (forward progression): to the word after the current one or, right after
  a regression and with probability ``resume``, to the word after the furthest word read so far; the
  word it would land on is skipped with probability
  ``sigmoid(logit(skipping) - skipping_difficulty * d)`` (d of the skipped word). Landing past the
  last word ends the sentence (not a transition). A reading longer than ``max_fixations_per_word * n``
  fixations is cut there and reported.

``d`` is a fixed word difficulty shared by all readers: the corpus z-score of
``difficulty.length * z(letters) + N(0, difficulty.lexical)`` (seeded by ``difficulty.seed``);
``a_s, b_s ~ N(0, subject_sd)`` are per-subject offsets (individual differences in reading style).

A subject's matrix for a sentence counts its transitions ``(i, j)``; the cohort keeps the analysed
cells (lower triangle incl. the diagonal, docs/method.md, "Corpus and cells"). With ``binarize`` (default) a cell is
1 where the subject made that transition at least once, which is what the proxy cohort of the real
data holds (docs/method.md, "Human data and the proxy cohort"); ``binarize=false`` keeps counts (true per-subject count files).
The group mean is the mean over all simulated subjects of the group.

Everything is seeded (``numpy.random.Generator``; the group's stream depends only on ``seed`` and the
group name) and vectorized over all subject x sentence readings at once.
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from attnhuman import identity
from attnhuman.corpus import Corpus, tril_cells
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort, ExclusionReport, subject_id

TARGET_COMPONENTS = ("start", "previous", "self", "difficulty", "uniform")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class GroupParams:
    """One group's reading parameters (probabilities at average difficulty; slopes on the logit scale)."""

    n_subjects: int = 46
    refixation: float = 0.1
    refixation_difficulty: float = 0.0
    regression: float = 0.1
    regression_difficulty: float = 0.0
    skipping: float = 0.2
    skipping_difficulty: float = 0.0
    resume: float = 0.5
    subject_sd: float = 0.0
    target_sharpness: float = 1.0
    targets: dict = field(default_factory=lambda: {"start": 0.2, "previous": 0.4, "self": 0.0,
                                                   "difficulty": 0.2, "uniform": 0.2})

    PROBABILITIES = ("refixation", "regression", "skipping", "resume")

    @classmethod
    def from_mapping(cls, group: str, mapping, where: str = "data.synthetic.groups") -> "GroupParams":
        """Parameters from a config mapping; unknown keys and invalid values raise DataError."""
        values = dict(mapping or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"{where}.{group}: unknown parameter(s) {unknown}; known: {sorted(known)}.")
        if "targets" in values:
            targets = dict(values["targets"] or {})
            bad = sorted(set(targets) - set(TARGET_COMPONENTS))
            if bad:
                raise DataError(f"{where}.{group}.targets: unknown component(s) {bad}; choose from "
                                f"{list(TARGET_COMPONENTS)}.")
            values["targets"] = {c: float(targets.get(c, 0.0)) for c in TARGET_COMPONENTS}
        params = cls(**values)
        params.validate(f"{where}.{group}")
        return params

    def validate(self, where: str) -> None:
        for name in self.PROBABILITIES:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise DataError(f"{where}.{name}={value!r}: a probability, must lie in [0, 1].")
        if self.refixation >= 1.0:
            raise DataError(f"{where}.refixation=1: the reader would never leave a word; use a value below 1.")
        if not (isinstance(self.n_subjects, int) and not isinstance(self.n_subjects, bool) and self.n_subjects >= 2):
            raise DataError(f"{where}.n_subjects={self.n_subjects!r}: must be a whole number >= 2 (a group needs 2 or "
                            "more readers to have a ceiling).")
        for name in ("refixation_difficulty", "regression_difficulty", "skipping_difficulty", "subject_sd",
                     "target_sharpness"):
            if not math.isfinite(float(getattr(self, name))):
                raise DataError(f"{where}.{name} must be a finite number.")
        if self.subject_sd < 0:
            raise DataError(f"{where}.subject_sd={self.subject_sd}: a standard deviation, must be >= 0.")
        weights = [self.targets.get(c, 0.0) for c in TARGET_COMPONENTS]
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise DataError(f"{where}.targets={self.targets}: mixture weights must be >= 0 with a positive sum.")


# Defaults calibrated on the Reading Brain corpus against the real proxy cohorts (README, "Simulated
# readers"): ceilings and trivial-pattern R2 near L1 0.147 / 0.046 and L2 0.217 / 0.084.
DEFAULT_GROUPS: dict[str, GroupParams] = {
    "L1": GroupParams(n_subjects=46, refixation=0.094, refixation_difficulty=0.37, regression=0.114,
                      regression_difficulty=1.19, skipping=0.221, skipping_difficulty=1.0, resume=0.483,
                      subject_sd=0.32, target_sharpness=0.58,
                      targets={"start": 0.008, "previous": 0.575, "self": 0.0, "difficulty": 0.220, "uniform": 0.548}),
    "L2": GroupParams(n_subjects=54, refixation=0.130, refixation_difficulty=0.55, regression=0.120,
                      regression_difficulty=1.31, skipping=0.102, skipping_difficulty=1.0, resume=0.380,
                      subject_sd=0.38, target_sharpness=7.57,
                      targets={"start": 0.016, "previous": 0.625, "self": 0.0, "difficulty": 0.292, "uniform": 0.368}),
}


@dataclass(frozen=True)
class Transitions:
    """All in-sentence saccades of a simulated group, one entry each (exits are not transitions).

    ``subject``, ``sentence``, ``origin``, ``target``: ``(n_transitions,)`` int arrays (word indices
    within the sentence). ``n_readings`` = subjects x sentences; ``truncated``: ``(n_subjects,
    n_sentences)`` bool, readings cut at the fixation limit.
    """

    subject: np.ndarray
    sentence: np.ndarray
    origin: np.ndarray
    target: np.ndarray
    n_subjects: int
    truncated: np.ndarray


def word_difficulty(corpus: Corpus, length: float = 1.0, lexical: float = 0.5, seed: int = 0) -> np.ndarray:
    """``(total words,)`` z-scored difficulty, words in corpus order (sentence k's words start at
    ``cumsum(n_words)[k-1]``): ``length`` x z(letters) + N(0, ``lexical``) noise seeded by ``seed``."""
    letters = np.array([sum(ch.isalnum() for ch in w) or len(w) for ws in corpus.words for w in ws], dtype=float)
    z = (letters - letters.mean()) / (letters.std() or 1.0)
    raw = length * z + np.random.default_rng(seed).normal(0.0, lexical, size=len(letters))
    sd = raw.std()
    return (raw - raw.mean()) / sd if sd > 0 else np.zeros_like(raw)


def _row_of_cells(n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: global row (= flat word index of the row's word), row i, column j, sentence."""
    sent, rows, cols = tril_cells(n_words)
    word_start = np.concatenate([[0], np.cumsum(n_words)])[:-1]
    return word_start[sent] + rows, rows, cols, sent


def target_probabilities(corpus: Corpus, params: GroupParams, difficulty: np.ndarray,
                         reference: np.ndarray | None = None, reference_weight: float = 0.0) -> np.ndarray:
    """``(n_cells,)`` P(look-back lands on j | it starts at i) on the cell index; each row i >= 1
    sums to 1 (row 0: self). ``reference``: ``(n_cells,)`` rows summing to 1 over j <= i."""
    if not 0.0 <= reference_weight <= 1.0:
        raise DataError(f"data.synthetic.reference_weight={reference_weight}: must lie in [0, 1].")
    if reference_weight > 0 and reference is None:
        raise DataError("data.synthetic.reference_weight > 0 needs a reference attention "
                        "(data.synthetic.reference.path).")
    row, i, j, _ = _row_of_cells(corpus.n_words)
    n_rows = int(corpus.n_words.sum())
    earlier = (j < i).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        uniform = np.where(i > 0, earlier / np.maximum(i, 1), 0.0)
        score = np.where(j < i, np.exp(params.target_sharpness * (difficulty[row - i + j] - difficulty.max())), 0.0)
        norm = np.bincount(row, weights=score, minlength=n_rows)[row]
        hard = np.where(norm > 0, score / np.where(norm > 0, norm, 1.0), 0.0)
    components = {"start": (j == 0) & (i > 0), "previous": j == i - 1, "self": j == i,
                  "difficulty": hard, "uniform": uniform}
    total = sum(params.targets.get(c, 0.0) for c in TARGET_COMPONENTS)
    mix = sum(params.targets.get(c, 0.0) / total * np.asarray(components[c], dtype=np.float64)
              for c in TARGET_COMPONENTS)
    if reference_weight > 0:
        mix = (1 - reference_weight) * mix + reference_weight * reference
    sums = np.bincount(row, weights=mix, minlength=n_rows)[row]
    probs = np.where(i == 0, 1.0, mix / np.where(sums > 0, sums, 1.0))
    return probs


def simulate_transitions(corpus: Corpus, params: GroupParams, rng: np.random.Generator, difficulty: np.ndarray,
                         target_probs: np.ndarray, max_fixations_per_word: int = 20) -> Transitions:
    """Simulate every subject reading every sentence, all readings in parallel (one loop over time)."""
    n_words = corpus.n_words
    n_sent, n_subj = len(n_words), params.n_subjects
    word_start = np.concatenate([[0], np.cumsum(n_words)])[:-1]
    row, _, _, _ = _row_of_cells(n_words)
    word_i = np.concatenate([np.arange(n) for n in n_words])              # (total words,) i of each row
    row_first = corpus.offsets[:-1][np.repeat(np.arange(n_sent), n_words)] + word_i * (word_i + 1) // 2
    # global CDF: row r owns values r + (0, 1]; searchsorted(cdf, r + u, "right") draws a cell of row r
    cum = np.cumsum(target_probs)
    cdf = np.minimum(cum - np.concatenate([[0.0], cum])[row_first][row], 1.0)
    cdf[row_first + word_i] = 1.0
    cdf += row

    refix_logit = _logit(params.refixation) + params.refixation_difficulty * difficulty
    reg_logit = _logit(params.regression) + params.regression_difficulty * difficulty
    skip_logit = _logit(params.skipping) - params.skipping_difficulty * difficulty
    if params.regression == 0:
        reg_logit = np.full_like(difficulty, -np.inf)
    if params.skipping == 0:
        skip_logit = np.full_like(difficulty, -np.inf)
    if params.refixation == 0:
        refix_logit = np.full_like(difficulty, -np.inf)
    offsets = rng.normal(0.0, params.subject_sd, size=(2, n_subj)) if params.subject_sd > 0 else np.zeros((2, n_subj))

    subj = np.repeat(np.arange(n_subj), n_sent)
    sent = np.tile(np.arange(n_sent), n_subj)
    n = n_words[sent]
    base = word_start[sent]
    limit = max_fixations_per_word * n
    pos = np.zeros(len(subj), dtype=np.int64)
    frontier = np.zeros(len(subj), dtype=np.int64)
    after_regression = np.zeros(len(subj), dtype=bool)
    active = np.arange(len(subj))
    truncated = np.zeros(len(subj), dtype=bool)
    readers, origins, targets = [], [], []
    step = 0
    while active.size:
        i = pos[active]
        w = base[active] + i
        s = subj[active]
        u = rng.random((5, active.size))
        refix = u[0] < _sigmoid(refix_logit[w] + offsets[0, s])
        regress = ~refix & (i > 0) & (u[1] < _sigmoid(reg_logit[w] + offsets[1, s]))
        forward = ~refix & ~regress
        target = i.copy()
        if regress.any():
            cell = np.searchsorted(cdf, w[regress] + u[2, regress], side="right")
            target[regress] = cell - row_first[w[regress]]
        resume = forward & after_regression[active] & (u[3] < params.resume)
        nxt = np.where(resume, frontier[active], i) + 1
        nxt_word = base[active] + np.minimum(nxt, n[active] - 1)
        skip = forward & (u[4] < _sigmoid(skip_logit[nxt_word])) & (nxt < n[active])
        target[forward] = (nxt + skip)[forward]
        after_regression[active] = np.where(refix, after_regression[active], regress)
        frontier[active] = np.maximum(frontier[active], target)
        inside = target < n[active]
        readers.append(active[inside])
        origins.append(i[inside])
        targets.append(target[inside])
        pos[active] = target
        step += 1
        over = inside & (step >= limit[active])
        truncated[active[over]] = True
        active = active[inside & ~over]
    reader = np.concatenate(readers) if readers else np.zeros(0, dtype=np.int64)
    return Transitions(subj[reader], sent[reader], np.concatenate(origins) if origins else reader,
                       np.concatenate(targets) if targets else reader, n_subj,
                       truncated.reshape(n_subj, n_sent))


def cell_counts(transitions: Transitions, corpus: Corpus) -> np.ndarray:
    """``(n_cells, n_subjects)`` int32 transition counts on the analysed cells (j <= i)."""
    back = transitions.target <= transitions.origin
    i, j = transitions.origin[back], transitions.target[back]
    cell = corpus.offsets[transitions.sentence[back]] + i * (i + 1) // 2 + j
    flat = transitions.subject[back].astype(np.int64) * corpus.n_cells + cell
    counts = np.bincount(flat, minlength=transitions.n_subjects * corpus.n_cells)
    return counts.reshape(transitions.n_subjects, corpus.n_cells).T.astype(np.int32)


def group_rng(seed: int, group: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(group.encode())])


def simulate_cohort(corpus: Corpus, group: str, params: GroupParams, *, seed: int = 0, binarize: bool = True,
                    difficulty: np.ndarray | None = None, reference: np.ndarray | None = None,
                    reference_weight: float = 0.0, max_fixations_per_word: int = 20,
                    report: ExclusionReport | None = None) -> Cohort:
    """One simulated group as a Cohort: ``targets`` ``(n_cells, subjects)``, all sentences kept,
    ``mean`` = mean over all simulated subjects. Constant subjects are excluded and reported; fewer than 2 left are
    refused."""
    params.validate(f"data.synthetic.groups.{group}")
    report = report if report is not None else ExclusionReport()
    difficulty = word_difficulty(corpus) if difficulty is None else difficulty
    probs = target_probabilities(corpus, params, difficulty, reference, reference_weight)
    moves = simulate_transitions(corpus, params, group_rng(seed, group), difficulty, probs, max_fixations_per_word)
    counts = cell_counts(moves, corpus)
    targets = (counts > 0).astype(np.float64) if binarize else counts.astype(np.float64)
    ids = [subject_id(group, s) for s in range(params.n_subjects)]
    for s, k in np.argwhere(moves.truncated):
        report.add(group, "sentence", f"{ids[s]} {corpus.label(int(k))}",
                   f"reading cut after {max_fixations_per_word} fixations per word "
                   "(data.synthetic.max_fixations_per_word)", action="truncated")
    mean = targets.mean(axis=1)
    constant = np.ptp(targets, axis=0) == 0
    for s in np.flatnonzero(constant):
        report.add(group, "subject", ids[s], "the same value in every kept cell (no simulated look-back "
                   "transitions): R2 is undefined")
    if (~constant).sum() < 2:
        raise DataError(f"data.synthetic.groups.{group}: {int((~constant).sum())} of the {len(ids)} simulated readers "
                        "make a look-back saccade; a group needs 2 or more readers to have a ceiling: raise its "
                        "regression or refixation, or its n_subjects.")
    keep = np.ones(len(corpus), dtype=bool)
    return Cohort(group, [ids[s] for s in np.flatnonzero(~constant)], keep, corpus.cell_mask(keep),
                  targets[:, ~constant], mean, "synthetic")


def simulate_cohorts(corpus: Corpus, groups: dict[str, GroupParams], *, seed: int = 0, binarize: bool = True,
                     difficulty: np.ndarray | None = None, reference: np.ndarray | None = None,
                     reference_weight: float = 0.0,
                     max_fixations_per_word: int = 20) -> tuple[dict[str, Cohort], ExclusionReport]:
    """Every group's simulated cohort and one report."""
    report = ExclusionReport()
    difficulty = word_difficulty(corpus) if difficulty is None else difficulty
    cohorts = {g: simulate_cohort(corpus, g, p, seed=seed, binarize=binarize, difficulty=difficulty,
                                  reference=reference, reference_weight=reference_weight,
                                  max_fixations_per_word=max_fixations_per_word, report=report)
               for g, p in groups.items()}
    return cohorts, report




@dataclass(frozen=True)
class Simulation:
    """Simulated readers as a source of human data: the corpus they read and their cohorts.

    ``groups``: ``{group: GroupParams}``; ``reference``: ``(n_cells,)`` planted attention rows (see
    :func:`target_probabilities`) or None; ``difficulty``: the ``word_difficulty`` keyword arguments.
    """

    corpus_text: Corpus
    groups: dict
    seed: int = 0
    binarize: bool = True
    difficulty: dict = field(default_factory=dict)
    reference: np.ndarray | None = None
    reference_weight: float = 0.0
    max_fixations_per_word: int = 20
    modified_files: tuple[str, ...] = ()     # files of the corpus text that differ from their release

    has_fmri = False

    def missing(self, groups) -> list[str]:
        """A group without reader parameters; the corpus and reference were read when the simulation was configured."""
        undefined = [g for g in groups if g not in self.groups]
        return [f"data.synthetic.groups has no parameters for group(s) {undefined}; defined: {sorted(self.groups)}. "
                f"Set analysis.groups to some of them, or define the group."] if undefined else []

    def fingerprint(self) -> str:
        """What the readers read and copy: the corpus text and the planted reference (the parameters are settings)."""
        text = "\n\n".join("\n".join(a) for a in self.corpus_text.articles).encode()
        reference = b"" if self.reference is None else np.ascontiguousarray(self.reference, dtype=np.float64).tobytes()
        return "synthetic:" + identity.of_bytes(text + reference)

    def provenance(self) -> dict[str, str]:
        """Tags of the run: the corpus files that differ from their release (``data_modified``)."""
        return {"data_modified": ", ".join(self.modified_files) or "none"}

    def corpus(self) -> Corpus:
        return self.corpus_text

    def word_measures(self, corpus: Corpus, groups) -> dict:
        """None: the simulated readers make saccades, not reading times."""
        return {}

    def reading_times(self, corpus: Corpus, groups) -> dict:
        """None: the simulated readers make saccades, not reading times."""
        return {}

    def fmri_cohorts(self, corpus: Corpus, groups, report: ExclusionReport) -> dict:
        """None: simulated readers have no brain."""
        return {}

    def cohorts(self, corpus: Corpus, groups) -> tuple[dict[str, Cohort], ExclusionReport]:
        missing = self.missing(groups)
        if missing:
            raise DataError(missing[0])
        return simulate_cohorts(corpus, {g: self.groups[g] for g in groups}, seed=self.seed, binarize=self.binarize,
                                difficulty=word_difficulty(corpus, **self.difficulty), reference=self.reference,
                                reference_weight=self.reference_weight,
                                max_fixations_per_word=self.max_fixations_per_word)
