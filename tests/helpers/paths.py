"""Where the project and the real data are: ``$ATTNHUMAN_DATA``, default ``../shared/data`` beside the project."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
DATA = Path(os.environ.get("ATTNHUMAN_DATA", ROOT.parent / "shared" / "data")).resolve()
READING_BRAIN = DATA / "reading_brain"
LLAMA30 = DATA / "released_attention" / "llama-30b"
GECO = DATA / "geco_en"
ONESTOP = DATA / "onestop_sample"
