"""Figures and report.md."""
