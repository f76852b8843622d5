#!/usr/bin/env bash
# soak.sh - scans of the realistic world through Unbound, one after another for SOAK_SECONDS, with
# a fault injected at a random moment (0.5 s to 12 s into the run) into six runs of every seven:
#   unbound-restart  Unbound killed and started again 2 s later (its cache is gone)
#   unbound-stop     Unbound stopped (SIGSTOP) for 5 s, then continued: a resolver that does not
#                    answer for a while, then answers what queued
#   cache-flush      Unbound's caches flushed (unbound-control flush_zone . / flush_infra all)
#   kill-resume      the scan itself killed with SIGKILL and resumed at once (`--resume`): the
#                    resolver is still busy with the killed scan's queries
#   dnsbl-down       rbldnsd (the DNSBL zones) killed, started again after the run
#   loss             5% packet loss on the namespace's loopback (tc netem), where the kernel has it
#   none             the reference
# Issue 37: in every run, faulted or not, no domain the world answers may say `timeout` in any
# status column (a DNSBL zone that is down stays an honest error of the hosts table).
# Each scan has hosts (PTR, FCrDNS, two DNSBL zones) on. After each run it checks that every
# status is explained: every input domain has exactly one row, every MX address one hosts row, no
# probe panicked and none was abandoned, run.json says `done`; in the runs without a fault, no
# domain that the world answers says `timeout` or `servfail` in any status column (so a fault leaves
# nothing behind in the next run); and peak RSS does not grow from run to run (at most 1.25x the
# first run's). One line per run: the fault, seconds, rows, peak RSS, timeouts and DNSBL errors.
# Everything runs in a private network namespace (host network with CI_NETNS=none), loopback only.
#   bash benches/soak.sh                 (root: apt, netns, tc)
# Knobs: SOAK_SECONDS [600], WORLD_DOMAINS [20000], MXRAY_SKIP_BUILD [0].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BD=${TMPDIR:-/tmp}/mxray-soak
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=${WORLD_DOMAINS:-20000}
SOAK_SECONDS=${SOAK_SECONDS:-600}
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-soak
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
bench_build
bench_up
PIDS=$FIXTURES_DIR/run/pids
grep -E '^(zone|bl\.test|bl2\.test),' tests/fixtures/dnsbl-test.csv | sed 's/,1000,/,1000000,/' > "$BD/zones.csv"

# kill_fixture NAME: kills the fixture by its recorded PID and prints its command line (NUL-separated
# in a file), so restart_fixture can start it again the same way.
kill_fixture() {
  local pid; pid=$(awk -v n="$1" '$1==n {print $2}' "$PIDS")
  tr '\0' '\n' < "/proc/$pid/cmdline" > "$BD/$1.cmdline"
  kill -TERM "$pid"
  for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
}
# restart_fixture NAME PIDFILE: starts it again (in the namespace) and records its new PID, so
# down.sh still stops it by PID.
restart_fixture() {
  local -a cmd; mapfile -t cmd < "$BD/$1.cmdline"
  rm -f "$2"
  in_ns "${cmd[@]}"
  for _ in $(seq 50); do [ -s "$2" ] && break; sleep 0.1; done
  local pid; pid=$(tr -dc '0-9' < "$2")
  awk -v n="$1" -v p="$pid" '$1==n {$2=p} {print}' "$PIDS" > "$PIDS.new" && mv "$PIDS.new" "$PIDS"
}
NETEM=0
if in_ns tc qdisc add dev lo root netem loss 5% 2>/dev/null; then
  in_ns tc qdisc del dev lo root; NETEM=1
fi

echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)'); $(unbound -V | head -1)"
echo "world:    $WORLD_DOMAINS domains via Unbound $MXRAY_TEST_RESOLVER${FIXTURES_NETNS:+ (netns $FIXTURES_NETNS)}; netem $([ $NETEM = 1 ] && echo yes || echo 'not in this kernel: the loss runs are clean runs')"
faults=(none unbound-restart unbound-stop cache-flush kill-resume dnsbl-down loss)
UCONF=$FIXTURES_DIR/run/unbound/unbound.conf
uctl() { in_ns unbound-control -c "$UCONF" "$@" >/dev/null; }
T_END=$((SECONDS + SOAK_SECONDS)); i=0
: > "$BD/runs.txt"
while [ $SECONDS -lt $T_END ]; do
  fault=${faults[$((i % ${#faults[@]}))]}
  [ "$fault" = loss ] && [ $NETEM = 0 ] && fault=none
  out=$BD/run-$i
  at=$(python3 -c "import random; print(round(random.uniform(0.5, 12), 1))")
  scan_cmd=(target/release/mxray scan --domains "$MXRAY_TEST_WORLD/domains.txt"
    --allow-loopback --resolver "$MXRAY_TEST_RESOLVER" --dnsbl-config "$BD/zones.csv"
    --out "$out" -q --format parquet,csv)
  rm -rf "$out"
  in_ns /usr/bin/time -v "${scan_cmd[@]}" 2>"$out.time" &
  scan=$!
  case $fault in
    unbound-restart) sleep "$at"; kill_fixture unbound; sleep 2
      restart_fixture unbound "$FIXTURES_DIR/run/unbound/unbound.pid" ;;
    unbound-stop) sleep "$at"; p=$(awk '$1=="unbound" {print $2}' "$PIDS")
      kill -STOP "$p"; sleep 5; kill -CONT "$p" ;;
    cache-flush) sleep "$at"; uctl flush_zone .; uctl flush_infra all; uctl flush_requestlist ;;
    kill-resume) sleep "$at"
      pkill -KILL -f -- "--out $out -q" || true
      wait $scan || true
      in_ns /usr/bin/time -v "${scan_cmd[@]}" --resume 2>"$out.time" &
      scan=$! ;;
    dnsbl-down) sleep "$at"; kill_fixture rbldnsd ;;
    loss) in_ns tc qdisc add dev lo root netem loss 5% ;;
  esac
  rc=0; wait $scan || rc=$?
  case $fault in
    dnsbl-down) restart_fixture rbldnsd "$FIXTURES_DIR/run/rbldnsd/rbldnsd.pid"
      # With -q it loads its zones after forking: wait for an answer, or the next run starts
      # against a server that refuses (the first soak's runs 3, 7 and 15 saw 1-2 DNSBL errors so).
      for _ in $(seq 50); do
        [ "$(in_ns dig +short +time=1 +tries=1 -p 5301 @127.0.0.1 10.0.0.127.bl.test A)" = 127.0.0.2 ] && break
        sleep 0.1
      done ;;
    loss) in_ns tc qdisc del dev lo root ;;
  esac
  [ $rc = 0 ] || { echo "run $i ($fault): mxray exited $rc"; tail -5 "$out.time"; exit 1; }
  echo "$i $fault $out $at" >> "$BD/runs.txt"
  i=$((i + 1))
done
python3 benches/soak_check.py "$BD/runs.txt" "$MXRAY_TEST_WORLD/expected.jsonl"
