"""Across runs: pairing the runs the paper compares, and the comparison's tables."""
