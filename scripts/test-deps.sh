#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine, and reuses what is
# already there: nats-server and MinIO (pinned, built with `go install` into
# .bin/, which git ignores) and the Debian tools the interoperability tests
# drive (dcmtk, admesh, orthanc) and the browser the web console's tests
# drive (chromium). Safe to run again: it does nothing when all
# is present.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.bin"
mkdir -p "$BIN"

NATS_VERSION=v2.15.2
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

install_go_tool() { # name module version
  local name=$1 mod=$2 ver=$3 stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then
    return
  fi
  echo "test-deps: building $name $ver into .bin/" >&2
  GOBIN="$BIN" go install "$mod@$ver"
  echo "$ver" > "$stamp"
}

install_go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_VERSION"
install_go_tool minio github.com/minio/minio "$MINIO_VERSION"

# Debian tools used by tests (dcmdump reads our de-identified output, dcmcrle makes
# RLE slices, storescu and echoscu talk to our DIMSE receiver, orthanc forwards
# studies to it, pydicom reads kept text in other character sets back;
# chromium, headless, drives the web console's pages).
need=()
command -v dcmdump >/dev/null 2>&1 || need+=(dcmtk)
command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
/usr/bin/python3 -c 'import pydicom' >/dev/null 2>&1 || need+=(python3-pydicom)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: apt-get install ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test-deps: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
