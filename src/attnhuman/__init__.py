"""attnhuman: how the self-attention of language models resembles human reading."""

__version__ = "0.1.0"
