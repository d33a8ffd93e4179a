"""attnhuman.identity: digests of values, files and code, against hashlib computed here."""
import hashlib
import json
import os
import subprocess

import pytest

from attnhuman import identity


def test_a_value_digest_is_canonical():
    assert identity.of_value({"b": 1, "a": [1, 2]}) == identity.of_value({"a": [1, 2], "b": 1})
    expected = hashlib.sha256(json.dumps({"a": [1, 2], "b": 1}, sort_keys=True).encode()).hexdigest()
    assert identity.of_value({"b": 1, "a": [1, 2]}) == expected
    assert identity.of_value({"a": 1}) != identity.of_value({"a": 2})


def test_file_digests_and_the_memo(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x" * 10_000)
    assert identity.of_file(path, block=1000) == hashlib.sha256(b"x" * 10_000).hexdigest()
    memo = tmp_path / "memo"
    first = identity.of_file_memo(path, memo)
    assert first == identity.of_file(path) and len(list((memo / "hashes").iterdir())) == 1
    path.write_bytes(b"y" * 10_000)              # another content, another mtime: hashed again
    assert identity.of_file_memo(path, memo) == hashlib.sha256(b"y" * 10_000).hexdigest()
    other = tmp_path / "other.bin"
    other.write_bytes(b"y" * 10_000)
    assert identity.of_files([path, other]) != identity.of_files([path]) and \
        identity.of_files([other, path]) == identity.of_files([path, other])


def test_a_code_digest_follows_the_source_not_the_install(tmp_path):
    package = tmp_path / "pkg"
    (package / "analysis").mkdir(parents=True)
    (package / "analysis" / "least_squares.py").write_text("ALPHA = 1\n")
    (package / "corpus.py").write_text("N = 1\n")
    before = identity.of_code("analysis", "corpus.py", root=package)
    copy = tmp_path / "copy"
    (copy / "analysis").mkdir(parents=True)
    for name in ("analysis/least_squares.py", "corpus.py"):          # the same code elsewhere, newer files: the same digest
        (copy / name).write_bytes((package / name).read_bytes())
        os.utime(copy / name, (0, 0))
    assert identity.of_code("analysis", "corpus.py", root=copy) == before
    (copy / "analysis" / "least_squares.py").write_text("ALPHA = 2\n")
    identity.of_code.cache_clear()                         # a digest is read once per process
    assert identity.of_code("analysis", "corpus.py", root=copy) != before
    assert identity.of_code("corpus.py", root=copy) == identity.of_code("corpus.py", root=package)
    with pytest.raises(ValueError, match="no module or folder"):
        identity.of_code("nothing", root=package)


def test_the_package_code_digest_covers_its_modules():
    digest = identity.of_code("analysis")
    files = sorted((identity.PACKAGE / "analysis").rglob("*.py"))
    expected = identity.of_value([(f.relative_to(identity.PACKAGE).as_posix(),
                                   hashlib.sha256(f.read_bytes()).hexdigest()) for f in files])
    assert digest == expected


def test_runs_from_a_git_checkout_name_its_commit():
    head = subprocess.run(["git", "-C", str(identity.PACKAGE), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert identity.git_commit() == head.stdout.strip() and len(identity.git_commit()) == 40
