"""Extraction: a loaded model run over the corpus, its attention measures merged from tokens into words, cached;
tensor-parallel over processes."""
