#!/usr/bin/env bash
# Memory bound of deid on one large multi-frame object: writes a synthetic
# Enhanced CT of about 1 GiB (2048 frames of 512x512x16 bit, explicit VR little
# endian, with patient identifiers in the header), de-identifies it with the
# registry profile and reports wall time and peak RSS (GNU time).
#
# usage: bench/deid/bigobject.sh [FRAMES]     (default 2048 → 1 GiB)
# Scratch: $DCMBENCH_DIR (default ${TMPDIR:-/tmp}/dcmbench)/big; removed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
FRAMES=${1:-2048}
: "${DCMBENCH_DIR:=${TMPDIR:-/tmp}/dcmbench}"
W=$DCMBENCH_DIR/big
rm -rf "$W" && mkdir -p "$W/in" "$W/out"
trap 'rm -rf "$W"' EXIT
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

python3 - "$W/in/big.dcm" "$FRAMES" <<'PY'
import struct, sys
path, frames = sys.argv[1], int(sys.argv[2])
def el(g, e, vr, val):
    if isinstance(val, str):
        val = val.encode()
        if len(val) % 2:
            val += b"\0" if vr == "UI" else b" "
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", g, e, vr.encode(), 0, len(val)) + val
    return struct.pack("<HH2sH", g, e, vr.encode(), len(val)) + val
sop_class, sop = "1.2.840.10008.5.1.4.1.1.2.1", "1.2.826.0.1.3680043.10.543.77"
meta = el(2, 1, "OB", b"\0\1") + el(2, 2, "UI", sop_class) + el(2, 3, "UI", sop) + \
       el(2, 0x10, "UI", "1.2.840.10008.1.2.1")
ds = b"".join([
    el(8, 0x16, "UI", sop_class), el(8, 0x18, "UI", sop), el(8, 0x20, "DA", "20170314"),
    el(8, 0x60, "CS", "CT"), el(8, 0x80, "LO", "BIG GENERAL HOSPITAL"),
    el(0x10, 0x10, "PN", "BIGFAMILY^BIGGIVEN"), el(0x10, 0x20, "LO", "BIGPID01"),
    el(0x20, 0xD, "UI", "1.2.826.0.1.3680043.10.543.78"), el(0x20, 0xE, "UI", "1.2.826.0.1.3680043.10.543.79"),
    el(0x28, 2, "US", struct.pack("<H", 1)), el(0x28, 8, "IS", str(frames)),
    el(0x28, 0x10, "US", struct.pack("<H", 512)), el(0x28, 0x11, "US", struct.pack("<H", 512)),
    el(0x28, 0x100, "US", struct.pack("<H", 16)), el(0x28, 0x101, "US", struct.pack("<H", 12)),
])
frame = bytes(range(256)) * (512 * 512 * 2 // 256)
with open(path, "wb") as f:
    f.write(b"\0" * 128 + b"DICM")
    f.write(el(2, 0, "UL", struct.pack("<I", len(meta))) + meta + ds)
    f.write(struct.pack("<HH2sHI", 0x7FE0, 0x10, b"OW", 0, len(frame) * frames))
    for _ in range(frames):
        f.write(frame)
PY
ls -l "$W/in/big.dcm"
(umask 077; head -c 48 /dev/urandom | base64 > "$W/secret")
(cd "$REPO" && go build -o "$W/deid" ./cmd/deid)
/usr/bin/time -f 'wall %e s, peak RSS %M KiB' "$W/deid" --secret-file "$W/secret" -o "$W/out" --progress never "$W/in"
out=$(find "$W/out" -name '*.dcm')
ls -l "$out"
if grep -c -a -i 'BIGFAMILY\|BIGPID01\|BIG GENERAL' "$out" >/dev/null; then echo "identifiers left in the output" >&2; exit 1; fi
echo "identifiers gone; pixel data:"; cmp <(tail -c $((FRAMES*512*512*2)) "$W/in/big.dcm") <(tail -c $((FRAMES*512*512*2)) "$out") && echo "byte for byte equal"
