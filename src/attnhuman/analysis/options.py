"""Score options of human resemblance (docs/method.md, "Score options"), typed and checked, and their metric names.

The paper's score is an in-sample R2 with one predictor per head and a ceiling whose group mean holds the
predicted subject. Each option below is named; the defaults (``insample``, ``heads``, ``group_mean``, no
permutation test) reproduce the paper exactly, and any other choice adds a suffix to the metric names
(:attr:`ScoreOptions.suffix`, :mod:`attnhuman.metrics`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from attnhuman.errors import ConfigError

SCORES = ("insample", "cv")
PREDICTORS = ("heads", "pcs", "ridge")
CEILINGS = ("group_mean", "loo", "split_half")
UNITS = ("sentence", "article")
DEFAULT_FOLDS = 5


@dataclass
class CvOptions:
    """Folds of ``score=cv`` and of the ridge penalty choice: ``unit`` kept whole (sentence or article),
    ``folds`` K, ``seed`` of the shuffle before scikit-learn ``GroupKFold`` deals the units."""

    unit: str = "sentence"
    folds: int = DEFAULT_FOLDS
    seed: int = 0


@dataclass
class RidgeOptions:
    """``predictors=ridge``: the penalty grid, chosen per layer and subject by (nested) grouped CV."""

    alphas: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0])


@dataclass
class SplitHalfOptions:
    """``ceiling=split_half``: random splits averaged, and their seed."""

    n_splits: int = 100
    seed: int = 0


@dataclass
class PermutationOptions:
    """Sentence-permutation test of each layer's score: ``n`` permutations (0 = off), ``seed``, and the
    Benjamini-Hochberg level ``alpha`` across layers."""

    n: int = 0
    seed: int = 0
    alpha: float = 0.05


@dataclass
class ScoreOptions:
    """How resemblance is scored. ``score``: insample | cv; ``predictors``: heads | pcs (``n_components``) |
    ridge; ``ceiling``: group_mean | loo | split_half. The defaults are the paper's."""

    score: str = "insample"
    cv: CvOptions = field(default_factory=CvOptions)
    predictors: str = "heads"
    n_components: int = 8
    ridge: RidgeOptions = field(default_factory=RidgeOptions)
    ceiling: str = "group_mean"
    split_half: SplitHalfOptions = field(default_factory=SplitHalfOptions)
    permutation: PermutationOptions = field(default_factory=PermutationOptions)

    @classmethod
    def from_mapping(cls, mapping: dict) -> "ScoreOptions":
        """Options from a plain nested dict such as ``{"score": "cv", "cv": {"unit": "article"}}``, checked;
        missing keys take the defaults."""
        nested = {"cv": CvOptions, "ridge": RidgeOptions, "split_half": SplitHalfOptions, "permutation": PermutationOptions}
        values = {k: nested[k](**v) if k in nested else v for k, v in dict(mapping).items()}
        return cls(**values).check()

    def check(self, n_heads: int | None = None) -> "ScoreOptions":
        """Raise ConfigError naming the ``analysis`` key of the first bad option; returns self."""
        for key, value, choices in (("score", self.score, SCORES), ("predictors", self.predictors, PREDICTORS),
                                    ("ceiling", self.ceiling, CEILINGS), ("cv.unit", self.cv.unit, UNITS)):
            if value not in choices:
                raise ConfigError(f"analysis.{key}={value!r}: choose one of {list(choices)}")
        if self.cv.folds < 2:
            raise ConfigError(f"analysis.cv.folds={self.cv.folds}: need at least 2 folds")
        if self.score == "cv" and self.predictors == "ridge" and self.cv.folds < 3:
            raise ConfigError("analysis.score=cv with predictors=ridge needs analysis.cv.folds >= 3 "
                              "(the nested CV leaves one of the other K-1 folds out)")
        if self.n_components < 1 or (n_heads is not None and self.predictors == "pcs" and self.n_components > n_heads):
            raise ConfigError(f"analysis.n_components={self.n_components}: choose 1 to the number of heads"
                              f"{f' ({n_heads})' if n_heads is not None else ''}")
        if not self.ridge.alphas or min(self.ridge.alphas) <= 0:
            raise ConfigError(f"analysis.ridge.alphas={list(self.ridge.alphas)}: give one or more positive penalties")
        if self.split_half.n_splits < 1:
            raise ConfigError(f"analysis.split_half.n_splits={self.split_half.n_splits}: need at least 1")
        if self.permutation.n < 0:
            raise ConfigError(f"analysis.permutation.n={self.permutation.n}: 0 (off) or a positive count")
        if not 0 < self.permutation.alpha < 1:
            raise ConfigError(f"analysis.permutation.alpha={self.permutation.alpha}: choose a level in (0, 1)")
        return self

    @property
    def needs_folds(self) -> bool:
        return self.score == "cv" or self.predictors == "ridge"

    @property
    def suffix(self) -> str:
        """'' for the paper default, else e.g. 'cv', 'cv10_article', 'cv_pcs8', 'loo', 'ridge_splithalf'."""
        parts = []
        if self.score == "cv":
            parts.append("cv" + (str(self.cv.folds) if self.cv.folds != DEFAULT_FOLDS else "")
                         + ("_article" if self.cv.unit == "article" else ""))
        if self.predictors != "heads":
            parts.append(f"pcs{self.n_components}" if self.predictors == "pcs" else "ridge")
        if self.ceiling != "group_mean":
            parts.append(self.ceiling.replace("_", ""))
        return "_".join(parts)

