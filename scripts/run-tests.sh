#!/usr/bin/env bash
# `make test`'s checks and suite, in lanes that keep both cores busy without tests that harm
# each other running side by side. Every lane always runs; any failure fails the whole.
#
#   1. Most of the suite on TEST_WORKERS xdist workers, the tests without a browser handed
#      out first (tests/conftest.py). Beside it: ruff, mypy, and the `netns` tests one at a
#      time. Their network namespaces make Chromium fail every request in flight
#      (net::ERR_NETWORK_CHANGED), so the session's browser tests wait until they end
#      (LIVEDASH_NETNS_RUNNING names a file that exists until then).
#   2. The `heavy` tests (many tabs drawing, high event rates), two at a time.
#
# Tests go to workers one at a time, the longest first, so none starts last beside idle
# workers. TEST_WORKERS=0: everything in one process, one part after another.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORKERS="${TEST_WORKERS:-3}"
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

# What runs beside lane 1 writes to a log, shown once lane 1 is over.
{ "$BIN/ruff" check src tests bench && "$BIN/ruff" format --check src tests bench \
    && "$BIN/mypy"; } >"$logs/checks" 2>&1 &
checks=$!
gate="$logs/netns-running"
touch "$gate"
{ "$BIN/pytest" -p no:xdist -m netns; rc=$?; rm -f "$gate"; exit $rc; } >"$logs/netns" 2>&1 &
netns=$!
LIVEDASH_NETNS_RUNNING="$gate" "$BIN/pytest" -n "$WORKERS" "${spread[@]}" \
  -m "not heavy and not netns" || status=1
for lane in checks netns; do
  wait "${!lane}" || status=1
  echo "---- $lane"
  cat "$logs/$lane"
done

"$BIN/pytest" -n 2 "${spread[@]}" -m heavy || status=1
exit $status
