#!/usr/bin/env bash
# Runs one Go fuzz target for a bounded time: scripts/fuzz.sh MODULE PKG NAME FUZZTIME CACHEDIR
# A crash or failing input fails the run (Go writes it to PKG/testdata/fuzz/NAME/, to be
# committed with its fix). Go's fuzzer sometimes ends a clean run with a bare "context
# deadline exceeded" when -fuzztime runs out while it is minimizing a new input (a
# toolchain issue, no input written, seen here in CI); only that case is run once more.
set -uo pipefail
mod=$1 pkg=$2 name=$3 fuzztime=$4 cache=$5
# A target that no longer exists (moved or renamed) would "pass" with nothing fuzzed.
listed=$(cd "$mod" && go test -list "^${name}\$" "$pkg" 2>/dev/null)
if ! grep -qx "$name" <<< "$listed"; then
  echo "fuzz: no fuzz target $name in $mod/$pkg (moved or renamed? update FUZZ_TARGETS in the Makefile)" >&2
  exit 1
fi
for attempt in 1 2; do
  out=$(cd "$mod" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" -test.fuzzcachedir "$cache" 2>&1)
  rc=$?
  printf '%s\n' "$out" | tail -n 4
  [ $rc -eq 0 ] && exit 0
  if [ $attempt -eq 1 ] && printf '%s\n' "$out" | grep -q 'context deadline exceeded' &&
     ! printf '%s\n' "$out" | grep -q 'Failing input written'; then
    echo "fuzz $name: the fuzzer's own deadline ended the run, no failing input; running it once more"
    continue
  fi
  printf '%s\n' "$out"
  exit $rc
done
exit 1
