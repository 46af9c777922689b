#!/usr/bin/env bash
# Side-by-side: pkg/mesh (through bench/mesh/meshstat) against `admesh -e`
# (Debian admesh) on the same generated closed mesh, timed with hyperfine in
# one run; prints both times and the ratio.
#
#   bench/mesh/compare.sh                      # 2M-triangle binary STL
#   TRIANGLES=500000 FORMATS="stl ascii-stl" RUNS=5 bench/mesh/compare.sh
#
# Both tools read the file from the page cache (hyperfine warms up first)
# and run single-threaded. hyperfine runs all of one command's runs before
# the other's; on a loaded machine bench/mesh/alternate.py, which
# alternates them run by run, gives the fairer ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."

TRIANGLES=${TRIANGLES:-2000000}
FORMATS=${FORMATS:-stl}
RUNS=${RUNS:-10}
GO=${GO:-go}

for tool in admesh hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed (apt-get install -y admesh hyperfine python3)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$GO" build -o "$work/meshstat" ./bench/mesh/meshstat
"$GO" build -o "$work/genmesh" ./bench/mesh/genmesh

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "admesh: $(admesh --version 2>&1 | head -1); go: $("$GO" env GOVERSION)"
for fmt in $FORMATS; do
  file="$work/torus.$fmt"
  "$work/genmesh" -triangles "$TRIANGLES" -format "$fmt" -o "$file" >/dev/null
  size=$(stat -c %s "$file")
  # both must read the same mesh
  ours=$(GOMAXPROCS=1 "$work/meshstat" "$file" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["triangles"], r["watertight"], round(r["volume_mm3"], 3))')
  theirs=$(admesh -e "$file" | awk '/Number of facets/ {print $5; exit}')
  echo
  echo "== $fmt: $size bytes; pkg/mesh: triangles watertight volume = $ours; admesh facets = $theirs"
  hyperfine --warmup 2 --runs "$RUNS" --style basic --export-json "$work/$fmt.json" \
    -n pkg/mesh "GOMAXPROCS=1 $work/meshstat $file" \
    -n "admesh -e" "admesh -e $file" >/dev/null
  python3 - "$work/$fmt.json" "${ours%% *}" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
tris = int(sys.argv[2])
ours, theirs = res["pkg/mesh"], res["admesh -e"]
for name, r in (("pkg/mesh", ours), ("admesh -e", theirs)):
    print(f"{name:10s} median {r['median']*1000:8.1f} ms  mean {r['mean']*1000:8.1f} ms ± {r['stddev']*1000:5.1f}  "
          f"min {r['min']*1000:8.1f} ms  user {r['user']*1000:7.1f} ms  {tris / r['median'] / 1e6:6.2f} M triangles/s")
print(f"ratio (admesh / pkg/mesh): median {theirs['median'] / ours['median']:.2f}x   "
      f"mean {theirs['mean'] / ours['mean']:.2f}x   min {theirs['min'] / ours['min']:.2f}x")
PY
done
