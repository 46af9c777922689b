#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short time (FUZZTIME, default 10s)
# so that `make test` exercises the parsers with generated input, not only with
# the seed corpus. Long fuzzing sessions: go test -fuzz=NAME -fuzztime=30m ./pkg/...
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
status=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "fuzz: ./$dir $name ($FUZZTIME)"
    if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "./$dir" >/tmp/fuzz-$$.log 2>&1; then
      cat /tmp/fuzz-$$.log
      status=1
    fi
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' pkg cmd internal 2>/dev/null | sort)
rm -f /tmp/fuzz-$$.log
exit $status
