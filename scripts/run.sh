#!/usr/bin/env bash
# `make run`: trains a gallery from the dataset folder, starts the recognizer
# (with its embedded MQTT broker) and one edge on SOURCE (a camera index,
# device, stream URL or video file), and prints the dashboard URL.
# Stop with Ctrl-C; both processes are shut down cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DATASET=${DATASET:-dataset}
GALLERY=${GALLERY:-var/gallery.json}
CAMERA_ID=${CAMERA_ID:-cam1}
LISTEN=${LISTEN:-:8001}
BROKER_LISTEN=${BROKER_LISTEN:-:1883}
STATE=${STATE:-var}
HTTP_LISTEN=${HTTP_LISTEN:-:9101}
SOURCE=${SOURCE:-}
LOOP=()

if [ -z "$SOURCE" ]; then
  if [ -e /dev/video0 ]; then
    SOURCE=0
  else
    cat >&2 <<MSG
make run: no camera found (/dev/video0 is missing) and no SOURCE given.
Give a camera index, device, stream URL or video file, e.g.:
  make run SOURCE=/dev/video1
  make run SOURCE=rtsp://user:pass@192.168.1.20/stream1
  make run SOURCE=../shared/testdata/video/short_hamilton_clip.mp4
MSG
    exit 2
  fi
fi
if [ -f "$SOURCE" ]; then LOOP=(--loop); fi

mkdir -p "$DATASET" "$(dirname "$GALLERY")"
# Credentials: created once in $STATE (mode 0700) and printed once; later
# runs reuse them, and an upgraded install gets what is missing.
"$BIN/facemon-recognizer" users init --state "$STATE" --camera "$CAMERA_ID" --port "${BROKER_LISTEN##*:}"
echo "== training $GALLERY from $DATASET/ (one folder per person)"
"$BIN/facemon-recognizer" train --dataset "$DATASET" --gallery "$GALLERY"

pids=()
cleanup() { trap - INT TERM EXIT; for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait; }
trap cleanup INT TERM EXIT

port=${BROKER_LISTEN##*:}
if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
  echo "make run: port $port is already in use (another MQTT broker, e.g. a mosquitto service?)." >&2
  echo "Stop it, or use it: run the recognizer with --broker tcp://127.0.0.1:$port, or pick another port: make run BROKER_LISTEN=:1884" >&2
  exit 1
fi
echo "== starting recognizer (embedded MQTT broker on $BROKER_LISTEN)"
"$BIN/facemon-recognizer" serve --gallery "$GALLERY" --dataset "$DATASET" --state "$STATE" --listen "$BROKER_LISTEN" \
  --http "$HTTP_LISTEN" &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.2; done

echo "== starting edge $CAMERA_ID on $SOURCE"
"$BIN/facemon-edge" --broker "tcp://127.0.0.1:$port" --camera-id "$CAMERA_ID" --source "$SOURCE" \
  --username "edge-$CAMERA_ID" --password-file "$STATE/secrets/edge-$CAMERA_ID" \
  --login-file "$STATE/dashboard.bcrypt" --state "$STATE/edge" \
  --listen "$LISTEN" --dataset "$DATASET" --recognizer-url "http://127.0.0.1:${HTTP_LISTEN##*:}" "${LOOP[@]}" &
pids+=($!)

host=$(hostname -I 2>/dev/null | awk '{print $1}'); host=${host:-localhost}
cat <<MSG

  Dashboard:   http://localhost:${LISTEN##*:}/   (from other machines: http://$host:${LISTEN##*:}/)
               log in as admin with the dashboard password printed when $STATE/ was created
               (forgotten? bin/facemon-recognizer users rotate admin --state $STATE)
  MJPEG feed:  http://localhost:${LISTEN##*:}/video_feed  (after logging in)
  MQTT broker: tcp://$host:$port   (users and passwords: bin/facemon-recognizer users list --state $STATE)
  Another camera: bin/facemon-recognizer users add camera NAME --state $STATE   (prints its command line)
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
