"""File digests: the release checks, checkpoint and attention fingerprints."""
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


def stamp(path: Path) -> str:
    """What identifies a file without reading it: its resolved path, size and mtime."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def fingerprint(path: Path, cache_dir: Path | None = None) -> str:
    """:func:`sha256` of a file, remembered under ``cache_dir`` by its :func:`stamp`: large files are hashed once."""
    if cache_dir is None:
        return sha256(path)
    memo = Path(cache_dir) / "hashes" / hashlib.sha256(stamp(path).encode()).hexdigest()
    if memo.is_file():
        return memo.read_text()
    digest = sha256(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(digest)
    return digest


def tree_fingerprint(paths, cache_dir: Path | None = None) -> str:
    """One digest of several files' names and contents (a folder of weights, a release)."""
    parts = [(Path(p).name, fingerprint(Path(p), cache_dir)) for p in sorted(paths)]
    return hashlib.sha256(repr(parts).encode()).hexdigest()
