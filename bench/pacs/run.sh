#!/usr/bin/env bash
# C-STORE throughput: dcmtk's storescu sends the same 1,000 CT slices to
# dcmtk's storescp (writing files to disk) and to printreg's receiver,
# interleaved in one run. Prints instances/s per target and the ratio to
# storescp.
#
# Targets:
#   storescp        dcmtk's storescp -od DIR (files written, never fsynced)
#   printreg-dir    printreg into a directory store (each object fsynced and
#                   renamed, its directory fsynced, before the success status)
#   printreg-minio  printreg into MinIO (when a minio binary is found)
#   printreg-null   printreg spooling each instance and discarding it: the
#                   network and spool path alone, the ceiling of the above
#
# usage: bench/pacs/run.sh [CORPUS_DIR] [RUNS]
#   CORPUS_DIR  default ${TMPDIR:-/tmp}/pacs-bench/corpus; generated when
#               missing with MAKE_CORPUS (default /work/shared/bench/make_corpus.py:
#               4 studies x 250 slices, 527 MB, explicit VR little endian)
#   RUNS        timed runs per target (default 3), after one warm-up pass
# env: PDU (max PDU length for both servers, default 131072, storescp's maximum),
#      PARALLEL (associations at once, default 1: one storescu for the whole
#        corpus; N>1: one storescu per study folder, N at a time, storescp --fork),
#      DCMTK_NODELAY (default 1: TCP_NODELAY=1 for storescp and storescu, the
#        dcmtk setting that turns Nagle's algorithm off — without it this
#        Debian build's storescp waits ~40 ms per instance on delayed ACKs;
#        0 keeps dcmtk's defaults),
#      TARGETS (space separated, default all available),
#      MINIO (path of a minio binary; default <repo>/.bin/minio; "none" to skip),
#      PACSBENCH_WORK (scratch folder).
#
# The servers run in a private network namespace (unshare -n, needs root),
# so nothing listens outside it; without unshare they bind on loopback-only
# addresses where they can (storescp cannot: it listens on all interfaces).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${1:-${TMPDIR:-/tmp}/pacs-bench/corpus}
RUNS=${2:-3}
WORK=${PACSBENCH_WORK:-${TMPDIR:-/tmp}/pacs-bench/work}
PDU=${PDU:-131072}
PORT=${PORT:-11112}
PY=${PYTHON:-/usr/bin/python3}
PARALLEL=${PARALLEL:-1}
DCMTK_NODELAY=${DCMTK_NODELAY:-1}

if [ -z "${PACSBENCH_IN_NETNS:-}" ]; then
  for tool in storescu storescp echoscu; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (Debian: apt-get install dcmtk)" >&2; exit 1; }
  done
  if [ ! -d "$CORPUS" ]; then
    echo "# generating the corpus in $CORPUS" >&2
    "$PY" "${MAKE_CORPUS:-/work/shared/bench/make_corpus.py}" "$CORPUS" >&2
  fi
  CORPUS=$(cd "$CORPUS" && pwd)
  rm -rf "$WORK"; mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
  (cd "$ROOT" && go build -o "$WORK/receiver" ./bench/pacs/receiver)
  if unshare -n true 2>/dev/null; then
    exec unshare -n env PACSBENCH_IN_NETNS=1 PACSBENCH_WORK="$WORK" bash "$0" "$CORPUS" "$RUNS"
  fi
  echo "# unshare -n not available: running in the host network namespace" >&2
else
  ip link set lo up
fi

MINIO=${MINIO:-$ROOT/.bin/minio}
targets=(storescp printreg-dir printreg-null)
if [ -n "${TARGETS:-}" ]; then read -r -a targets <<<"$TARGETS"; fi
if [ "$MINIO" != none ] && [ -x "$MINIO" ] && { [ -z "${TARGETS:-}" ] || [[ " $TARGETS " == *" printreg-minio "* ]]; }; then
  export PRINTREG_S3_ACCESS_KEY="bench-$RANDOM$RANDOM" PRINTREG_S3_SECRET_KEY="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  MINIO_ROOT_USER=$PRINTREG_S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$PRINTREG_S3_SECRET_KEY MINIO_BROWSER=off \
    "$MINIO" server --quiet --address 127.0.0.1:19000 --console-address 127.0.0.1:19001 "$WORK/minio-data" \
    >"$WORK/minio.log" 2>&1 &
  MINIO_PID=$!
  for _ in $(seq 1 300); do
    curl -sf http://127.0.0.1:19000/minio/health/ready >/dev/null && break
    sleep 0.1
  done
  [[ " ${targets[*]} " == *" printreg-minio "* ]] || targets+=(printreg-minio)
fi
if [ "$DCMTK_NODELAY" = 1 ]; then export TCP_NODELAY=1; fi
FORK=()
[ "$PARALLEL" -gt 1 ] && FORK=(--fork)
cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "${MINIO_PID:-}" ] && kill "$MINIO_PID" 2>/dev/null && wait "$MINIO_PID" 2>/dev/null || true
}
trap cleanup EXIT

start() { # target
  rm -rf "$WORK/out" "$WORK/spool"; mkdir -p "$WORK/out" "$WORK/spool"
  case $1 in
    storescp) storescp "${FORK[@]}" -aet PRINTREG -pdu "$PDU" -od "$WORK/out" "$PORT" >"$WORK/server.log" 2>&1 & ;;
    printreg-dir) "$WORK/receiver" -listen "127.0.0.1:$PORT" -max-pdu "$PDU" -dir "$WORK/out" -spool "$WORK/spool" \
        >"$WORK/stats.json" 2>"$WORK/server.log" & ;;
    printreg-null) "$WORK/receiver" -listen "127.0.0.1:$PORT" -max-pdu "$PDU" -null -spool "$WORK/spool" \
        >"$WORK/stats.json" 2>"$WORK/server.log" & ;;
    printreg-minio) "$WORK/receiver" -listen "127.0.0.1:$PORT" -max-pdu "$PDU" -s3-endpoint 127.0.0.1:19000 -spool "$WORK/spool" \
        >"$WORK/stats.json" 2>"$WORK/server.log" & ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    echoscu -aec PRINTREG 127.0.0.1 "$PORT" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "bench: $1 did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

stop() { # target → prints the number of instances stored
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  case $1 in
    storescp) find "$WORK/out" -type f | wc -l ;;
    *) "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Stored"])' "$WORK/stats.json" ;;
  esac
}

send() { # → seconds
  local t0 t1
  t0=$(date +%s.%N)
  if [ "$PARALLEL" -le 1 ]; then
    storescu -R -xe -aet BENCH -aec PRINTREG +sd +r 127.0.0.1 "$PORT" "$CORPUS" >"$WORK/storescu.log" 2>&1 \
      || { echo "bench: storescu failed" >&2; tail "$WORK/storescu.log" >&2; exit 1; }
  else
    find "$CORPUS" -mindepth 1 -maxdepth 1 -type d | sort |
      xargs -P "$PARALLEL" -I{} storescu -R -xe -aet BENCH -aec PRINTREG +sd +r 127.0.0.1 "$PORT" {} >"$WORK/storescu.log" 2>&1 \
      || { echo "bench: storescu failed" >&2; tail "$WORK/storescu.log" >&2; exit 1; }
  fi
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

N=$(find "$CORPUS" -type f | wc -l)
BYTES=$(du -sb "$CORPUS" | cut -f1)
echo "# $N instances, $BYTES bytes; max PDU $PDU; $PARALLEL association(s) at a time; dcmtk TCP_NODELAY=${TCP_NODELAY:-unset}; $(nproc) cores; targets: ${targets[*]}" >&2
find "$CORPUS" -type f -exec cat {} + >/dev/null # warm the page cache

RESULTS=$WORK/results.tsv
: >"$RESULTS"
for run in $(seq 0 "$RUNS"); do
  # Rotate the order each run so no target always goes first.
  order=("${targets[@]:run%${#targets[@]}}" "${targets[@]:0:run%${#targets[@]}}")
  for target in "${order[@]}"; do
    start "$target"
    sync
    secs=$(send)
    stored=$(stop "$target")
    if [ "$stored" != "$N" ]; then
      echo "bench: $target stored $stored of $N instances" >&2; exit 1
    fi
    if [ "$run" -gt 0 ]; then
      printf '%s\t%s\t%s\n' "$target" "$run" "$secs" >>"$RESULTS"
      printf '# run %d %-15s %6.2f s  %7.1f inst/s\n' "$run" "$target" "$secs" "$(echo "$N / $secs" | bc -l)" >&2
    fi
  done
done

"$PY" - "$RESULTS" "$N" "$BYTES" <<'EOF'
import statistics, sys
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = {}
for line in open(path):
    t, _, s = line.split("\t")
    times.setdefault(t, []).append(float(s))
base = statistics.median(times["storescp"]) if "storescp" in times else None
print(f"| target | runs | median s | instances/s | MB/s | ratio to storescp |")
print(f"|---|---|---|---|---|---|")
for t, v in times.items():
    m = statistics.median(v)
    ratio = f"{base/m:.2f}" if base else "-"
    print(f"| {t} | {len(v)} | {m:.2f} | {n/m:.1f} | {size/m/1e6:.1f} | {ratio} |")
EOF
