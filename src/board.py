"""attnhuman scoreboard: ``python src/board.py --out DIR [--experiment NAME]`` (see README, "Run").

Every FINISHED job run of the MLflow store on one static page (``make board``); the logic is in
``attnhuman.app.board``.
"""
import sys
from pathlib import Path

from attnhuman.app import board

if __name__ == "__main__":
    sys.exit(board.main(sys.argv[1:], Path(__file__).resolve().parent.parent / "conf"))
