#!/usr/bin/env bash
# Profile the whole `serve` process (native dlib/OpenBLAS/libjpeg/OpenCV, Go,
# kernel) during a one-camera live bench, with perf's cpu-clock event (no
# hardware counters needed), and print the areas of scripts/perf-areas.py.
#   BIN=bin/facemon-recognizer VIEWER=true|false (default true)  SECONDS_REC=20  OUT=/tmp/facemon-perf
# Needs linux-perf (Debian) and bin/ built; FACEMON_SHARED for the video.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWER=${VIEWER:-true}
SECONDS_REC=${SECONDS_REC:-20}
OUT=${OUT:-/tmp/facemon-perf}
mkdir -p "$OUT"
command -v perf >/dev/null || { echo "perf not found: apt-get install linux-perf" >&2; exit 1; }
: "${FACEMON_SHARED:?set FACEMON_SHARED}"
"${BIN:-bin/facemon-recognizer}" bench --live embedded --cameras 1 --fps 10 --duration 30s --viewer="$VIEWER" \
  --video "$FACEMON_SHARED/testdata/video/short_hamilton_clip.mp4" --gallery "${GALLERY:-var/bench-gallery.json}" \
  >"$OUT/bench.log" 2>&1 &
bench=$!
pid=
for _ in $(seq 1 100); do
  pid=$(pgrep -f -- '--instance bench-live' | head -1 || true)
  [ -n "$pid" ] && break
  sleep 0.1
done
[ -n "$pid" ] || { echo "serve did not start" >&2; kill $bench; exit 1; }
sleep 6 # models loaded, frames flowing
perf record -e cpu-clock -F 1999 -p "$pid" -o "$OUT/perf.data" -- sleep "$SECONDS_REC" >/dev/null 2>&1
wait $bench
per=$(awk '/^ *[0-9]+ +[0-9]+ +[0-9.]+%/ {print $9; exit}' "$OUT/bench.log")
grep -A2 '^published' "$OUT/bench.log"
perf report -i "$OUT/perf.data" --no-children -g none --percentage relative --sort dso,sym -q 2>/dev/null |
  python3 scripts/perf-areas.py ${per:+"$per"}
