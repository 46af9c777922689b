#!/usr/bin/env bash
# De-identification benchmark: printreg's deid side by side, in one interleaved
# run, with gdcmanon's basic profile (-e, directory mode), the pydicom script and
# the plain Go read-and-write copy at the same parallelism, on the synthetic CT
# corpus of ../shared/bench/make_corpus.py. Reports files/s, MB/s and paired ratios.
#
# usage: bench/deid/run.sh [--small] [--rounds R]      (default: 1000 files, 11 rounds)
# Needs: the shared bench folder (SHARED, default ../shared next to the repo),
# hyperfine, dcmtk, libgdcm-tools, python3-pydicom, openssl, go.
# Scratch and results: $DCMBENCH_DIR (default ${TMPDIR:-/tmp}/dcmbench)/results-deid-<profile>.md
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
PY=${PYTHON:-/usr/bin/python3}
PROFILE=default; ROUNDS=11
while [ $# -gt 0 ]; do
  case $1 in
    --small) PROFILE=small ;;
    --rounds) ROUNDS=$2; shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "unknown arg $1" >&2; exit 2 ;;
  esac
  shift
done
: "${DCMBENCH_DIR:=${TMPDIR:-/tmp}/dcmbench}"
mkdir -p "$DCMBENCH_DIR"
DCMBENCH_DIR=$(cd "$DCMBENCH_DIR" && pwd)
export DCMBENCH_DIR
if [ $PROFILE = small ]; then CORPUS=$DCMBENCH_DIR/small; SMALL=--small; else CORPUS=$DCMBENCH_DIR/corpus; SMALL=; fi
OUT=$DCMBENCH_DIR/out

# The shared anchors script makes the corpus, the Go copy program and gdcmanon's certificate.
GOCOPY=$DCMBENCH_DIR/gocopy/gocopy
if [ ! -x "$GOCOPY" ] || [ ! -d "$CORPUS" ] || [ ! -f "$DCMBENCH_DIR/cert.pem" ]; then
  "$SHARED/bench/anchors.sh" $SMALL --only gocopy_j1 --runs 3 >/dev/null
fi
(cd "$REPO" && go build -o "$DCMBENCH_DIR/deid" ./cmd/deid)
[ -f "$DCMBENCH_DIR/deid-secret" ] || (umask 077; head -c 48 /dev/urandom | base64 > "$DCMBENCH_DIR/deid-secret")
chmod 600 "$DCMBENCH_DIR/deid-secret"
NFILES=$(find "$CORPUS" -type f | wc -l)
NBYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
find "$CORPUS" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache

D="$DCMBENCH_DIR/deid --secret-file $DCMBENCH_DIR/deid-secret --progress never"
FRESH="rm -rf '$OUT' && mkdir -p '$OUT/gd' && sync"
TSV=$DCMBENCH_DIR/deid-commands.tsv
{
  printf 'gocopy_j1\t%s\t%s\n' "$FRESH" "'$GOCOPY' -j 1 -mode readfile '$CORPUS' '$OUT/gc'"
  printf 'gocopy_j2\t%s\t%s\n' "$FRESH" "'$GOCOPY' -j 2 -mode readfile '$CORPUS' '$OUT/gc'"
  printf 'deid_j1\t%s\t%s\n' "$FRESH" "$D -j 1 -o '$OUT/d' '$CORPUS'"
  printf 'deid_j2\t%s\t%s\n' "$FRESH" "$D -j 2 -o '$OUT/d' '$CORPUS'"
  printf 'deid_basic_j2\t%s\t%s\n' "$FRESH" "$D -j 2 --basic -o '$OUT/d' '$CORPUS'"
  printf 'deid_j4\t%s\t%s\n' "$FRESH" "$D -j 4 -o '$OUT/d' '$CORPUS'"
  printf 'gdcmanon_basic\t%s\t%s\n' "$FRESH" "gdcmanon -e -c '$DCMBENCH_DIR/cert.pem' -r -i '$CORPUS' -o '$OUT/gd'"
  printf 'pydicom_deid\t%s\t%s\n' "$FRESH" "'$PY' '$SHARED/bench/pydicom_deid.py' '$CORPUS' '$OUT/py'"
} > "$TSV"
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc); loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "go: $(go version)"
  dpkg-query -W -f='pkg: ${Package} ${Version}\n' libgdcm-tools python3-pydicom 2>/dev/null || true
} > "$DCMBENCH_DIR/results-deid-$PROFILE.md"
cat "$DCMBENCH_DIR/results-deid-$PROFILE.md" >&2
"$PY" "$HERE/interleave.py" "$TSV" "$ROUNDS" "$NFILES" "$NBYTES" "$DCMBENCH_DIR/results-deid-$PROFILE.tmp"
cat "$DCMBENCH_DIR/results-deid-$PROFILE.tmp" >> "$DCMBENCH_DIR/results-deid-$PROFILE.md"
rm -f "$DCMBENCH_DIR/results-deid-$PROFILE.tmp"
rm -rf "$OUT"
