#!/usr/bin/env bash
# stages.sh - what the host stage costs a domain scan: the generated world (WORLD_DOMAINS, default
# 20000) scanned through the fixtures' Unbound twice, each time from a freshly started (cold)
# Unbound, (a) with --no-hosts, (b) with the host stage doing PTR, FCrDNS and two DNSBL zones
# (rbldnsd's bl.test and bl2.test). Prints domains/s of both, their ratio, and each stage's own
# throughput from run.json's `stages` section. Everything runs in a private network namespace
# (host network with CI_NETNS=none); all traffic stays on loopback.
#   bash benches/stages.sh            (root: apt and netns)
# Knobs: WORLD_DOMAINS [20000], STAGES_ARGS [""] extra mxray options, MXRAY_SKIP_BUILD [0].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BD=${TMPDIR:-/tmp}/mxray-stages
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=${WORLD_DOMAINS:-20000}
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-stages
bench_build
# the two IP zones with the polite rates lifted: this measures mxray, not a rate limit (the domain
# zone would add RHSBL queries to the domain stage, so it is left out)
grep -E '^(zone|bl\.test|bl2\.test),' tests/fixtures/dnsbl-test.csv | sed 's/,1000,/,1000000,/' > "$BD/zones.csv"
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)')"
run() { # name, mxray options...: a scan of the world from a cold Unbound
  local name=$1; shift
  bash tests/fixtures/down.sh >/dev/null 2>&1 || true
  bash tests/fixtures/up.sh >"$BD/up.$name.log" 2>&1 || { tail -20 "$BD/up.$name.log"; exit 1; }
  # shellcheck disable=SC1091
  . "$FIXTURES_DIR/run/env"
  # shellcheck disable=SC2086
  in_ns target/release/mxray scan --domains "$MXRAY_TEST_WORLD/domains.txt" --allow-loopback \
    --resolver "$MXRAY_TEST_RESOLVER" --out "$BD/$name" --overwrite -q "$@" ${STAGES_ARGS:-}
}
run no-hosts --no-hosts
run hosts --dnsbl-config "$BD/zones.csv"
echo "world:    $WORLD_DOMAINS domains via Unbound $MXRAY_TEST_RESOLVER${FIXTURES_NETNS:+ (netns $FIXTURES_NETNS)}, cold each run"
python3 - "$BD/no-hosts/run.json" "$BD/hosts/run.json" <<'PY'
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
for name, m in zip(["--no-hosts", "PTR+FCrDNS+2 DNSBL"], runs):
    c, d = m["counts"], m["duration_s"]
    print(f"{name:20} {c['domains_scanned']} domains, {c['hosts']} hosts in {d:.2f} s = "
          f"{m['rates']['targets_per_s']:.0f} domains/s, {m['dns']['queries']} queries "
          f"({m['rates']['queries_per_s']:.0f}/s), attempt timeouts {m['dns']['attempt_timeouts']}")
    for s in m["stages"]:
        print(f"{'':20}   stage {s['name']:8} concurrency {s['concurrency']:5} done {s['done']:7} "
              f"active {s['active_s']:7.2f} s = {s['rows_per_s']:8.0f} rows/s, panicked {s['panicked']}")
a, b = (m["rates"]["targets_per_s"] for m in runs)
print(f"ratio:    domains/s with the host stage / without = {b / a:.2f}")
PY
