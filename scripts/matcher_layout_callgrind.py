"""Instructions per read (callgrind, load-independent): the server's two-index hotlist
layout against one index of every list, on the same simulated reads (issue 11).

`prepare` stores the bench lists in a SQLite store and pickles the simulated reads;
`measure MODE` (under valgrind) indexes the store both ways, then matches every read
`--passes` times through the production `HotlistMatcher` (`production`), through one
`HotlistIndex` (`one`), or not at all (`none`: the baseline both subtract).

    PYTHONPATH=src python scripts/matcher_layout_callgrind.py --entries 60000 --reads 2000

What it does not cover: the 1 M-entry scale (a national index of 56,000 entries here),
wall-clock time, other threads.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def prepare(folder: Path, entries: int, reads: int) -> None:
    from veille.bench.matcher import MatcherBenchConfig, load_bench_lists, simulated_traffic
    from veille.bootstrap import bootstrap
    from veille.settings import Settings

    config = MatcherBenchConfig(entries=entries, reads=reads)
    platform = bootstrap(Settings(data_dir=folder / "store"))
    platform.store.initialise()
    load_bench_lists(uow_factory=platform.uow, config=config)
    platform.store.close()
    traffic = [t.read for t in simulated_traffic(config)]
    (folder / "reads.pickle").write_bytes(pickle.dumps(traffic))


def measure(folder: Path, mode: str, passes: int) -> None:
    from veille.bench.matcher import NOW, ReadMatcher
    from veille.bootstrap import bootstrap
    from veille.domain.matcher import HotlistIndex
    from veille.settings import Settings

    platform = bootstrap(Settings(data_dir=folder / "store"))
    platform.matcher.refresh(platform.uow)
    with platform.uow() as uow:
        single = HotlistIndex.build(uow.hotlists.lists(), uow.hotlists.entries())
    reads = pickle.loads((folder / "reads.pickle").read_bytes())
    targets: dict[str, ReadMatcher] = {"production": platform.matcher, "one": single}
    target = targets.get(mode)
    hits = 0
    if target is not None:
        for _ in range(passes):
            for r in reads:
                hits += bool(
                    target.match(
                        plate=r.plate, plate_canonical=r.plate_canonical, country=r.country, now=NOW
                    )
                )
    print(json.dumps({"mode": mode, "layout": platform.matcher.layout(), "hits": hits}))


def callgrind(folder: Path, mode: str, passes: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dictionaries in every run
    done = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, "--folder", str(folder), "--measure", mode,
            "--passes", str(passes),
        ],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(done.stderr[-2000:])
    print(done.stdout.strip(), file=sys.stderr)
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=60_000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--measure", choices=("production", "one", "none"))
    args = parser.parse_args()
    if args.measure:
        measure(args.folder, args.measure, args.passes)
        return
    folder = Path(tempfile.mkdtemp(prefix="veille-matcher-callgrind-"))
    prepare(folder, args.entries, args.reads)
    counts = {mode: callgrind(folder, mode, args.passes) for mode in ("none", "production", "one")}
    matched = args.reads * args.passes
    per_read = {m: (counts[m] - counts["none"]) / matched for m in ("production", "one")}
    print(
        json.dumps(
            {
                "entries": args.entries,
                "reads_matched": matched,
                "instructions": counts,
                "instructions_per_read": {m: round(v) for m, v in per_read.items()},
                "production_over_one": round(per_read["production"] / per_read["one"], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
