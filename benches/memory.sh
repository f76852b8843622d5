#!/usr/bin/env bash
# memory.sh - peak RSS of a domain scan as the input grows, with default settings (the DNS cache
# bounded by --cache-memory). The input is the generated world (WORLD_DOMAINS realistic domains:
# SPF, DMARC, DKIM, dead delegations, broken records) followed by names under world.test that do
# not exist (NXDOMAIN: the bulk of a top-list scan's negative answers, never asked again), scanned
# straight against Knot, the authoritative server (no recursive cache in between). One scan per
# size in SIZES; each prints its peak RSS (GNU time's "Maximum resident set size") and domains/s.
# Everything runs in a private network namespace (host network with CI_NETNS=none), loopback only.
#   bash benches/memory.sh                 (root: apt and netns)
# Knobs: SIZES ["1000000 5000000 10000000"], WORLD_DOMAINS [100000], MEMORY_ARGS [""] extra mxray options,
#        HOSTS [0]: 1 keeps the host stage on (PTR and FCrDNS of the core's MX addresses; every
#        other setting is the default then), MXRAY_SKIP_BUILD [0].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BD=${TMPDIR:-/tmp}/mxray-memory
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=${WORLD_DOMAINS:-100000}
SIZES=${SIZES:-1000000 5000000 10000000}
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-memory
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
bench_build
bash tests/fixtures/up.sh >"$BD/up.log" 2>&1 || { tail -20 "$BD/up.log"; exit 1; }
# shellcheck disable=SC1091
. "$FIXTURES_DIR/run/env"
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)')"
echo "input:    $WORLD_DOMAINS world.test domains, then nonexistent names; against Knot $MXRAY_TEST_AUTH"
for n in $SIZES; do
  list=$BD/domains-$n.txt
  if [ ! -s "$list" ]; then
    { head -n "$n" "$MXRAY_TEST_WORLD/domains.txt"
      seq 1 $((n > WORLD_DOMAINS ? n - WORLD_DOMAINS : 0)) | sed 's/^/gone-/; s/$/.world.test/'; } > "$list"
  fi
  # shellcheck disable=SC2086
  in_ns /usr/bin/time -v target/release/mxray scan --domains "$list" --allow-loopback \
    --resolver "$MXRAY_TEST_AUTH" --out "$BD/out-$n" --overwrite -q $([ "${HOSTS:-0}" = 1 ] || echo --no-hosts) ${MEMORY_ARGS:-} \
    2>"$BD/time-$n.log" || { tail -20 "$BD/time-$n.log"; exit 1; }
  python3 - "$BD/out-$n/run.json" "$BD/time-$n.log" "$n" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1]))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[2]).read()).group(1))
c = m["cache"]
print(f"{int(sys.argv[3]):>10} domains: peak RSS {rss / 1024:7.1f} MiB, {m['rates']['targets_per_s']:8.0f} domains/s "
      f"in {m['duration_s']:6.1f} s; cache {c['entries']} entries, {c['weight_bytes'] / 2**20:.1f} of "
      f"{c['memory_bytes'] / 2**20:.0f} MiB, hit rate {c['hit_rate']:.2f}")
PY
done
