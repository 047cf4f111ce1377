#!/usr/bin/env bash
# Before/after: `veille bench ingest` (bulk and one-event shapes) and `veille bench alerts`
# on an earlier commit and on this checkout, alternating, same options, same run, so that
# the machine's load weighs on both alike. JSON results go to $OUT (default
# var/bench-before-after/<bench>-<before|after>-<round>.json).
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
trap 'git worktree remove --force "$before" >/dev/null 2>&1 || true' EXIT
git worktree add --detach "$before" "$BASE" >/dev/null
run() {  # run <tree> <side> <round>
  (cd "$1" && PYTHONPATH=src "$PY" -m veille bench ingest --reads 100000 --batch 1000 --json 2>/dev/null > "$OLDPWD/$OUT/ingest1000-$2-$3.json")
  (cd "$1" && PYTHONPATH=src "$PY" -m veille bench ingest --reads 30000 --batch 1 --concurrency 64 --cameras 500 --json 2>/dev/null > "$OLDPWD/$OUT/ingest1-$2-$3.json")
  (cd "$1" && PYTHONPATH=src "$PY" -m veille bench alerts --json 2>/dev/null > "$OLDPWD/$OUT/alerts-$2-$3.json")
}
for r in $(seq 1 "$ROUNDS"); do
  run "$before" before "$r"
  run "$PWD" after "$r"
done
echo "results in $OUT"
