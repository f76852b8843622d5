#!/usr/bin/env bash
# tests/differential/run.sh - mxray against independent implementations (pyspf, checkdmarc) on the
# generated world, column by column; fails on any difference that docs/DIFFERENTIAL.md does not list.
#
#   tests/differential/run.sh --install-only   make the venv and install the pinned peers (needs PyPI:
#                                              run it OUTSIDE the private network namespace)
#   tests/differential/run.sh                  sample of the world (every case of the generator), CI
#   tests/differential/run.sh --full           every domain of the world
#
# The run needs the fixtures (tests/fixtures/up.sh; `set -a; . $FIXTURES_DIR/run/env; set +a`) and runs
# inside their namespace (`ip netns exec NS tests/differential/run.sh`): all three tools ask only
# $MXRAY_TEST_RESOLVER, which must be on loopback.
# Environment:
#   MXRAY_DIFF_VENV    the venv (default ${TMPDIR:-/tmp}/mxray-venv)
#   MXRAY_BIN          the mxray binary (default target/debug/mxray, what cargo test builds)
#   MXRAY_DIFF_OUT     work directory (default ${TMPDIR:-/tmp}/mxray-differential), emptied first
#   MXRAY_DIFF_SAMPLE  sample size (default 2400; at least 10 domains of every case come first)
#   MXRAY_DIFF_JOBS    peer processes (default 4)
#   MXRAY_DIFF_VERBOSE=1  also print every known difference and the peers' raw output of unknown ones
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${MXRAY_DIFF_VENV:-${TMPDIR:-/tmp}/mxray-venv}
REQ=$HERE/requirements.txt
T0=$EPOCHREALTIME
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "[differential +$(el "$T0")s] $*" >&2; }
die() { echo "differential: $*" >&2; exit 2; }

install() {
  local stamp
  stamp="$(cksum < "$REQ") $(python3 --version 2>&1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.mxray-stamp" 2>/dev/null)" = "$stamp" ]; then
    log "venv $VENV already has the pinned peers"
    return 0
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQ"
  "$VENV/bin/python" -c 'import spf, dns.resolver, checkdmarc'
  echo "$stamp" > "$VENV/.mxray-stamp"
  log "venv $VENV: $("$VENV/bin/pip" freeze | grep -Ei '^(pyspf|dnspython|checkdmarc)==' | tr '\n' ' ')"
}

FULL=0
case "${1:-}" in
  --install-only) install; exit 0 ;;
  --full) FULL=1 ;;
  "") ;;
  *) die "usage: $0 [--install-only | --full]" ;;
esac

[ -x "$VENV/bin/python" ] || die "no venv at $VENV: run $0 --install-only first (with network)"
[ "$(cat "$VENV/.mxray-stamp" 2>/dev/null | cut -d' ' -f1-2)" = "$(cksum < "$REQ")" ] \
  || die "venv $VENV does not have the pinned peers of $REQ: run $0 --install-only"
: "${MXRAY_TEST_RESOLVER:?set by the fixtures: . \$FIXTURES_DIR/run/env}"
: "${MXRAY_TEST_WORLD:?set by the fixtures: . \$FIXTURES_DIR/run/env}"
case "$MXRAY_TEST_RESOLVER" in
  127.*:*) ;;
  *) die "MXRAY_TEST_RESOLVER=$MXRAY_TEST_RESOLVER is not ADDRESS:PORT on loopback" ;;
esac
BIN=${MXRAY_BIN:-$REPO/target/debug/mxray}
[ -x "$BIN" ] || die "no mxray binary at $BIN (cargo build, or set MXRAY_BIN)"
OUT=${MXRAY_DIFF_OUT:-${TMPDIR:-/tmp}/mxray-differential}
rm -rf "$OUT"
mkdir -p "$OUT"
PY=$VENV/bin/python
DIFF=$HERE/differential.py

if [ "$FULL" = 1 ]; then
  "$PY" "$DIFF" sample --world "$MXRAY_TEST_WORLD" --out "$OUT/sample.jsonl" --all
else
  "$PY" "$DIFF" sample --world "$MXRAY_TEST_WORLD" --out "$OUT/sample.jsonl" --total "${MXRAY_DIFF_SAMPLE:-2400}"
fi

t=$EPOCHREALTIME
"$BIN" scan --domains "$OUT/sample.jsonl.txt" --out "$OUT/mxray" --resolver "$MXRAY_TEST_RESOLVER" \
  --allow-loopback --no-hosts --format csv --quiet > "$OUT/mxray.log" 2>&1 \
  || { tail -20 "$OUT/mxray.log" >&2; die "mxray scan failed"; }
# checkdmarc (>= 6) discovers DMARC by RFC 9989's tree walk, mxray's default: its DMARC columns are
# compared with this scan, which names the method rather than rely on the default
"$BIN" scan --domains "$OUT/sample.jsonl.txt" --out "$OUT/mxray-tree-walk" --resolver "$MXRAY_TEST_RESOLVER" \
  --allow-loopback --no-hosts --format csv --quiet --no-dkim --dmarc-discovery rfc9989 > "$OUT/mxray-tree-walk.log" 2>&1 \
  || { tail -20 "$OUT/mxray-tree-walk.log" >&2; die "mxray scan (tree-walk) failed"; }
log "mxray scans: $(el "$t")s"

t=$EPOCHREALTIME
"$PY" "$DIFF" peers --sample "$OUT/sample.jsonl" --resolver "$MXRAY_TEST_RESOLVER" \
  --out "$OUT/peers.jsonl" --jobs "${MXRAY_DIFF_JOBS:-4}"
log "peers: $(el "$t")s"

rc=0
"$PY" "$DIFF" compare --sample "$OUT/sample.jsonl" --mxray "$OUT/mxray/domains.csv" \
  --mxray-tree-walk "$OUT/mxray-tree-walk/domains.csv" \
  --peers "$OUT/peers.jsonl" --known "$HERE/known.json" ${MXRAY_DIFF_VERBOSE:+--verbose} || rc=$?
log "done, rc=$rc (files in $OUT)"
exit $rc
