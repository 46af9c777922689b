#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time (FUZZTIME, default 10s)
# so that `make test` exercises the parsers with generated input, not only with
# the seed corpus. Long fuzzing sessions:
#   go test -fuzz=NAME -fuzztime=30m -fuzzminimizetime=10s ./pkg/...
#
# Minimizing is capped (FUZZMINIMIZE, default 1s): Go minimizes each new
# interesting input for up to 60s, which on some targets takes the whole of
# a short run (FuzzDecode: about 150 executions in 10s uncapped, about
# 50,000 capped). A failing input is still written, minimized for the cap.
#
# A target fails the run when it finds a failing input (written under
# testdata/fuzz/ for `go test` to replay) or fails for any other reason twice.
# The Go fuzzing coordinator can itself report "context deadline exceeded" as
# -fuzztime ends on a loaded machine (golang/go#75804); such a run, with no
# failing input, is retried once and then reported as a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
FUZZMINIMIZE=${FUZZMINIMIZE:-1s}
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { go test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" -fuzzminimizetime="$FUZZMINIMIZE" "./$1" >"$log" 2>&1; }
# execs prints how many inputs the last run executed, so that a log shows
# the targets were fuzzed, not only started.
execs() { grep -oE 'execs: [0-9]+' "$log" | tail -1 | awk '{print $2 " executions"}'; }
# try runs a target and, when it passes, says so with its executions.
try() { run "$1" "$2" && echo "fuzz: ./$1 $2: ok, $(execs)"; }
while IFS= read -r file; do
  dir=$(dirname "$file")
  for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "fuzz: ./$dir $name ($FUZZTIME)"
    try "$dir" "$name" && continue
    if ! grep -q 'Failing input written' "$log"; then
      echo "fuzz: ./$dir $name: no failing input; running again"
      try "$dir" "$name" && continue
      if ! grep -q 'Failing input written' "$log" && grep -q 'context deadline exceeded' "$log"; then
        echo "fuzz: WARNING ./$dir $name: the fuzzing coordinator timed out twice without a failing input"
        continue
      fi
    fi
    cat "$log"
    status=1
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' pkg cmd internal 2>/dev/null | sort)
exit $status
