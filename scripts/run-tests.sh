#!/usr/bin/env bash
# `make test`'s checks and suite, in lanes that keep both cores busy without tests that harm
# each other running side by side. Every lane always runs; any failure fails the whole.
#
#   1. ruff and mypy, the tests that use no browser (TEST_WORKERS + 1 xdist workers) and, beside
#      them, the `netns` tests one at a time: their network namespaces make Chromium fail
#      every request in flight (net::ERR_NETWORK_CHANGED), so no browser may run meanwhile;
#   2. the browser tests (TEST_WORKERS workers);
#   3. the `heavy` tests (many tabs drawing, high event rates), two at a time.
#
# Every lane's pytest starts at once: its workers import and collect while the lanes before it
# run (~4 s of both cores each, at every change of lane), then wait to run their first test
# until those lanes are over (a shared lock on the lane's gate, tests/conftest.py, which this
# script holds until then). A lane's output follows the one before it on the terminal.
#
# Tests go to workers one at a time, the longest first, each paired with a short one
# (tests/conftest.py), so none starts last beside idle workers. TEST_WORKERS=0: everything
# in one process, one lane after another.
set -uo pipefail
cd "$(dirname "$0")/.."
# Cache bytecode even where the environment says not to (this machine sets
# PYTHONDONTWRITEBYTECODE): pytest then rewrites the asserts of dash, hypothesis and livedash
# once, not in every one of the suite's dozen pytest processes (collection: 5.0 -> 1.8 CPU-s
# each), and every served app after the first imports compiled code.
unset PYTHONDONTWRITEBYTECODE
BIN=.venv/bin
WORKERS="${TEST_WORKERS:-3}"
LIGHT="not browser and not heavy and not netns"
status=0

if [ "$WORKERS" = 0 ]; then
  "$BIN/ruff" check src tests bench && "$BIN/ruff" format --check src tests bench \
    && "$BIN/mypy" || status=1
  "$BIN/pytest" -p no:xdist -m "not heavy and not netns" || status=1
  "$BIN/pytest" -p no:xdist -m "heavy or netns" || status=1
  exit $status
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
spread=(--dist load --maxschedchunk 1)

# The gates of lanes 2 and 3, locked before anything starts. A lock is held by its open file,
# so no child may inherit these descriptors: every command below closes them (8>&- 9>&-).
exec 8>"$logs/browser.gate" 9>"$logs/heavy.gate"
flock 8 && flock 9 || exit 1

LIVEDASH_TEST_GATE="$logs/browser.gate" "$BIN/pytest" -n "$WORKERS" "${spread[@]}" \
  -m "browser and not heavy and not netns" >"$logs/browser" 2>&1 8>&- 9>&- &
browser=$!
LIVEDASH_TEST_GATE="$logs/heavy.gate" "$BIN/pytest" -n 2 "${spread[@]}" -m heavy \
  >"$logs/heavy" 2>&1 8>&- 9>&- &
heavy=$!

# Lane 1: what runs beside the light tests writes to a log, shown once it is over.
{ "$BIN/ruff" check src tests bench && "$BIN/ruff" format --check src tests bench \
    && "$BIN/mypy"; } >"$logs/checks" 2>&1 8>&- 9>&- &
checks=$!
"$BIN/pytest" -p no:xdist -m netns >"$logs/netns" 2>&1 8>&- 9>&- &
netns=$!
# One worker more here: these tests wait more than they compute (servers starting, Redis
# restarting, paced producers), so a fourth keeps the cores busy (measured alone: 92 -> 84 s).
"$BIN/pytest" -n "$((WORKERS + 1))" "${spread[@]}" -m "$LIGHT" 8>&- 9>&- || status=1
for lane in checks netns; do
  wait "${!lane}" || status=1
  echo "---- $lane"
  cat "$logs/$lane"
done

# Lanes 2 and 3: closing a gate's descriptor opens it; the lane's log shows live from there.
exec 8>&-
for lane in browser heavy; do
  echo "---- $lane"
  tail -n +1 -s 0.2 -f --pid="${!lane}" "$logs/$lane" 9>&- &
  shown=$!
  wait "${!lane}" || status=1
  exec 9>&-
  wait "$shown"
done
exit $status
