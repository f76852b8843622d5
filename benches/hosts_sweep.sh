#!/usr/bin/env bash
# hosts_sweep.sh - hosts/s of an address sweep: mxray scans the loopback /16 127.5.0.0/16 with PTR,
# FCrDNS and two DNSBL zones (rbldnsd), through Unbound, all started by tests/fixtures/up.sh in a
# private network namespace (host network with CI_NETNS=none). Prints the figure from run.json.
#   bash benches/hosts_sweep.sh            (root: apt and netns)
# Knobs: SWEEP_RANGE [127.5.0.0/16], SWEEP_ARGS [""] extra mxray options, MXRAY_SKIP_BUILD [0].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
RANGE=${SWEEP_RANGE:-127.5.0.0/16}
BD=${TMPDIR:-/tmp}/mxray-sweep
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=1000
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-sweep
bench_build
bash tests/fixtures/up.sh >"$BD/up.log" 2>&1 || { tail -20 "$BD/up.log"; exit 1; }
# the fixture zones with the polite rates lifted: this measures mxray, not a rate limit
sed 's/,1000,/,1000000,/' tests/fixtures/dnsbl-test.csv > "$BD/zones.csv"
# shellcheck disable=SC1091
. "$FIXTURES_DIR/run/env"
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)')"
echo "sweep:    $RANGE, PTR + FCrDNS + DNSBL bl.test, bl2.test, via Unbound $MXRAY_TEST_RESOLVER${FIXTURES_NETNS:+ (netns $FIXTURES_NETNS)}"
# shellcheck disable=SC2086
in_ns target/release/mxray scan --ips "$RANGE" --allow-loopback --dnsbl-config "$BD/zones.csv" \
  --resolver "$MXRAY_TEST_RESOLVER" --out "$BD/out" --overwrite -q ${SWEEP_ARGS:-}
python3 - "$BD/out/run.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
c, d = m["counts"], m["duration_s"]
print(f"hosts:    {c['hosts']} in {d:.2f} s = {c['hosts'] / d:.0f} hosts/s")
print(f"dns:      {m['dns']['queries']} queries = {m['rates']['queries_per_s']:.0f} queries/s, "
      f"timeouts {m['dns']['by_status']['timeout']}, retries {m['dns']['retries']}, "
      f"cache hit rate {m['cache']['hit_rate']:.3f}")
print(f"statuses: {m['status_counts']}")
PY
