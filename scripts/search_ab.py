"""A/B driver for `measure_searches`: two source trees of Veille, alternated on one store.

Each round runs every variant once (A, B, A, B, ...) in its own process on the same
store, so a shared, loaded machine hurts both alike; it prints each variant's p50 / p95
per scope and analysis, round by round, with the load average.

    PYTHONPATH=src python scripts/search_ab.py --variant before=/tmp/before/src \
        --variant after=src --store /tmp/veille-bench-stores/10000000-2026.db \
        --analyses "query overhead,plate search" --rounds 3 [--cold]

What it does not cover: a store being written meanwhile (the national test does that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from veille.bench.search import RunCounts, measure_searches
store, scopes, analyses, light, heavy, cold = sys.argv[1:7]
figures = measure_searches(
    Path(store), scopes=scopes.split(","), analyses_wanted=analyses.split(","),
    runs=RunCounts(int(light), int(heavy)), cold=cold == "cold",
)
print(json.dumps([asdict(f) for f in figures]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="name=src folder")
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--scopes", default="zone,province,national")
    parser.add_argument("--analyses", default="query overhead,plate search")
    parser.add_argument("--runs-light", type=int, default=200)
    parser.add_argument("--runs-heavy", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    args = parser.parse_args()
    variants = [v.split("=", 1) for v in args.variant]
    rounds = []
    for n in range(args.rounds):
        for name, src in variants:
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(args.store),
                    args.scopes,
                    args.analyses,
                    str(args.runs_light),
                    str(args.runs_heavy),
                    "cold" if args.cold else "warm",
                ],
                env={**os.environ, "PYTHONPATH": str(Path(src).resolve())},
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(out.stdout)
            load = os.getloadavg()[0]
            rounds.append({"round": n + 1, "variant": name, "load_1min": load, "figures": figures})
            for f in figures:
                print(
                    f"round {n + 1} {name:8} {f['scope']:8} {f['analysis']:15}"
                    f" runs {f['runs']:>4}  p50 {f['p50_ms']:7.2f}  p95 {f['p95_ms']:7.2f} ms"
                    f"  load {load:.2f}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=2))


if __name__ == "__main__":
    main()
