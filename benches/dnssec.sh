#!/usr/bin/env bash
# dnssec.sh - what DNSSEC validation costs the fixtures' resolver: dnsperf's capacity through Unbound
# validating (world.test signed by Knot, its key as Unbound's trust anchor: what tests/fixtures/up.sh
# starts) and through the same Unbound not validating (module-config "iterator", no trust anchor),
# in the same run, on the world's own query mix (world/queries.txt: the pool MX hosts' A, every
# domain's MX, the own MX hosts' A), the delegations that never answer left out (dnsperf's fixed
# window starves on them). The two configurations alternate round by round, each from a cold cache
# (`unbound-control reload` of the configuration file, swapped in between), so drift of a shared
# machine falls on both. Prints each round, the medians, their ratio and Unbound's CPU per query.
# Everything runs in a private network namespace (host network with CI_NETNS=none); loopback only.
#   bash benches/dnssec.sh           (root: apt and netns)
# Knobs: WORLD_DOMAINS [100000], ROUNDS [3], DNSPERF_ARGS ["-c 16 -T 1 -q 500 -t 2 -e"] (as
# resolver.sh; add -D to set DO as a client asking for signatures does: the resolver validates either way).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BD=${TMPDIR:-/tmp}/mxray-dnssec-bench
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=${WORLD_DOMAINS:-100000} FIXTURES_DNSSEC=1
ROUNDS=${ROUNDS:-3}
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-dnssec-bench
trap 'bash "$REPO/tests/fixtures/down.sh" >/dev/null 2>&1 || true' EXIT
t0=$EPOCHREALTIME
bench_up
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)'); Unbound $(unbound -V | head -1 | cut -d' ' -f2); $(knotd --version 2>&1 | head -1); $(dnsperf -h 2>&1 | grep -m1 -o 'DNS Performance Testing Tool version [0-9.]*' || true)"
echo "fixtures: up in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s; $(grep -E 'signed world.test in|signed zone of' "$BD/up.log" | sed 's/^\[up [^]]*\] //' | head -1)"
W=$MXRAY_TEST_WORLD
UCONF=$FIXTURES_DIR/run/unbound/unbound.conf
UPID=$(cat "$FIXTURES_DIR/run/unbound/unbound.pid")
# The two configurations: up.sh's (validating) and the same without the validator and its anchor.
cp "$UCONF" "$BD/validating.conf"
sed -e 's/^\( *module-config:\).*/\1 "iterator"/' -e '/^ *trust-anchor-file:/d' -e '/^ *val-log-level:/d' "$UCONF" > "$BD/plain.conf"
grep -q 'module-config: "validator iterator"' "$BD/validating.conf" || { echo "dnssec.sh: up.sh's Unbound does not validate" >&2; exit 1; }
# The mix: queries.txt without the names at or under the delegations that never answer.
python3 - "$W" "$BD/mix.txt" <<'PY'
import json, sys
w, out = sys.argv[1], sys.argv[2]
dead = {json.loads(l)["domain"] for l in open(w + "/expected.jsonl") if json.loads(l)["mx_status"] == "timeout"}
n = kept = 0
with open(out, "w") as f:
    for line in open(w + "/queries.txt"):
        n += 1
        name = line.split()[0].rstrip(".").lower()
        labels = name.split(".")
        if any(".".join(labels[i:]) in dead for i in range(len(labels))):
            continue
        f.write(line)
        kept += 1
print("mix:      %d of the world's %d queries (%d domains whose delegation never answers left out)" % (kept, n, len(dead)))
PY
ad() { in_ns dig +time=3 +tries=1 +adflag @"${MXRAY_TEST_RESOLVER%:*}" -p "${MXRAY_TEST_RESOLVER##*:}" _spf.provider.world.test TXT | grep -cE '^;; flags: [a-z ]*\bad\b' || true; }
ucpu() { awk '{print $14 + $15}' "/proc/$UPID/stat"; }
use() { # validating|plain: that configuration, from a cold cache, checked by the AD bit of a world answer
  cp "$BD/$1.conf" "$UCONF"
  in_ns unbound-control -c "$UCONF" reload >/dev/null
  local want=0; [ "$1" = validating ] && want=1
  [ "$(ad)" = "$want" ] || { echo "dnssec.sh: Unbound ($1) answers with AD=$(ad), want $want" >&2; exit 1; }
  in_ns unbound-control -c "$UCONF" reload >/dev/null   # cold again: the check above cached its name
}
: > "$BD/rounds.txt"
for r in $(seq "$ROUNDS"); do
  order="validating plain"; [ $((r % 2)) = 0 ] && order="plain validating"
  for mode in $order; do
    use "$mode"
    u0=$(ucpu)
    # shellcheck disable=SC2086
    in_ns dnsperf -s "${MXRAY_TEST_RESOLVER%:*}" -p "${MXRAY_TEST_RESOLVER##*:}" -d "$BD/mix.txt" -n 1 \
      ${DNSPERF_ARGS:--c 16 -T 1 -q 500 -t 2 -e} > "$BD/dnsperf-$r-$mode.log" 2>&1
    u1=$(ucpu)
    qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$BD/dnsperf-$r-$mode.log")
    done_=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$BD/dnsperf-$r-$mode.log")
    lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$BD/dnsperf-$r-$mode.log")
    rc=$(grep -oE '(NOERROR|NXDOMAIN|SERVFAIL) [0-9]+' "$BD/dnsperf-$r-$mode.log" | tr '\n' ' ')
    us=$(awk -v t="$((u1 - u0))" -v hz="$(getconf CLK_TCK)" -v n="$done_" 'BEGIN{printf "%.0f", t / hz / n * 1e6}')
    printf 'round %d  %-10s %8.0f queries/s  lost %s  Unbound %s us/query  %s\n' "$r" "$mode" "$qps" "$lost" "$us" "$rc" | tee -a "$BD/rounds.txt"
  done
done
cp "$BD/validating.conf" "$UCONF"; in_ns unbound-control -c "$UCONF" reload >/dev/null
python3 - "$BD/rounds.txt" <<'PY'
import statistics, sys
q, us = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    q.setdefault(f[2], []).append(float(f[3])); us.setdefault(f[2], []).append(float(f[8]))
v, p = statistics.median(q["validating"]), statistics.median(q["plain"])
print(f"median:   validating {v:,.0f} queries/s ({statistics.median(us['validating']):.0f} us/query of Unbound), "
      f"not validating {p:,.0f} queries/s ({statistics.median(us['plain']):.0f} us/query)")
print(f"ratio:    validating / not validating = {v / p:.2f}")
PY
