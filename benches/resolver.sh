#!/usr/bin/env bash
# resolver.sh - mxray through a recursive resolver on the realistic world (issue 10): dead
# delegations that time out (0.4%) and refuse (1.6%), NXDOMAINs, DKIM at a quarter of the domains.
# In one run, each from a freshly flushed (cold) Unbound (`unbound-control reload`):
#   0. (not timed) `mxray scan` of the even-numbered domains, the delegations that time out left
#      out, with Unbound logging the queries it receives: mxray's own query mix for them;
#   1. dnsperf on that mix (the resolver's ceiling: dnsperf's fixed window starves on names that
#      never answer, so the timing-out ones stay out of it);
#   2. `mxray scan` of the odd-numbered domains, dead ones included, default settings;
#   3. (SAME=1) `mxray scan` of dnsperf's own domains, the even half with the dead ones out: the
#      same names as the ceiling's, so what is left between the two rates is the client.
# Prints the rates in queries/s and their ratio, mxray's queries per domain, its timeouts and
# which domains came out `timeout`. Everything runs in a private network namespace (host network
# with CI_NETNS=none); all traffic stays on loopback.
#   bash benches/resolver.sh           (root: apt and netns)
# Knobs: WORLD_DOMAINS [20000], CEILING_REFUSING [1] (0 leaves the refusing delegations out of
# the ceiling's domains too), DNSPERF_ARGS ["-c 16 -T 1 -q 500 -t 2 -e"]
# (-e: EDNS0, as mxray asks; -c 16: sixteen sockets, so that the resolver's threads behind one
# port (SO_REUSEPORT) all get a share of the ceiling's queries: four landed on one of Unbound's two
# threads one time in eight, which is a lower ceiling, not the resolver's), MXRAY_ARGS [""],
# LOAD [0]: 1 runs a second mxray scan of the same half beside the measured one (loaded machine),
# MXRAY_SKIP_BUILD [0], SAME [1], FIXTURES_DNSSEC [1]: Unbound validates (Knot signs world.test, its key is
# Unbound's trust anchor: tests/fixtures/up.sh), as resolvers ship; 0 for neither (benches/dnssec.sh
# measures what validation costs the resolver),
# PIN [0]: 1 runs the servers (every fixture process) on CPU 0 and the clients (dnsperf, mxray) on
# CPU 1, as when the resolver has a machine of its own. On two shared cores each microsecond of
# the client's CPU is taken from the resolver, so the unpinned ratio measures how lean the
# client is as much as how well it keeps the resolver busy; pinned, CPU 0's busy share says how
# close each client kept the resolver to its limit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BD=${TMPDIR:-/tmp}/mxray-resolver
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=${WORLD_DOMAINS:-20000}
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-resolver
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
bench_build
bench_up
W=$MXRAY_TEST_WORLD
CLIENT=()
if [ "${PIN:-0}" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || { echo "PIN=1 needs two CPUs" >&2; exit 1; }
  while read -r _ p _; do taskset -a -p -c 0 "$p" >/dev/null; done < "$FIXTURES_DIR/run/pids"
  CLIENT=(taskset -c 1)
fi
UCONF=$FIXTURES_DIR/run/unbound/unbound.conf
VALIDATING=$(grep -q 'module-config: "validator iterator"' "$UCONF" && echo "validating (world.test signed)" || echo "not validating")
cold() { in_ns unbound-control -c "$UCONF" reload >/dev/null; }
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
[ "${PIN:-0}" = 1 ] && echo "pinned:   servers (fixture pids) on CPU 0, dnsperf and mxray on CPU 1"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)'); $(unbound -V | head -1); $(dnsperf -h 2>&1 | grep -m1 -o 'DNS Performance Testing Tool version [0-9.]*' || true)"
# The two halves. The ceiling's domains are the even-numbered ones without the delegations that
# time out (dnsperf's fixed window starves on names that never answer); the refusing ones stay
# (CEILING_REFUSING=1, the default: they answer SERVFAIL at once, and they cost the resolver more
# than a live name, as in mxray's half). mxray's half is the odd-numbered domains, all of them.
python3 - "$W/expected.jsonl" "$BD" "${CEILING_REFUSING:-1}" <<'PY'
import json, sys
exp, bd, refusing = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
out = ("timeout",) if refusing else ("timeout", "servfail")
with open(exp) as f, open(bd + "/scan.txt", "w") as scan, open(bd + "/same.txt", "w") as same:
    for i, line in enumerate(f):
        e = json.loads(line)
        if i % 2:
            scan.write(e["domain"] + "\n")
        elif e["mx_status"] not in out:
            same.write(e["domain"] + "\n")
PY
UPID=$(cat "$FIXTURES_DIR/run/unbound/unbound.pid")
ULOG=$FIXTURES_DIR/run/unbound/unbound.log
scan() { # out dir, domains, extra args
  local out=$1 domains=$2; shift 2
  # shellcheck disable=SC2086
  /usr/bin/time -f "%U %S" -o "$out.cpu" env ${FIXTURES_NETNS:+ip netns exec "$FIXTURES_NETNS"} "${CLIENT[@]}" target/release/mxray scan --domains "$domains" --allow-loopback --resolver "$MXRAY_TEST_RESOLVER" \
    --out "$out" --overwrite --format parquet,csv -q "$@" ${MXRAY_ARGS:-}
}
# dnsperf's mix is mxray's own queries for the ceiling's domains: a scan of them with Unbound's
# log-queries on (then off again), each distinct name and type once, in the order first asked.
# So the ceiling has the exact DKIM probe plan, SPF walks, host checks (PTR, DNSBL) and retries'
# names of the scan it is compared with, not an approximation of them.
cold
in_ns unbound-control -c "$UCONF" set_option log-queries: yes >/dev/null
off=$(stat -c %s "$ULOG")
scan "$BD/capture" "$BD/same.txt"
in_ns unbound-control -c "$UCONF" set_option log-queries: no >/dev/null
tail -c +"$((off + 1))" "$ULOG" | python3 -c '
import sys
seen = {}
for line in sys.stdin:  # "[time] unbound[pid:thread] info: 127.0.0.1 name. TYPE IN"
    f = line.split("] info: ", 1)[-1].split()
    if len(f) == 4 and f[3] == "IN" and f[0].startswith("127."):
        seen.setdefault((f[1], f[2]), None)
sys.stdout.writelines("%s %s\n" % q for q in seen)' > "$BD/mix.txt"
[ -s "$BD/mix.txt" ] || { echo "resolver.sh: no query captured from Unbound's log ($ULOG)" >&2; exit 1; }
CAPQ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dns"]["queries"])' "$BD/capture/run.json")
echo "world:    $WORLD_DOMAINS domains via Unbound $MXRAY_TEST_RESOLVER, $VALIDATING${FIXTURES_NETNS:+ (netns $FIXTURES_NETNS)}; ceiling $(wc -l < "$BD/same.txt") domains (refusing ones $([ "${CEILING_REFUSING:-1}" = 1 ] && echo in || echo out)), dnsperf mix $(wc -l < "$BD/mix.txt") distinct queries captured from mxray's $CAPQ; scan $(wc -l < "$BD/scan.txt") domains"
ucpu() { awk '{print $14 + $15}' "/proc/$UPID/stat"; }   # unbound's user+system clock ticks
# CPU 0's busy and total clock ticks: with PIN=1, how busy the servers' core was under each client.
cpu0() { awk '$1 == "cpu0" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6 ":" t}' /proc/stat; }
cold
u0=$(ucpu) c0=$(cpu0)
# shellcheck disable=SC2086
/usr/bin/time -f "%U %S" -o "$BD/dnsperf.cpu" env ${FIXTURES_NETNS:+ip netns exec "$FIXTURES_NETNS"} "${CLIENT[@]}" dnsperf -s "${MXRAY_TEST_RESOLVER%:*}" -p "${MXRAY_TEST_RESOLVER##*:}" -d "$BD/mix.txt" -n 1 ${DNSPERF_ARGS:--c 16 -T 1 -q 500 -t 2 -e} > "$BD/dnsperf.log" 2>&1
u1=$(ucpu) c1=$(cpu0)
cold
u2=$(ucpu) c2=$(cpu0)
if [ "${LOAD:-0}" = 1 ]; then scan "$BD/load" "$BD/scan.txt" & LOADPID=$!; fi
scan "$BD/scan" "$BD/scan.txt"
if [ -n "${LOADPID:-}" ]; then wait "$LOADPID"; fi
u3=$(ucpu) c3=$(cpu0)
# 3. The same scan of dnsperf's own domains (its half, dead ones out), again from a cold Unbound:
#    the same names at the same resolver, so what is left between the two rates is the client.
SAME_QPS=""
if [ "${SAME:-1}" = 1 ]; then
  cold
  c4=$(cpu0)
  scan "$BD/same" "$BD/same.txt"
  c5=$(cpu0)
  SAME_QPS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rates"]["queries_per_s"])' "$BD/same/run.json")
fi
python3 - "$BD/dnsperf.log" "$BD/scan" "$W/expected.jsonl" "$((u1 - u0))" "$((u3 - u2))" "$(getconf CLK_TCK)" "$c0" "$c1" "$c2" "$c3" "${PIN:-0}" "$SAME_QPS" "${c4:-0:1}" "${c5:-0:1}" <<'PY'
import csv, json, re, sys
from datetime import datetime
log, out, exp, ud, um, hz, c0, c1, c2, c3, pin, same, c4, c5 = sys.argv[1:]
cpu = lambda p: sum(map(float, open(p).read().split()[-2:]))
text = open(log).read()
qps = float(re.search(r"Queries per second:\s+([\d.]+)", text).group(1))
lost = re.search(r"Queries lost:\s+(\d+)", text).group(1)
m = json.load(open(out + "/run.json"))
d = m["dns"]
n = m["counts"]["domains_scanned"]
mq = m["rates"]["queries_per_s"]
dead = {json.loads(l)["domain"] for l in open(exp) if json.loads(l)["mx_status"] == "timeout"}
rows = list(csv.DictReader(open(out + "/domains.csv")))
timeouts = [r["domain"] for r in rows if r["mx_status"] == "timeout"]
# The scan's end waits for the dead domains' last attempts and second pass (~7 s at the default
# 2 s timeout): the rate up to the last live domain's row is printed beside the whole scan's.
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
live_s = max(ts(r["scanned_at"]) for r in rows if r["mx_status"] != "timeout") - ts(m["started_at"])
live_to = [t for t in timeouts if t not in dead]
print(f"dnsperf:  {qps:,.0f} queries/s (lost {lost})")
print(f"mxray:    {mq:,.0f} queries/s, {m['rates']['targets_per_s']:,.0f} domains/s, {d['queries'] / n:.2f} queries/domain; "
      f"window_final {d['window_final']}, attempt timeouts {d['attempt_timeouts']} (slow zones {d['slow_zone_timeouts']}), "
      f"second pass {d['second_pass']} ({d['second_pass_answered']} answered), final timeouts {d['by_status']['timeout']}")
print(f"timeouts: {len(timeouts)} domains mx_status=timeout, {len(live_to)} of them live (should be 0)")
dq = int(re.search(r"Queries completed:\s+(\d+)", text).group(1))
print(f"cpu:      dnsperf {cpu(log.replace('.log', '.cpu')):.1f} s, Unbound under it {int(ud) / int(hz):.1f} s "
      f"({int(ud) / int(hz) / dq * 1e6:.0f} us/query); mxray {cpu(out + '.cpu'):.1f} s, Unbound under it "
      f"{int(um) / int(hz):.1f} s ({int(um) / int(hz) / d['queries'] * 1e6:.0f} us/query)")
print(f"live:     the last live domain's row at {live_s:.1f} s of {m['duration_s']:.1f} s: "
      f"{d['queries'] / live_s:,.0f} queries/s up to it ({d['queries'] / live_s / qps:.2f} of dnsperf)")
if same:
    print(f"same:     mxray on dnsperf's own domains (dead ones out), cold: {float(same):,.0f} queries/s "
          f"({float(same) / qps:.2f} of dnsperf)")
if pin == "1":
    busy = lambda a, b: (int(b.split(":")[0]) - int(a.split(":")[0])) / (int(b.split(":")[1]) - int(a.split(":")[1]))
    print(f"cpu 0:    the servers' core busy {busy(c0, c1):.0%} under dnsperf, {busy(c2, c3):.0%} under mxray"
          + (f", {busy(c4, c5):.0%} under mxray on dnsperf's domains" if same else ""))
print(f"ratio:    mxray / dnsperf queries/s = {mq / qps:.2f}")
PY
