#!/usr/bin/env bash
# Installs facemon binaries, systemd units and their settings files.
#
#   sudo make install                                  # everything built in bin/
#   sudo make install COMPONENTS=edge                  # a camera Pi
#   sudo make install COMPONENTS=edge BINDIR_FROM=bin/linux-arm64   # cross-built copy
#   make install DESTDIR=/tmp/stage PREFIX=/usr        # staged (packaging)
#
# Variables: PREFIX (/usr/local), DESTDIR (empty), COMPONENTS (broker
# recognizer edge; those with a built binary), BINDIR_FROM (bin), MODELS
# (models/data, copied to $PREFIX/share/facemon/models for the recognizer).
# Existing /etc/facemon/*.env files are kept (new templates are written
# beside them as *.env.new). With an empty DESTDIR and as root it also
# creates the facemon system user (in group video for the edge), the state
# directory /var/lib/facemon and runs systemctl daemon-reload; it never
# enables or starts a service (see docs/install.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BINDIR_FROM=${BINDIR_FROM:-bin}
MODELS=${MODELS:-models/data}
COMPONENTS=${COMPONENTS:-}
if [ -z "$COMPONENTS" ]; then
  for c in broker recognizer edge; do [ -x "$BINDIR_FROM/facemon-$c" ] && COMPONENTS="$COMPONENTS $c"; done
fi
[ -n "${COMPONENTS// /}" ] || { echo "install: no binaries in $BINDIR_FROM (run make build or make cross-arm64 first)" >&2; exit 1; }

bindir="$DESTDIR$PREFIX/bin"
unitdir="$DESTDIR/etc/systemd/system"
[ "$PREFIX" = /usr ] && unitdir="$DESTDIR/usr/lib/systemd/system"
confdir="$DESTDIR/etc/facemon"
install -d -m 0755 "$bindir" "$unitdir"
install -d -m 0750 "$confdir"

for c in $COMPONENTS; do
  case $c in broker | recognizer | edge) ;; *) echo "install: unknown component $c" >&2; exit 2 ;; esac
  bin="$BINDIR_FROM/facemon-$c"
  [ -x "$bin" ] || { echo "install: $bin missing (make build or make cross-arm64)" >&2; exit 1; }
  install -m 0755 "$bin" "$bindir/facemon-$c"
  sed -e "s#/usr/local/bin/#$PREFIX/bin/#g" -e "s#/usr/local/share/facemon/#$PREFIX/share/facemon/#g" \
    "deploy/systemd/facemon-$c.service" > "$unitdir/facemon-$c.service"
  chmod 0644 "$unitdir/facemon-$c.service"
  env="$confdir/$c.env"
  if [ -e "$env" ]; then
    sed -e "s#/usr/local/share/facemon/#$PREFIX/share/facemon/#g" "deploy/systemd/$c.env" > "$env.new"
    chmod 0640 "$env.new"
    echo "install: kept $env (new template: $env.new)"
  else
    sed -e "s#/usr/local/share/facemon/#$PREFIX/share/facemon/#g" "deploy/systemd/$c.env" > "$env"
    chmod 0640 "$env"
  fi
  echo "install: facemon-$c -> $bindir, unit -> $unitdir, settings -> $env"
done

if [[ " $COMPONENTS " == *" recognizer "* ]]; then
  [ -x "$BINDIR_FROM/facemon-models" ] && install -m 0755 "$BINDIR_FROM/facemon-models" "$bindir/facemon-models"
  if [ -d "$MODELS" ] && ls "$MODELS"/*.dat >/dev/null 2>&1; then
    install -d -m 0755 "$DESTDIR$PREFIX/share/facemon/models"
    install -m 0644 "$MODELS"/*.dat "$DESTDIR$PREFIX/share/facemon/models/"
    echo "install: models -> $DESTDIR$PREFIX/share/facemon/models"
  else
    echo "install: no models in $MODELS (run make models); the recognizer needs them in $PREFIX/share/facemon/models" >&2
  fi
fi

if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
  if ! id facemon >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/facemon --no-create-home --shell /usr/sbin/nologin facemon
    echo "install: created system user facemon"
  fi
  if [[ " $COMPONENTS " == *" edge "* ]] && getent group video >/dev/null; then
    usermod -a -G video facemon
  fi
  chgrp facemon "$confdir" "$confdir"/*.env*
  install -d -m 0700 -o facemon -g facemon /var/lib/facemon
  command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true
  echo "install: done; edit $confdir/*.env, then: systemctl enable --now$(for c in $COMPONENTS; do printf ' facemon-%s' "$c"; done)"
fi
