#!/usr/bin/env bash
# dns_throughput.sh - how fast is mxray's DNS engine compared with dnsperf, against the same local
# authoritative Knot, on the same query file, in the same run; and an end-to-end `mxray scan` in
# each round, against the engine of the same round.
# Loopback only: every packet goes to $BENCH_IP (must be in 127.0.0.0/8).
#
#   bash benches/dns_throughput.sh          (see benches/README.md for the knobs and the figures)
#
# Environment (defaults in brackets):
#   BENCH_DOMAINS [200000]      world size (datasets/gen_world.py --domains)
#   BENCH_DIR [/tmp/mxray-bench] state: world/, queries.txt, knot/, e2e/, logs
#   BENCH_IP [127.0.0.1] BENCH_PORT [5400]   where the benchmark's own Knot listens
#   BENCH_MIN_QUERIES [200000]  the query file is cycled until it has at least this many lines
#   KNOT_UDP_WORKERS ["1 2"]    udp-workers values to try; the one with the higher dnsperf rate is kept
#   DNSPERF_ARGS ["-c 4 -T 1 -q 300 -t 2"]   dnsperf load options (-s -p -d -n are set by the script)
#   MXRAY_WINDOW [2000] MXRAY_SOCKETS [2]    dns_throughput example: queries in flight, UDP sockets
#   E2E_DOMAINS [100000]        domains of the end-to-end scan (a prefix of the world's domains.txt)
#   E2E_ARGS [""]               extra `mxray scan` options, e.g. "--concurrency 2000 --domain-concurrency 1000"
#   MXRAY_SKIP_BUILD [0]        1: do not run cargo build, use the binaries already in target/release
#   BENCH_ROUNDS [5]            rounds of dnsperf, the engine, then the e2e scan; each figure is the median of the
#                               rounds' ratios
#   PINNED [0]                  1: after the rounds, ROUNDS more of dnsperf, the engine and the scan with Knot on
#                               the last CPU and each client on the others (taskset): the rates on cores of
#                               their own, free of the scheduler's placement and of Knot's share of the client's core
#   ENGINE_THREADS [1]          worker threads of the engine in the ratio (dnsperf runs -T 1); each round also
#                               runs the engine on the runtime's default threads (one per core), printed beside
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH_DOMAINS=${BENCH_DOMAINS:-200000}
BD=${BENCH_DIR:-/tmp/mxray-bench}
IP=${BENCH_IP:-127.0.0.1}
PORT=${BENCH_PORT:-5400}
MIN_Q=${BENCH_MIN_QUERIES:-200000}
UDP_WORKERS=${KNOT_UDP_WORKERS:-1 2}
DNSPERF_ARGS=${DNSPERF_ARGS:--c 4 -T 1 -q 300 -t 2}
WINDOW=${MXRAY_WINDOW:-2000}
SOCKETS=${MXRAY_SOCKETS:-2}
E2E_DOMAINS=${E2E_DOMAINS:-100000}
E2E_ARGS=${E2E_ARGS:-}
SKIP_BUILD=${MXRAY_SKIP_BUILD:-0}
ROUNDS=${BENCH_ROUNDS:-5}
ENGINE_THREADS=${ENGINE_THREADS:-1}
PINNED=${PINNED:-0}
# Prefix of the clients' commands: empty, or taskset in the pinned rounds.
ON_CPUS=()
WORLD=$BD/world
KD=$BD/knot
T0=$EPOCHREALTIME
el() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}'; }
log() { echo "[bench +$(el "$T0")s] $*" >&2; }
die() { echo "[bench] FATAL: $*" >&2; exit 1; }

# ---------------------------------------------------------------- safety: loopback only
[[ $IP =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "BENCH_IP=$IP is not in 127.0.0.0/8"
for b in knotd knotc dnsperf dig ss python3 cargo; do command -v "$b" >/dev/null || die "$b not found"; done
mkdir -p "$BD"

# ---------------------------------------------------------------- machine facts
echo "== mxray DNS throughput benchmark"
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc:     $(nproc)"
echo "cpu:       $(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)"
echo "kernel:    $(uname -sr)"
echo "knot:      $(knotd --version 2>&1 | head -1)"
echo "dnsperf:   $(dnsperf -h 2>&1 | awk '/^Version/{print $2}')"
echo "git:       $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO" status --porcelain 2>/dev/null)" ] && echo ' (dirty tree)')"
echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings:  BENCH_DOMAINS=$BENCH_DOMAINS BENCH_MIN_QUERIES=$MIN_Q E2E_DOMAINS=$E2E_DOMAINS server=$IP:$PORT"

# ---------------------------------------------------------------- preflight: port
busy() { ss -H -ltnu "( sport = :$PORT )" | awk '{print $5}' | grep -qE "^($IP|0\.0\.0\.0|\*|\[::\]|\[::ffff:$IP\]):$PORT$"; }
# knot binds UDP with SO_REUSEPORT: it would happily share a busy UDP port, so refuse here
! busy || die "$IP:$PORT already in use (set BENCH_PORT)"

# ---------------------------------------------------------------- build
if [ "$SKIP_BUILD" = 1 ]; then
  log "MXRAY_SKIP_BUILD=1: using the existing binaries"
else
  tb=$EPOCHREALTIME
  log "cargo build --release --example dns_throughput --bin mxray"
  (cd "$REPO" && cargo build --release --example dns_throughput --bin mxray >"$BD/build.log" 2>&1) \
    || { tail -25 "$BD/build.log" >&2; die "release build failed (log: $BD/build.log); MXRAY_SKIP_BUILD=1 uses the binaries already built"; }
  log "build took $(el "$tb")s"
fi
MXRAY=$REPO/target/release/mxray
ENGINE=$REPO/target/release/examples/dns_throughput
{ [ -x "$MXRAY" ] && [ -x "$ENGINE" ]; } || die "missing $MXRAY or $ENGINE"
echo "binaries:  mxray $(date -u -r "$MXRAY" '+%F %T') / dns_throughput $(date -u -r "$ENGINE" '+%F %T') (mtime UTC)"

# ---------------------------------------------------------------- world (regenerated only if size or generator changed)
stamp="$BENCH_DOMAINS 1 $(cksum < "$REPO/datasets/gen_world.py")"
if [ "$(cat "$WORLD/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -s "$WORLD/world.test.zone" ]; then
  tg=$EPOCHREALTIME
  rm -rf "$WORLD"
  python3 "$REPO/datasets/gen_world.py" --domains "$BENCH_DOMAINS" --seed 1 --out "$WORLD" 2>"$BD/gen_world.log" \
    || { cat "$BD/gen_world.log" >&2; die "gen_world.py failed"; }
  echo "$stamp" > "$WORLD/.stamp"
  log "world of $BENCH_DOMAINS domains generated in $(el "$tg")s"
else
  log "world of $BENCH_DOMAINS domains already in $WORLD"
fi

# ---------------------------------------------------------------- query file
# queries.txt = pool MX hosts A, MX of every domain, A of every own MX host. The 2% "servfail" domains are
# delegated (NS ns.dead.world.test): Knot, authoritative, answers them with a referral (NOERROR, no AA,
# no answer), which is no answer at all for a stub, so their names are dropped. NXDOMAIN / NODATA names
# stay: Knot answers them authoritatively from the zone. The list is then cycled to >= BENCH_MIN_QUERIES
# lines (an authoritative server has no cache, so repeats cost it the same as the first pass).
Q=$BD/queries.txt
awk '$2=="NS" && $3 ~ /^ns\.(dead|silent)\./ {sub(/\.$/, "", $1); print $1}' "$WORLD/world.test.zone" > "$BD/delegated.txt"
awk 'NR==FNR {d[$1]=1; next}
     { n=$1; sub(/\.$/, "", n); skip=0
       # the name itself or any parent that is delegated (mx.dNNNNNN... never is, but be safe)
       while (n ~ /\./) { if (n in d) { skip=1; break } sub(/^[^.]*\./, "", n) }
       if (!skip) print }' "$BD/delegated.txt" "$WORLD/queries.txt" > "$BD/queries.base"
nbase=$(wc -l < "$BD/queries.base")
[ "$nbase" -gt 0 ] || die "empty query list"
reps=$(( (MIN_Q + nbase - 1) / nbase )); [ "$reps" -ge 1 ] || reps=1
: > "$Q"; for _ in $(seq "$reps"); do cat "$BD/queries.base" >> "$Q"; done
NQ=$(wc -l < "$Q")
log "query file $Q: $NQ queries ($nbase distinct from queries.txt minus $(wc -l < "$BD/delegated.txt") delegated names, x$reps; $(awk '{c[$2]++} END{for (t in c) printf "%s=%d ", t, c[t]}' "$BD/queries.base"))"

# ---------------------------------------------------------------- knot (authoritative for world.test only)
KNOT_PID=""
knot_stop() {
  [ -n "$KNOT_PID" ] || return 0
  local pid=$KNOT_PID; KNOT_PID=""
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = knotd ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = knotd ] || break; sleep 0.1; done
  if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = knotd ]; then
    echo "[bench] knotd pid $pid ignored TERM for 10 s, sending KILL" >&2; kill -KILL "$pid" 2>/dev/null || true
  fi
  log "knotd pid $pid stopped"
}
trap knot_stop EXIT
trap 'exit 130' INT TERM
knot_start() { # udp-workers
  knot_stop
  rm -rf "$KD"; mkdir -p "$KD/db"
  cat > "$KD/knot.conf" <<EOF
server:
    rundir: "$KD"
    pidfile: "$KD/knot.pid"
    listen: $IP@$PORT
    udp-workers: $1
    tcp-workers: 1
    background-workers: 1
    udp-max-payload: 4096
log:
  - target: "$KD/knot.log"
    any: warning
database:
    storage: "$KD/db"
control:
    listen: "$KD/knot.sock"
template:
  - id: default
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: world.test
    file: "$WORLD/world.test.zone"
EOF
  knotc -c "$KD/knot.conf" conf-check >/dev/null || die "knot.conf invalid"
  ! busy || die "$IP:$PORT already in use (set BENCH_PORT)"
  local ts=$EPOCHREALTIME p="" got want='"v=spf1 ip4:127.9.0.0/16 ~all"'
  knotd -c "$KD/knot.conf" -d
  for _ in $(seq 200); do [ -s "$KD/knot.pid" ] && p=$(tr -d ' \n' < "$KD/knot.pid") && [ -n "$p" ] && break; sleep 0.05; done
  { [ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = knotd ]; } || die "knotd did not write a pid file ($KD/knot.log)"
  KNOT_PID=$p
  for _ in $(seq 3000); do   # up to ~5 min for a big zone
    got=$(dig +short +time=1 +tries=1 @"$IP" -p "$PORT" _spf.provider.world.test TXT 2>/dev/null) || true
    [ "$got" = "$want" ] && break
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = knotd ] || { tail -20 "$KD/knot.log" >&2; die "knotd exited"; }
    sleep 0.1
  done
  [ "$got" = "$want" ] || { tail -20 "$KD/knot.log" >&2; die "knot did not answer"; }
  log "knotd pid $p up with udp-workers $1 (zone loaded, ready in $(el "$ts")s)"
}

# Knot's UDP sockets keep the kernel's default receive buffer (net.core.rmem_default, 208 KiB = ~190
# queries on loopback; knot.conf has no option for it): a burst of more outstanding queries overflows it.
# The socket drop counters (ss -m "d") tell how many queries Knot never saw during each tool's run.
knot_drops() { ss -H -lunm "( sport = :$PORT )" | grep -oE 'd[0-9]+\)' | tr -d 'd)' | awk '{s+=$1} END{print s+0}'; }
# CPU, to say where each run's time went: knotd's user+system seconds so far (/proc, all its threads),
# and a client's from bash's `time` (the process and its threads). On two cores shared by the client
# and Knot, a rate is bounded by their CPU per query together, whatever either does with its threads.
CLK_TCK=$(getconf CLK_TCK)
knot_cpu() { awk -v hz="$CLK_TCK" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$KNOT_PID/stat"; }
us_per_q() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{printf "%.1f", (b - a) * 1e6 / (n > 0 ? n : 1)}'; }
# A client's CPU per query from the file bash's `time` wrote ("user system") and its queries.
client_us() { us_per_q 0 "$(awk '{print $1 + $2}' "$1")" "$2"; }

# ---------------------------------------------------------------- dnsperf
DP_QPS="" DP_LOST="" DP_DROPS=""
dnsperf_run() { # label -> DP_QPS DP_LOST DP_DROPS DP_US DP_KNOT_US
  local out=$BD/dnsperf.$1.log d0 k0 n
  d0=$(knot_drops) k0=$(knot_cpu)
  # shellcheck disable=SC2086
  { TIMEFORMAT='%U %S'; time "${ON_CPUS[@]}" dnsperf -s "$IP" -p "$PORT" -d "$Q" -n 1 $DNSPERF_ARGS > "$out" 2>&1; } 2> "$out.cpu" \
    || { tail -20 "$out" >&2; die "dnsperf failed"; }
  n=$(awk '/Queries sent:/{print $3}' "$out")
  DP_KNOT_US=$(us_per_q "$k0" "$(knot_cpu)" "$n")
  DP_US=$(client_us "$out.cpu" "$n")
  DP_QPS=$(awk '/Queries per second:/{print $4}' "$out")
  DP_LOST=$(awk '/Queries lost:/{print $3}' "$out")
  DP_DROPS=$(( $(knot_drops) - d0 ))
  [ -n "$DP_QPS" ] || { cat "$out" >&2; die "no 'Queries per second' in dnsperf output"; }
  log "dnsperf [$1] $DP_QPS q/s, lost $DP_LOST (knot socket drops $DP_DROPS; CPU per query: dnsperf $DP_US us, knot $DP_KNOT_US us); rcodes: $(awk '/Response codes:/{sub(/^ *Response codes: */, ""); print}' "$out")"
}

best_w="" best_q=0 cur_w=""
read -ra WS <<<"$UDP_WORKERS"
[ "${#WS[@]}" -ge 1 ] || die "KNOT_UDP_WORKERS is empty"
if [ "${#WS[@]}" -gt 1 ]; then
  for w in "${WS[@]}"; do
    knot_start "$w"; cur_w=$w
    dnsperf_run "trial-udp$w"
    if awk -v a="$DP_QPS" -v b="$best_q" 'BEGIN{exit !(a > b)}'; then best_w=$w; best_q=$DP_QPS; fi
    echo "trial:     knot udp-workers $w -> dnsperf $DP_QPS q/s"
  done
  log "keeping udp-workers $best_w"
else
  best_w=${WS[0]}
fi
[ "$cur_w" = "$best_w" ] || { knot_start "$best_w"; cur_w=$best_w; }

# ---------------------------------------------------------------- the measurement: dnsperf, then mxray's engine, ROUNDS times
# Each round runs dnsperf, then the engine on ENGINE_THREADS worker threads (dnsperf runs one thread
# with -T 1, and massdns is single-threaded: the same thread budget on cores shared with Knot), then
# the engine on the runtime's default threads (one per core, as `mxray scan` runs it). The ratios are
# per round (the machine drifts between rounds), and the median of the rounds is the figure.
engine_run() { # label threads(0 = runtime default) -> ENG_QPS ENG_RETRIES ENG_DROPS ENG_US ENG_KNOT_US
  local out=$BD/engine.$1.log d0 k0 n
  d0=$(knot_drops) k0=$(knot_cpu)
  { TIMEFORMAT='%U %S'; time MXRAY_THREADS=$2 "${ON_CPUS[@]}" "$ENGINE" "$IP:$PORT" "$Q" "$WINDOW" "$SOCKETS" > "$out" 2>&1; } 2> "$out.cpu" \
    || { tail -20 "$out" >&2; die "dns_throughput example failed"; }
  ENG_QPS=$(sed -n 's/^mxray: .* = \([0-9.]*\) queries\/s.*/\1/p' "$out" | tail -1)
  [ -n "$ENG_QPS" ] || { cat "$out" >&2; die "no 'queries/s' in the example's output"; }
  n=$(sed -n 's/^mxray: \([0-9]*\) queries in .*/\1/p' "$out" | tail -1)
  ENG_KNOT_US=$(us_per_q "$k0" "$(knot_cpu)" "$n")
  ENG_US=$(client_us "$out.cpu" "$n")
  ENG_DROPS=$(( $(knot_drops) - d0 ))
  ENG_RETRIES=$(sed -n 's/^mxray: .*retries \([0-9]*\);.*/\1/p' "$out" | tail -1)
  log "[$1] $(grep '^mxray:' "$out" | tail -1) (knot socket drops $ENG_DROPS; CPU per query: engine $ENG_US us, knot $ENG_KNOT_US us)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# End to end: `mxray scan` with its default settings against the same Knot, in every round, so that
# its ratio to the engine is taken within a round (the machine drifts between rounds) like the
# engine's to dnsperf.
E2E=$BD/e2e
awk -v n="$E2E_DOMAINS" '{print} /^d[0-9]+\.world\.test$/ {if (++c >= n) exit}' "$WORLD/domains.txt" > "$BD/e2e-domains.txt"
ne2e=$(grep -cE '^d[0-9]+\.world\.test$' "$BD/e2e-domains.txt" || true)
log "end to end: mxray scan of $ne2e domains ($(wc -l < "$BD/e2e-domains.txt") input lines incl. noise) against $IP:$PORT in each round"
e2e_run() { # label -> E2E_DPS E2E_QPS E2E_HIT E2E_N E2E_S E2E_RETRIES E2E_DROPS E2E_US E2E_KNOT_US
  local d0 k0 k1
  d0=$(knot_drops) k0=$(knot_cpu)
  # shellcheck disable=SC2086
  "${ON_CPUS[@]}" "$MXRAY" scan --domains "$BD/e2e-domains.txt" --out "$E2E" --overwrite --resolver "$IP:$PORT" -q $E2E_ARGS \
    > "$BD/e2e.$1.log" 2>&1 || { tail -20 "$BD/e2e.$1.log" >&2; die "mxray scan failed"; }
  E2E_DROPS=$(( $(knot_drops) - d0 )) k1=$(knot_cpu)
  # The scan's CPU is its own run.json's (getrusage at the end: every thread, the writer's included).
  read -r E2E_DPS E2E_QPS E2E_HIT E2E_N E2E_S E2E_RETRIES E2E_US E2E_Q <<<"$(python3 - "$E2E/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = (r.get("cpu") or {}).get("per_query_us")
print("%.0f %.0f %.3f %d %.2f %s %s %d" % (r["rates"]["targets_per_s"], r["rates"]["queries_per_s"],
      r["cache"]["hit_rate"], r["counts"]["domains_scanned"], r["duration_s"], r.get("dns", {}).get("retries", "?"),
      "?" if cpu is None else "%.1f" % cpu, r["dns"]["queries"]))
PY
)"
  E2E_KNOT_US=$(us_per_q "$k0" "$k1" "$E2E_Q")
  log "[$1] e2e $E2E_N domains in $E2E_S s = $E2E_QPS queries/s (retries $E2E_RETRIES, knot socket drops $E2E_DROPS; CPU per query: scan $E2E_US us, knot $E2E_KNOT_US us)"
}

RATIOS="" RATIOS_MT="" E2E_RATIOS="" E2E_RATIOS_MT="" E2E_ALL="" ROUND_LINES="" CPU_LINES="" E2E_BOUNDS=""
for r in $(seq "$ROUNDS"); do
  dnsperf_run "udp$best_w-r$r"
  engine_run "r$r-t$ENGINE_THREADS" "$ENGINE_THREADS"; q1=$ENG_QPS e1=$ENG_RETRIES d1=$ENG_DROPS u1=$ENG_US ku1=$ENG_KNOT_US
  engine_run "r$r-default" 0; q2=$ENG_QPS
  e2e_run "r$r"
  r1=$(ratio "$q1" "$DP_QPS")
  r2=$(ratio "$q2" "$DP_QPS")
  re1=$(ratio "$E2E_QPS" "$q1")
  re2=$(ratio "$E2E_QPS" "$q2")
  RATIOS="$RATIOS $r1" RATIOS_MT="$RATIOS_MT $r2" E2E_RATIOS="$E2E_RATIOS $re1" E2E_RATIOS_MT="$E2E_RATIOS_MT $re2"
  E2E_ALL="$E2E_ALL $E2E_QPS"
  # The most the scan could do on these cores at its own and Knot's CPU per query in this round (both
  # busy all the time, nothing else running), over the engine of the round.
  bound=$(awk -v c="$(nproc)" -v s="$E2E_US" -v k="$E2E_KNOT_US" -v e="$q1" \
    'BEGIN{if (s ~ /^[0-9.]+$/ && s + k > 0) printf "%.3f", c * 1e6 / (s + k) / e; else print "?"}')
  E2E_BOUNDS="$E2E_BOUNDS $bound"
  CPU_LINES="$CPU_LINES$(printf 'round %d CPU per query (us): dnsperf %s + knot %s | engine %s + knot %s | scan %s + knot %s -> on %d cores the scan could reach at most %s of the engine' \
    "$r" "$DP_US" "$DP_KNOT_US" "$u1" "$ku1" "$E2E_US" "$E2E_KNOT_US" "$(nproc)" "$bound")"$'\n'
  ROUND_LINES="$ROUND_LINES$(printf 'round %d: dnsperf %.0f (drops %s) | engine %s thread(s) %.0f = %s (retries %s, drops %s) | engine default threads %.0f = %s (retries %s, drops %s) | e2e %.0f = %s of the engine on %s, %s on default threads (retries %s, drops %s)' \
    "$r" "$DP_QPS" "$DP_DROPS" "$ENGINE_THREADS" "$q1" "$r1" "$e1" "$d1" "$q2" "$r2" "$ENG_RETRIES" "$ENG_DROPS" \
    "$E2E_QPS" "$re1" "$ENGINE_THREADS" "$re2" "$E2E_RETRIES" "$E2E_DROPS")"$'\n'
done
DNSPERF_QPS=$DP_QPS DNSPERF_LOST=$DP_LOST DNSPERF_DROPS=$DP_DROPS MXRAY_QPS=$q1
RATIO=$(echo "$RATIOS" | median)
RATIO_MT=$(echo "$RATIOS_MT" | median)
E2E_RATIO=$(echo "$E2E_RATIOS" | median)
E2E_RATIO_MT=$(echo "$E2E_RATIOS_MT" | median)
E2E_MEDIAN=$(echo "$E2E_ALL" | median)

# ---------------------------------------------------------------- pinned rounds (PINNED=1)
# On two cores shared by Knot and a client, the scheduler decides who runs beside whom, and the
# client's rate is bounded by its CPU per query and Knot's together. With Knot alone on the last CPU
# and the client on the others, a client's rate is its own CPU per query's (Knot's core is not its
# bottleneck while it idles part of the time), and the scan/engine ratio is what each costs per query.
# The results' "last round" lines are the unpinned rounds'.
E2E_LAST="$E2E_N domains in $E2E_S s, $E2E_DPS domains/s, cache hit rate $E2E_HIT (retries $E2E_RETRIES, knot socket drops $E2E_DROPS)"
ENG_DROPS_LAST=$ENG_DROPS
PIN_LINES="" PIN_RATIOS=""
if [ "$PINNED" = 1 ]; then
  ncpu=$(nproc)
  [ "$ncpu" -ge 2 ] || die "PINNED=1 needs two CPUs"
  command -v taskset >/dev/null || die "taskset not found (util-linux)"
  pin_knot() { local t; for t in /proc/"$KNOT_PID"/task/*; do taskset -pc "$1" "${t##*/}" >/dev/null; done; }
  pin_knot $((ncpu - 1))
  ON_CPUS=(taskset -c "0-$((ncpu - 2))")
  log "pinned rounds: knot on CPU $((ncpu - 1)), the clients on CPUs 0-$((ncpu - 2))"
  for r in $(seq "$ROUNDS"); do
    dnsperf_run "pinned-r$r"
    engine_run "pinned-r$r-t$ENGINE_THREADS" "$ENGINE_THREADS"
    e2e_run "pinned-r$r"
    rp=$(ratio "$E2E_QPS" "$ENG_QPS")
    PIN_RATIOS="$PIN_RATIOS $rp"
    PIN_LINES="$PIN_LINES$(printf 'pinned round %d: dnsperf %.0f (%s us/query) | engine %.0f (%s us/query, drops %s) | e2e %.0f (%s us/query, drops %s) = %s of the engine' \
      "$r" "$DP_QPS" "$DP_US" "$ENG_QPS" "$ENG_US" "$ENG_DROPS" "$E2E_QPS" "$E2E_US" "$E2E_DROPS" "$rp")"$'\n'
  done
  ON_CPUS=()
  pin_knot "0-$((ncpu - 1))"
fi

# ---------------------------------------------------------------- results
echo
echo "== results (knot udp-workers $best_w; $NQ queries; dnsperf $DNSPERF_ARGS; mxray window $WINDOW, $SOCKETS sockets; $ROUNDS rounds)"
printf '%s' "$ROUND_LINES"
printf '%s' "$CPU_LINES"
echo   "ratio engine/dnsperf:     $RATIO   (median of $ROUNDS rounds, engine on $ENGINE_THREADS worker thread(s); target >= 0.95)"
echo   "  on default threads:     $RATIO_MT   (median; the runtime's one thread per core, as the scan runs)"
echo   "e2e scan (last round):    $E2E_LAST"
echo   "e2e queries/s:            $E2E_MEDIAN   (median of $ROUNDS rounds)"
echo   "e2e / engine queries/s:   $E2E_RATIO   (median of the rounds' ratios, engine on $ENGINE_THREADS worker thread(s); issue 10's goal >= 0.7)"
echo   "  on default threads:     $E2E_RATIO_MT"
echo   "e2e CPU bound:            $(echo "$E2E_BOUNDS" | tr " " "\n" | grep -v "?" | median)   (median of the rounds' cores / (scan + knot CPU per query) / the engine's rate: the ratio's ceiling here)"
if [ "$PINNED" = 1 ]; then
  printf '%s' "$PIN_LINES"
  echo "pinned e2e / engine:      $(echo "$PIN_RATIOS" | median)   (median; knot on a CPU of its own, each client on the others)"
fi
if [ "$ENG_DROPS_LAST" -gt 0 ]; then
  echo "note:                     Knot dropped $ENG_DROPS_LAST of mxray's queries in the last round (receive buffer full): each"
  echo "                          costs a retransmission timeout, included in mxray's time; dnsperf's rate leaves lost"
  echo "                          queries out. Try MXRAY_WINDOW=200 (see benches/README.md)"
fi
echo   "logs:                     $BD (dnsperf.*.log, engine.*.log, e2e.*.log, e2e/run.json of the last scan)"
