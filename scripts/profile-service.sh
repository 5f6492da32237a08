#!/usr/bin/env bash
# Profiles the recognizer's service path as a user runs it: `serve` with its
# embedded broker, history and Home Assistant discovery on, one facemon-edge
# playing the shared video in a loop at 10 fps. After a warm-up it takes a
# CPU profile of serve (/debug/pprof/profile) and reads serve's CPU time
# from /proc and its processed-frame counter over the same window.
#   scripts/profile-service.sh OUT_DIR [SECONDS]
# Needs bin/facemon-recognizer, bin/facemon-edge and var/bench-gallery.json
# (see the bench-pipeline target). Prints CPU-ms per processed frame.
set -euo pipefail
out=${1:?usage: profile-service.sh OUT_DIR [SECONDS]}
secs=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FACEMON_SHARED:-$root/../shared}
mkdir -p "$out"
tmp=$(mktemp -d)
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
mq=$(port); http=$(port); eh=$(port)
export OPENBLAS_NUM_THREADS=1
"$root/bin/facemon-recognizer" serve --gallery "$root/var/bench-gallery.json" --listen "127.0.0.1:$mq" \
	--allow-anonymous --state "$tmp/state" --dataset "$tmp/dataset" --history "$tmp/history.db" \
	--http "127.0.0.1:$http" --instance prof --log-level warn >"$out/serve.log" 2>&1 &
serve=$!
trap 'kill $serve ${edge:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$http/metrics" >/dev/null && break; sleep 1; done
"$root/bin/facemon-edge" --broker "tcp://127.0.0.1:$mq" --camera-id prof0 --source "$shared/testdata/video/short_hamilton_clip.mp4" \
	--loop --fps 10 --listen "127.0.0.1:$eh" --state "$tmp/edge/state" --dataset "$tmp/edge/dataset" --no-login --log-level warn >"$out/edge.log" 2>&1 &
edge=$!
sleep 15 # warm-up: the edge registers, the first detections run
count() { curl -sf "http://127.0.0.1:$http/metrics" | awk '$1=="facemon_recognizer_frames_processed_total"{print $2}'; }
cpu() { awk '{print $14+$15}' "/proc/$serve/stat"; }
n0=$(count); c0=$(cpu)
curl -sf -o "$out/cpu.pprof" "http://127.0.0.1:$http/debug/pprof/profile?seconds=$secs"
n1=$(count); c1=$(cpu)
tck=$(getconf CLK_TCK)
curl -sf "http://127.0.0.1:$http/metrics" | grep -E '^facemon_recognizer_(frames|stage_seconds_sum)' >"$out/metrics.txt" || true
awk -v n0="$n0" -v n1="$n1" -v c0="$c0" -v c1="$c1" -v t="$tck" -v s="$secs" 'BEGIN{
	f=n1-n0; ms=(c1-c0)*1000/t; printf "window %ds: %d frames processed, serve CPU %.0f ms = %.2f CPU-ms/frame (%.1f%% of a core)\n", s, f, ms, ms/f, ms/10/s }' | tee "$out/summary.txt"
go tool pprof -top -nodecount=45 "$root/bin/facemon-recognizer" "$out/cpu.pprof" 2>/dev/null >"$out/top.txt" || true
go tool pprof -top -cum -nodecount=60 "$root/bin/facemon-recognizer" "$out/cpu.pprof" 2>/dev/null >"$out/topcum.txt" || true
