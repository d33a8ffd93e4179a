"""Fetching missing release files: checksummed download from a loopback server, offline errors."""
import functools
import http.server
import threading

import pytest

from attnhuman.errors import DataError
from attnhuman.humans.reading_brain.release import CHECKSUMS, Release
from attnhuman.identity import of_file as sha256
from helpers.paths import READING_BRAIN


@pytest.fixture
def server(tmp_path):
    """Serves a copy of the release on 127.0.0.1, with one file corrupted."""
    served = tmp_path / "served"
    (served / "roi_activations").mkdir(parents=True)
    for name in ("sentences_p1.txt", "label_self.pkl"):
        (served / name).write_bytes((READING_BRAIN / name).read_bytes())
    (served / "label_prev.pkl").write_bytes(b"not the release file")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()



def test_download_verifies_checksums(tmp_path, server):
    release = Release(tmp_path / "cache", pickles_url=server, text_url=f"{server}/sentences_p1.txt")
    for name in ("sentences_p1.txt", "label_self.pkl"):
        path = release.path(name)
        assert sha256(path) == CHECKSUMS[name]
    with pytest.raises(DataError, match=r"Download of 'label_prev.pkl' .* has SHA-256 .*: the file was not saved"):
        release.path("label_prev.pkl")
    assert not (tmp_path / "cache" / "label_prev.pkl").exists()



def test_offline_error_says_which_file_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("READING_BRAIN_DIR", raising=False)
    release = Release(tmp_path, pickles_url="http://127.0.0.1:9", timeout_s=5)
    with pytest.raises(DataError, match=r"'mean_saccade_num_p1.pkl' is missing from .* could not be downloaded from "
                                        r"http://127.0.0.1:9/mean_saccade_num_p1.pkl .*point data.root"):
        release.path("mean_saccade_num_p1.pkl")
    with pytest.raises(DataError, match=r"missing from .*downloads are off"):
        Release(tmp_path, download=False).path("sentences_p1.txt")



def test_root_falls_back_to_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("READING_BRAIN_DIR", str(tmp_path))
    assert Release().root == tmp_path.resolve()
    assert Release(READING_BRAIN).root == READING_BRAIN.resolve()

