"""File digests, shared by the data release checks and the checkpoint fingerprints."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: Path, block: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()
