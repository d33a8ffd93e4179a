"""Reading Brain release files: where they are, how to fetch and verify them, how to unpickle them.

The folder is the given root, else ``$READING_BRAIN_DIR``, else the given cache folder. A missing file
of the public release is downloaded from the release pinned to a commit (the URLs below, beside the
checksums they must match) and checked against its SHA-256; offline, the error says which file is
missing and how to provide it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import urllib.error
import urllib.request
from pathlib import Path

from attnhuman import identity
from attnhuman.errors import ConfigError, DataError

# The public release, pinned to commits: pickles from scaling_finetuning, the text from ffn_composition_analysis,
# and the SHA-256 of every file.
PICKLES_URL = ("https://raw.githubusercontent.com/RiverGao/scaling_finetuning/"
               "dd223f201f0636c721d568d1ed58b6f10bba1bc5/golden_attention/reading_brain")
TEXT_URL = ("https://raw.githubusercontent.com/RiverGao/ffn_composition_analysis/"
            "b0e0b66af9c10a5f83a2b1d806122f8fbf689e4d/sentences/reading_brain.txt")
CHECKSUMS = {
    "sentences_p1.txt": "f6f2ebe1a820e529aa60ac7baa26ea6f2a2e7a4831eff30e94e527cb538a3e20",
    "label_prev.pkl": "8269c7036d936ab8c27ff39fa825ab504236ccdf0db23abce3d21b65b0915fde",
    "label_self.pkl": "f3ff65961a88211506c255c529879b8b59334ef7e02deb67c4b58b5b0ec9d9ca",
    "label_start.pkl": "061e2e98d5ede01b0e2e15eb1787f53be861683263d1a63090b3a5f87cee0151",
    "mean_saccade_dur_p1.pkl": "c154270974677ef5afe281c1326145cbd727a3c7478ae097ad04a5009fe42d69",
    "mean_saccade_dur_p2.pkl": "2bdd986ad2e16d5ce1ce796459231bb88e725c4de11a50b05f299dad554ebe21",
    "mean_saccade_num_p1.pkl": "f7164dcf2c93892822bfac0df594c09861a773f62663cd11655c5f9857e9bf8b",
    "mean_saccade_num_p2.pkl": "c7e9c594080325c86f3a68446bff6d236150c1e8ae77d7012b7da0e98ff15fcd",
    "roi_activations/L1/activations_angular_p1.pkl": "3f777cb975d0fce2d3da4a168e8195ffbb797bf85976cb2ee4bcbc384e9a38fc",
    "roi_activations/L1/activations_anterior_p1.pkl": "ca01d8637ec512439de6ae13bbe4735577a2eae9a121bbe35e50b71638222eda",
    "roi_activations/L1/activations_inferior_p1.pkl": "ad6cc63eb8eb2bcbb22e8cd16635a7c46ff2b8b558fcd9c4d59025d67f0de66d",
    "roi_activations/L1/activations_middle_p1.pkl": "fef4dd0e4894ec964f0360e52f250c2567384fa66e709f6c928eda904965e902",
    "roi_activations/L1/activations_superior_p1.pkl": "52ef2101d52c03f2b7dfa2d40fa8431a4e643e658870a344259a6e023bc42ec0",
    "roi_activations/L2/activations_angular_p2.pkl": "d945c076be1cfbdccd03b43bd5da0311b997c2e10395a7ad99969d113464a05a",
    "roi_activations/L2/activations_anterior_p2.pkl": "294e997fd38d8e09c2ee10424aa3066c85cc182f564885897f7c41f2d6d39f3a",
    "roi_activations/L2/activations_inferior_p2.pkl": "9b0d059bf8e6fddeaaeaa4a0b0dbc840f3106490b0eb4903484c9b72d2a3fa64",
    "roi_activations/L2/activations_middle_p2.pkl": "0976e0099dbe276edf4b0d1880e05106a812e4b441116e98b3d160cda270ffdc",
    "roi_activations/L2/activations_superior_p2.pkl": "51654ed902d141cffea32db09c55215f9c2d5cdbfe12a544ff4680d20ab434fd",
}
log = logging.getLogger(__name__)
TEXT_FILE = "sentences_p1.txt"
VERIFY = ("warn", "strict", "off")


class Release:
    """The Reading Brain files under one folder, fetched on demand.

    ``verify``: what a local release file whose SHA-256 differs from the pinned one does: ``warn`` (logged,
    listed in :attr:`modified`), ``strict`` (DataError) or ``off`` (not hashed).
    """

    def __init__(self, root: str | Path | None = None, *, download: bool = True,
                 cache_dir: str | Path | None = None, pickles_url: str = PICKLES_URL, text_url: str = TEXT_URL,
                 timeout_s: float = 60.0, verify: str = "warn"):
        if verify not in VERIFY:
            raise ConfigError(f"data.verify={verify!r}: choose one of {list(VERIFY)}")
        root = root or os.environ.get("READING_BRAIN_DIR") or cache_dir
        if not root:
            raise DataError("No Reading Brain folder: give data.root (or $READING_BRAIN_DIR) or a cache folder.")
        self.root = Path(root).expanduser().resolve()
        self.download = download
        self.pickles_url = pickles_url.rstrip("/")
        self.text_url = text_url
        self.timeout_s = timeout_s
        self.verify = verify
        self.modified: list[str] = []      # local release files that differ from the release
        self._checked: set[str] = set()
        self._digests: dict[str, str] = {}

    def url(self, name: str) -> str:
        return self.text_url if name == TEXT_FILE else f"{self.pickles_url}/{name}"

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()

    def path(self, name: str) -> Path:
        """Local path of release file ``name``, downloading and verifying it if missing."""
        target = self.root / name
        if target.is_file():
            self._check(name, target)
            return target
        how = (f"Put the file there by hand (from {self.url(name)}), or point data.root "
               f"(or $READING_BRAIN_DIR) at a folder with the release layout"
               if name in CHECKSUMS else
               "This file is not part of the public release; provide it yourself")
        if name not in CHECKSUMS or not self.download:
            reason = "downloads are off (data.download=false)" if name in CHECKSUMS else "not downloadable"
            raise DataError(f"Reading Brain file '{name}' is missing from {self.root} ({reason}). {how}.")
        try:
            self._fetch(name, target)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise DataError(f"Reading Brain file '{name}' is missing from {self.root} and could not be "
                            f"downloaded from {self.url(name)} ({e}). {how}.") from e
        return target

    def digest(self, name: str) -> str:
        """SHA-256 of the local file ``name``, computed once per Release."""
        if name not in self._digests:
            self._digests[name] = identity.of_file(self.root / name)
        return self._digests[name]

    def _check(self, name: str, path: Path) -> None:
        """Compare a local release file with its pinned SHA-256 once, as ``verify`` says."""
        if self.verify == "off" or name not in CHECKSUMS or name in self._checked:
            return
        self._checked.add(name)
        if self.digest(name) == CHECKSUMS[name]:
            return
        message = (f"{path} differs from the Reading Brain release (SHA-256 is not {CHECKSUMS[name][:12]}...): "
                   "its numbers are not the release's")
        if self.verify == "strict":
            raise DataError(f"{message}. Restore the file (delete it to download it again) or set data.verify=warn.")
        log.warning("%s; the run is tagged data_modified (data.verify=strict refuses such files).", message)
        self.modified.append(name)

    def _fetch(self, name: str, target: Path) -> None:
        """Download ``name`` to ``target``; a failed download leaves nothing behind, not even the folders it made."""
        made = [d for d in (*reversed(target.parent.parents), target.parent) if not d.exists()]
        partial = target.with_name(target.name + ".part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(self.url(name), timeout=self.timeout_s) as response, open(partial, "wb") as f:
                while block := response.read(1 << 20):
                    f.write(block)
            got = identity.of_file(partial)
            if got != CHECKSUMS[name]:
                raise DataError(f"Download of '{name}' from {self.url(name)} has SHA-256 {got}, expected "
                                f"{CHECKSUMS[name]}: the file was not saved. Provide the file by hand.")
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise


_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "dtype"), ("numpy", "ndarray")}


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits builtin containers and numbers and numpy arrays; nothing that can run code."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}' (only numpy arrays "
                                     "and builtin containers are allowed)")


def load_pickle(path: Path):
    """Load a release pickle with the restricted unpickler; a broken file gives a clear DataError."""
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path}: cannot be read as a Reading Brain pickle ({type(e).__name__}: {e}). "
                        "The file is truncated, corrupt or not from the release: delete it and let "
                        "attnhuman download it again, or check it with `sha256sum -c SHA256SUMS`.") from e
