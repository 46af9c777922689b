#!/usr/bin/env bash
# Header-only metadata extraction, side by side in one run: printreg's
# extract (1 worker and all CPUs) against dcmtk's header-only dcmdump -M and
# pydicom's stop_before_pixels read, on the same synthetic CT corpus.
#
#   bench/meta.sh [CORPUS_DIR]
#
# Needs: hyperfine, dcmtk, python3-pydicom (Debian packages) and the baseline
# scripts from the printreg benchmark kit (BENCH_KIT, default ../shared/bench:
# make_corpus.py, pydicom_meta.py). The corpus is generated when missing
# (4 studies x 250 CT slices of 512x512, 527 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${BENCH_KIT:-../shared/bench}
WORK=${DCMBENCH_DIR:-${TMPDIR:-/tmp}/dcmbench}
CORPUS=${1:-$WORK/corpus}
RUNS=${RUNS:-5}
PY=${PYTHON:-/usr/bin/python3}
mkdir -p "$WORK/out"
if [ ! -d "$CORPUS" ]; then
  "$PY" "$KIT/make_corpus.py" "$CORPUS"
fi
N=$(find "$CORPUS" -type f | wc -l)
go build -o "$WORK/extract" ./cmd/extract
find "$CORPUS" -type f -print0 | xargs -0 cat > /dev/null   # warm the page cache
hyperfine --warmup 1 --runs "$RUNS" --export-json "$WORK/meta.json" \
  -n extract_j1 "$WORK/extract -j 1 --progress never '$CORPUS' > '$WORK/out/meta.json'" \
  -n extract "$WORK/extract --progress never '$CORPUS' > '$WORK/out/meta.json'" \
  -n dcmdump_hdr "dcmdump -q -M +sd +r '$CORPUS' > '$WORK/out/dump.txt'" \
  -n pydicom_meta "$PY '$KIT/pydicom_meta.py' '$CORPUS' '$WORK/out/meta.jsonl'" >&2
"$PY" - "$WORK/meta.json" "$N" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
fps = {k: n / v["median"] for k, v in res.items()}
print(f"files: {n}")
print("| tool | median s | files/s | extract_j1 / tool | extract / tool |")
print("|---|--:|--:|--:|--:|")
for k, v in res.items():
    print(f"| {k} | {v['median']:.3f} | {fps[k]:,.0f} | {fps['extract_j1']/fps[k]:.2f}x | {fps['extract']/fps[k]:.2f}x |")
PY
