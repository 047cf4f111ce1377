#!/usr/bin/env bash
# Before/after: `veille bench ingest` (bulk and one-event shapes) and `veille bench alerts`
# on an earlier commit and on this checkout, alternating, same options, same run, so that
# the machine's load weighs on both alike. The alerts bench was rewritten since (its
# background is now verified, and it fails a run whose background stopped), so both trees
# are timed with BASE's own harness (`alerts-*.json`, like for like); this checkout's
# stricter bench runs on this checkout alone (`alerts-new-after-*.json`).
# JSON results go to $OUT (default var/bench-before-after/<bench>-<before|after>-<round>.json).
#   scripts/bench-before-after.sh [BASE_REV]      (default b04b4d8, before issue 10)
#   ROUNDS=3 scripts/bench-before-after.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-b04b4d8}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-var/bench-before-after}
PY=$PWD/.venv/bin/python
mkdir -p "$OUT"
before=$(mktemp -d)
trap 'git worktree remove --force "$before" >/dev/null 2>&1 || true; rm -rf "${harness:-}"' EXIT
git worktree add --detach "$before" "$BASE" >/dev/null
harness=$(mktemp -d)
git show "$BASE:src/veille/bench/alerts.py" > "$harness/base_alerts.py"
cat > "$harness/run_base_alerts.py" <<'PY'
import inspect, json, sys
sys.path.insert(0, sys.argv[1])
import base_alerts
from veille.service import hotlists
if "snapshot" in inspect.signature(hotlists.import_list).parameters:  # setup only: an
    imports = hotlists.import_list  # import now compares from a snapshot first
    hotlists.import_list = lambda *, uow, **kw: imports(uow=uow, snapshot=lambda: uow, **kw)
config = base_alerts.AlertBenchConfig(background_rate=5000, probes=300, hotlist_entries=10_000)
print(json.dumps(base_alerts.run_alert_bench(config), default=str))
PY
run() {  # run <tree> <side> <round>
  (cd "$1" && PYTHONPATH=src "$PY" -m veille bench ingest --reads 100000 --batch 1000 --json 2>/dev/null > "$OLDPWD/$OUT/ingest1000-$2-$3.json")
  (cd "$1" && PYTHONPATH=src "$PY" -m veille bench ingest --reads 30000 --batch 1 --concurrency 64 --cameras 500 --json 2>/dev/null > "$OLDPWD/$OUT/ingest1-$2-$3.json")
  (cd "$1" && PYTHONPATH=src "$PY" "$harness/run_base_alerts.py" "$harness" 2>/dev/null > "$OLDPWD/$OUT/alerts-$2-$3.json")
  if [ "$2" = after ]; then  # the stricter bench exits 1 on a run whose check failed
    (cd "$1" && PYTHONPATH=src "$PY" -m veille bench alerts --json 2>/dev/null > "$OLDPWD/$OUT/alerts-new-after-$3.json") || true
  fi
}
for r in $(seq 1 "$ROUNDS"); do
  run "$before" before "$r"
  run "$PWD" after "$r"
done
echo "results in $OUT"
