"""Benchmark: what a sweep costs beyond its analyses (start-up, data, tracking), per job.

Runs `make sweep` (the released LLaMA-30B attention, prefixes none and translate: 2 jobs) end to end as
a user does, with warm caches (one warm-up sweep first), and subtracts the analyses' own time, which
every job logs as ``analysis_s``. The sweep's comparison run is left out (compare.after_sweep=false).
The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]


def sweep(data: Path, store: Path, out: Path, extra: list[str]) -> float:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}
    command = [sys.executable, str(ROOT / "src" / "main.py"), "-m", "source=released", "model=llama", "size=30b",
               "prefix=none,translate", f"data.root={data / 'reading_brain'}",
               f"source.root={data / 'released_attention'}", "rerun=true", "compare.after_sweep=false",
               f"hydra.sweep.dir={out}", *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--target", type=float, default=4.0, help="seconds of overhead per job to stay under")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="attnhuman-bench-") as tmp:
        tmp = Path(tmp)
        sweep(args.data.resolve(), tmp, tmp / "warm", [])                 # fills the human-data and hash caches
        wall = sweep(args.data.resolve(), tmp, tmp / "timed", [])
        client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  f"tags.sweep = '{(tmp / 'timed').resolve()}'")
        jobs = [r for r in runs if "analysis_s" in r.data.metrics]
    analysis = sum(r.data.metrics["analysis_s"] for r in jobs)
    overhead = (wall - analysis) / len(jobs)
    print(f"make sweep, {len(jobs)} jobs, warm caches: {wall:.1f} s end to end, analyses {analysis:.1f} s, "
          f"overhead {overhead:.1f} s per job (target < {args.target:g} s), end to end / analyses "
          f"{wall / analysis:.2f}x")
    print(json.dumps({"jobs": len(jobs), "wall_s": round(wall, 2), "analysis_s": round(analysis, 2),
                      "overhead_per_job_s": round(overhead, 2), "target_s": args.target,
                      "within_target": overhead < args.target}))


if __name__ == "__main__":
    main()
