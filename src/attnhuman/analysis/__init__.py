"""Analyses: arrays and cohorts in, result dataclasses out (resemblance, score options, trivial patterns,
divergence, statistics, fMRI)."""
