"""Identity: digests of values, files and code, and the file-stamp memo. Every cache key and the run identity are
made here, so that "the same input" means one thing everywhere.

A digest is the hex SHA-256 of bytes. :func:`of_value` digests a JSON-able value canonically (keys sorted), so
equal settings give equal digests whatever their order; :func:`of_file` digests a file's bytes, :func:`of_files`
several files' names and contents; :func:`of_code` the source of some of the package's modules, so that an edit
to the code that computes a number changes the identity of that number, and reinstalling the same code does not.
:func:`stamp` identifies a file cheaply (path, size, modification time and a digest of sampled blocks), so that large
files are hashed once (:func:`of_file_memo`) and other contents copied in with the old size and time (``cp -p``,
``rsync -a``) are hashed again.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent          # attnhuman/
SAMPLED_BLOCKS, SAMPLED_BLOCK = 32, 1 << 16          # of_blocks reads 2 MiB of a file at most


def of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def of_value(value) -> str:
    """Digest of a JSON-able value (dicts with sorted keys; other objects by ``str``)."""
    return of_bytes(json.dumps(value, sort_keys=True, default=str).encode())


def of_arrays(arrays: dict) -> str:
    """One digest of named numpy arrays: their names, dtypes, shapes and bytes (read in place, not copied)."""
    parts = []
    for name, array in sorted(arrays.items()):
        data = array if array.flags.c_contiguous else array.copy(order="C")
        parts.append((name, str(array.dtype), list(array.shape), hashlib.sha256(memoryview(data).cast("B")).hexdigest()))
    return of_value(parts)


def of_file(path: Path, block: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def of_blocks(path: Path) -> str:
    """SHA-256 of :data:`SAMPLED_BLOCKS` fixed-size blocks of a file: its start, its end and evenly spaced blocks
    between (the whole file when it is smaller). Cheap on any size; other contents almost always differ in them."""
    size, digest = os.path.getsize(path), hashlib.sha256()
    with open(path, "rb") as f:
        if size <= SAMPLED_BLOCKS * SAMPLED_BLOCK:
            digest.update(f.read())
        else:
            for i in range(SAMPLED_BLOCKS):
                f.seek(i * (size - SAMPLED_BLOCK) // (SAMPLED_BLOCKS - 1))
                digest.update(f.read(SAMPLED_BLOCK))
    return digest.hexdigest()


def stamp(path: Path) -> str:
    """What identifies a file cheaply: its resolved path, size, modification time and :func:`of_blocks`, so that
    other contents with the same size and time (``cp -p``, ``rsync -a``) get another stamp."""
    stat = Path(path).stat()
    return f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{of_blocks(path)}"


def of_file_memo(path: Path, memo_dir: Path | None = None) -> str:
    """:func:`of_file`, remembered under ``memo_dir/hashes`` by the file's :func:`stamp`: large files are hashed
    once, and again when their sampled blocks change."""
    if memo_dir is None:
        return of_file(path)
    memo = Path(memo_dir) / "hashes" / of_bytes(stamp(path).encode())
    if memo.is_file():
        return memo.read_text()
    digest = of_file(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    partial = memo.with_name(f".{memo.name}.{os.getpid()}")
    partial.write_text(digest)
    partial.replace(memo)                  # atomic: another process reads the whole digest or none
    return digest


def of_files(paths, memo_dir: Path | None = None) -> str:
    """One digest of several files' names and contents (a folder of weights, a release, a set of tables)."""
    return of_value([(Path(p).name, of_file_memo(Path(p), memo_dir)) for p in sorted(paths)])


def of_stamps(folder: Path) -> list:
    """Names, sizes, modification times and sampled blocks (:func:`of_blocks`) of a folder's files: what is redone
    when they change (applied deltas)."""
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns, of_blocks(p))
            for p in sorted(Path(folder).iterdir()) if p.is_file()]


@functools.lru_cache(maxsize=None)
def of_code(*parts: str, root: Path = PACKAGE) -> str:
    """Digest of the source of the modules under ``parts`` (files or folders relative to ``root``, the package, e.g.
    ``"humans"``, ``"corpus.py"``): their relative paths and bytes. Editing them changes it; reinstalling the same
    code does not. Read once per process."""
    missing = [part for part in parts if not (root / part).exists()]
    if missing:
        raise ValueError(f"of_code: no module or folder {missing} in {root}")
    files = sorted({f for part in parts for f in ([root / part] if part.endswith(".py") else (root / part).rglob("*.py"))})
    return of_value([(f.relative_to(root).as_posix(), of_bytes(f.read_bytes())) for f in files])


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the git checkout the package runs from, or None (an installed copy, no git)."""
    try:
        out = subprocess.run(["git", "-C", str(PACKAGE), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() if out.returncode == 0 else ""
    return commit or None
