#!/usr/bin/env bash
# smtp.sh - SMTP sessions per second: mxray's SMTP stage against nmap's smtp-open-relay script, on many
# loopback addresses answered by ONE wildcard Postfix (0.0.0.0:25, a CLOSED server: relaying refused,
# no STARTTLS, nothing ever delivered) inside a private network namespace that has only `lo`.
# A small Unbound in the same namespace answers the host stage's PTR and forward-confirmation queries
# from local data (no recursion, never leaves loopback). Both tools run in the same run, against
# the same Postfix and the same addresses (nmap's sets are taken from mxray's range, spread over its /24s).
#   bash benches/smtp.sh                 (root: apt if postfix/nmap/unbound are missing, netns)
# Prints, for each run: addresses, seconds, hosts/s, and the ratios mxray/nmap.
#   mxray defaults   --smtp-concurrency 500 --smtp-per-net 4 --smtp-rate 200 (the polite settings)
#   mxray lifted     each ';'-separated option set of LIFTED_RUNS (the machine's capacity), by default
#                    --smtp-rate 5000 --smtp-per-net 64 (then 500 at once), and the same with
#                    --smtp-concurrency 64
#   nmap one process nmap -Pn -n -p 25 --script smtp-open-relay <N addresses>, N in NMAP_SETS (nmap's
#                    own host groups and script parallelism; its rate grows with N)
#   nmap one by one  one nmap process per address, NMAP_SEQ_HOSTS of them (how it is used per host)
# Also per session: the client's CPU time and the CPU time of all Postfix processes.
# Latency: DELAY_MS [0] > 0 puts examples/latency_proxy.rs (0.0.0.0:25, each chunk held DELAY_MS each way,
# so a round trip of 2 x DELAY_MS) in front of Postfix (then on 127.0.0.1:2525): this kernel has no netem.
# Both tools go through it. PER24 [0] > 0 scans only the first PER24 addresses of each /24 of the range
# (e.g. MXRAY_RANGE=127.16.0.0/12 PER24=1: 4096 addresses in 4096 /24s, as the MX hosts of a domain list
# are spread), so the per-/24 limit does not stand for the whole internet.
#   DELAY_MS=25 PER24=1 MXRAY_RANGE=127.16.0.0/12 NMAP_SEQ_HOSTS=16 LIFTED_RUNS=' ' bash benches/smtp.sh
# Knobs: MXRAY_RANGE [127.1.0.0/20: 4096 addresses over 16 /24s], NMAP_SETS ["64 1024"],
#   NMAP_SEQ_HOSTS [64], LIFTED_RUNS, MXRAY_ARGS [""] (extra options for every mxray run),
#   PF_PROCS [500] (Postfix's default_process_limit), SMTPBENCH_DIR [/tmp/mxray-smtpbench; each
#   run in run.PID], MXRAY_SKIP_BUILD [0], CARGO_TARGET_DIR (where target/release/mxray is built).
# Builds run under `flock /tmp/mxray-build.lock` (the machine is shared). Everything started here
# is stopped by PID on exit and the namespace removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release/mxray
BD=${SMTPBENCH_DIR:-${TMPDIR:-/tmp}/mxray-smtpbench}
RUN=$BD/run.$$   # this run's own state, logs and mxray outputs: two runs at once do not share files
RANGE=${MXRAY_RANGE:-127.1.0.0/20}
NMAP_SETS=${NMAP_SETS:-64 1024}
NMAP_SEQ_HOSTS=${NMAP_SEQ_HOSTS:-64}
LIFTED_RUNS=${LIFTED_RUNS:---smtp-rate 5000 --smtp-per-net 64; --smtp-rate 5000 --smtp-per-net 64 --smtp-concurrency 64}
PF_PROCS=${PF_PROCS:-500}
DELAY_MS=${DELAY_MS:-0}
PER24=${PER24:-0}
NETNS=mxray-smtpbench-$$
RES=127.0.0.1:5353
die() { echo "[smtp.sh] FATAL: $*" >&2; exit 1; }
ns() { ip netns exec "$NETNS" "$@"; }
now() { date +%s.%N; }

[ "$(id -u)" = 0 ] || die "run as root (network namespace, Postfix)"
mkdir -p "$BD"
for d in "$BD"/run.*; do   # earlier runs' state, once their script has ended
  [ -d "$d" ] && ! kill -0 "${d##*.}" 2>/dev/null && rm -rf "$d"
done
mkdir "$RUN"
# the addresses: loopback only, and none of the fixtures' (127.0.0.0/24, 127.0.1.0/24)
python3 - "$RANGE" <<'PY' || die "MXRAY_RANGE=$RANGE must be an IPv4 CIDR inside 127.0.0.0/8, apart from 127.0.0.0/23"
import ipaddress, sys
n = ipaddress.ip_network(sys.argv[1])
assert n.version == 4 and n.subnet_of(ipaddress.ip_network("127.0.0.0/8"))
assert not n.overlaps(ipaddress.ip_network("127.0.0.0/23"))
PY

# ---------------------------------------------------------------- install (only what is missing)
missing=""
for b in postfix postconf nmap unbound unbound-checkconf dig script ip /usr/bin/time; do command -v "$b" >/dev/null || missing="$missing $b"; done
if [ -n "$missing" ]; then
  echo "[smtp.sh] installing (missing:$missing)"
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # no postinst may start anything system-wide
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >"$RUN/apt.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    postfix nmap unbound bind9-dnsutils iproute2 bsdutils time python3 >>"$RUN/apt.log" 2>&1 || { tail -20 "$RUN/apt.log"; die "apt-get install failed"; }
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# ---------------------------------------------------------------- build
if [ "${MXRAY_SKIP_BUILD:-0}" != 1 ]; then
  CARGO_TARGET_DIR=$TARGET flock /tmp/mxray-build.lock cargo build --release --bin mxray >"$RUN/build.log" 2>&1 \
    || { tail -20 "$RUN/build.log"; die "cargo build failed"; }
  if [ "$DELAY_MS" != 0 ]; then
    CARGO_TARGET_DIR=$TARGET flock /tmp/mxray-build.lock cargo build --release --example latency_proxy >>"$RUN/build.log" 2>&1 \
      || { tail -20 "$RUN/build.log"; die "cargo build --example latency_proxy failed"; }
  fi
fi
[ -x "$BIN" ] || die "no $BIN (build it, or set CARGO_TARGET_DIR)"
PROXY=$TARGET/release/examples/latency_proxy
[ "$DELAY_MS" = 0 ] || [ -x "$PROXY" ] || die "no $PROXY (build it: cargo build --release --example latency_proxy)"

# ---------------------------------------------------------------- namespace and cleanup
PF=$RUN/postfix; PFC=$PF/etc; Q=$PF/spool; UB=$RUN/unbound
NS_CREATED=0
cleanup() {
  local rc=$? p i
  set +e
  if [ "$NS_CREATED" = 1 ]; then
    # Postfix's master first (it stops its children), Unbound, then anything else still in the
    # namespace; only PIDs that are in our namespace
    for f in "$Q/pid/master.pid" "$UB/unbound.pid"; do
      p=$(tr -d ' \n' < "$f" 2>/dev/null)
      [ -n "$p" ] && ip netns pids "$NETNS" | grep -qxF "$p" && kill "$p" 2>/dev/null
    done
    for i in $(seq 50); do [ -z "$(ip netns pids "$NETNS")" ] && break; sleep 0.1; done
    for p in $(ip netns pids "$NETNS"); do kill -9 "$p" 2>/dev/null; done
    for i in $(seq 20); do [ -z "$(ip netns pids "$NETNS")" ] && break; sleep 0.1; done
    ip netns del "$NETNS"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NETNS" || die "ip netns add $NETNS failed"
NS_CREATED=1
ns ip link set lo up
[ "$(ns ip -o link show | wc -l)" = 1 ] || die "netns $NETNS has more than lo"

# ---------------------------------------------------------------- the addresses
python3 - "$RANGE" "$PER24" "$NMAP_SEQ_HOSTS" "$RUN" $NMAP_SETS <<'PY' || die "NMAP_SETS, NMAP_SEQ_HOSTS: at most the number of addresses"
import ipaddress, sys
net, per24, n_seq, run = ipaddress.ip_network(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sets = [int(x) for x in sys.argv[5:]]
if per24 > 0:  # the first PER24 host addresses of each /24 (.1 on)
    addrs = [ipaddress.ip_address(int(s.network_address) + 1 + i)
             for s in (net.subnets(new_prefix=24) if net.prefixlen <= 24 else [net]) for i in range(per24)]
else:
    addrs = list(net)  # every address of the block
open(f"{run}/targets.txt", "w").write("".join(f"{a}\n" for a in addrs))
# nmap's sets: the first addresses of each of the block's /24s in turn (spread like mxray's)
by24 = {}
for a in addrs:
    by24.setdefault(int(a) >> 8, []).append(a)
spread = [a for col in zip(*by24.values()) for a in col]
for n in sets + [n_seq]:
    assert 0 < n <= len(addrs)
for n in sets:
    open(f"{run}/nmap-{n}.txt", "w").write("".join(f"{a}\n" for a in spread[:n]))
open(f"{run}/nmap-seq.txt", "w").write("".join(f"{a}\n" for a in spread[:n_seq]))
# Unbound's local data: a PTR for every address and the A record that confirms it
with open(f"{run}/local-data.conf", "w") as f:
    for a in addrs:
        name = "h-" + str(a).replace(".", "-") + ".smtpbench.test"
        f.write(f'    local-data-ptr: "{a} {name}"\n    local-data: "{name}. 300 IN A {a}"\n')
print(len(addrs), file=open(f"{run}/count", "w"))
PY
N_MXRAY=$(cat "$RUN/count")

# ---------------------------------------------------------------- unbound (PTR and A from local data only)
mkdir -p "$UB"
cat > "$UB/unbound.conf" <<EOF
server:
    interface: ${RES%:*}@${RES#*:}
    port: ${RES#*:}
    do-ip6: no
    so-reuseport: no
    num-threads: 1
    username: ""
    chroot: ""
    directory: "$UB"
    pidfile: "$UB/unbound.pid"
    logfile: "$UB/unbound.log"
    use-syslog: no
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    # answers only from local data; any other name is refused (nothing to recurse to, never leaves lo)
    local-zone: "." refuse
    local-zone: "127.in-addr.arpa." static
    local-zone: "smtpbench.test." static
$(cat "$RUN/local-data.conf")
EOF
unbound-checkconf "$UB/unbound.conf" >/dev/null || die "unbound-checkconf failed"
ns unbound -c "$UB/unbound.conf"
for i in $(seq 100); do [ -s "$UB/unbound.pid" ] && break; sleep 0.05; done
[ "$(cat /proc/"$(cat "$UB/unbound.pid")"/comm 2>/dev/null)" = unbound ] || { cat "$UB/unbound.log"; die "unbound did not start"; }

# ---------------------------------------------------------------- postfix: one wildcard, closed listener
mkdir -p "$PFC" "$Q"
cat > "$PFC/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $Q
data_directory = $PF/data
myhostname = bench.smtpbench.test
mydomain = smtpbench.test
myorigin = \$myhostname
# no local domain, no relay domain, no trusted network: every recipient is refused at RCPT
# (554 5.7.1 Relay access denied): a CLOSED server. Every loopback client is 127.0.0.1, and
# Postfix's default mynetworks (127.0.0.0/8) would make it an open relay
mydestination =
relay_domains =
mynetworks =
smtpd_relay_restrictions = reject_unauth_destination
local_recipient_maps =
# must be an interface address; the listener in master.cf is 0.0.0.0:25 (in the netns: loopback only)
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# NOTHING is ever delivered: every transport is discard, master.cf has no smtp, relay, lmtp or local service
default_transport = discard:
relay_transport = discard:
local_transport = discard:
virtual_transport = discard:
fallback_transport =
relayhost =
alias_maps =
alias_database =
notify_classes =
biff = no
# no DNS from the server
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_banner = \$myhostname ESMTP Postfix
# plain SMTP: no STARTTLS offered
smtpd_tls_security_level = none
# not the bottleneck: 500 smtpd processes (default 100), no tarpit after rejects (default 1 s per
# error after the 10th), no per-client limits (every client is 127.0.0.1), error/junk limits
# above the ~21 (mxray) or 16 (nmap) rejected RCPTs and RSETs of one session (defaults 20 and 100,
# 1 under stress)
default_process_limit = $PF_PROCS
smtpd_error_sleep_time = 0
in_flow_delay = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_new_tls_session_rate_limit = 0
smtpd_client_auth_rate_limit = 0
# no syslogd: log to a file through postlogd
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
EOF
# with DELAY_MS, the latency proxy takes 0.0.0.0:25 and Postfix listens behind it
PF_LISTEN=0.0.0.0:25
[ "$DELAY_MS" = 0 ] || PF_LISTEN=127.0.0.1:2525
cat > "$PFC/master.cf" <<EOF
# the wildcard listener: answers on every 127.x.y.z of the namespace; maxproc - = default_process_limit
$PF_LISTEN inet n - n - - smtpd
EOF
cat "$REPO/tests/fixtures/postfix-services.cf" >> "$PFC/master.cf"
# quick start (as tests/fixtures/up.sh): the queue is new, so make its directories as post-install
# would and skip postfix-script's integrity checks; date main.cf back (Postfix waits for a 2 s old file)
install -d -o root -g root -m 755 "$Q/pid"
for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
  install -d -o postfix -g root -m 700 "$Q/$d"
done
install -d -o postfix -g postdrop -m 730 "$Q/maildrop"
install -d -o postfix -g postdrop -m 710 "$Q/public"
install -d -o postfix -g root -m 700 "$PF/data"
: > "$Q/quick-start"
touch -d "@$(( $(date +%s) - 60 ))" "$PFC/main.cf" "$PFC/master.cf"
# Postfix prints its errors only to a tty: give it one with script(1)
ns script -qec "postfix -c $PFC start" /dev/null </dev/null | tr -d '\r' | grep -v 'starting the Postfix' || true
for i in $(seq 100); do [ -s "$Q/pid/master.pid" ] && break; sleep 0.05; done
[ "$(cat /proc/"$(tr -d ' \n' < "$Q/pid/master.pid")"/comm 2>/dev/null)" = master ] \
  || { tail -20 "$PF/maillog" 2>/dev/null; die "postfix did not start"; }
if [ "$DELAY_MS" != 0 ]; then
  ns "$PROXY" 0.0.0.0:25 127.0.0.1:2525 "$DELAY_MS" >"$RUN/proxy.log" 2>&1 &
fi
first=$(head -n1 "$RUN/nmap-seq.txt")
for i in $(seq 100); do
  ns timeout 2 bash -c "exec 3<>/dev/tcp/$first/25 && head -n1 <&3" 2>/dev/null | grep -q '^220 bench.smtpbench.test' && break
  [ "$i" = 100 ] && { tail -20 "$PF/maillog"; die "no 220 greeting from $first:25"; }
  sleep 0.05
done
[ "$(ns dig +short +time=1 +tries=1 -p "${RES#*:}" @"${RES%:*}" -x "$first" 2>/dev/null)" = "h-${first//./-}.smtpbench.test." ] \
  || die "unbound gives no PTR for $first"

# ---------------------------------------------------------------- facts
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the start"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet -- src Cargo.toml Cargo.lock || echo ' (dirty src)')"
echo "versions: $("$BIN" --version 2>/dev/null | head -n1); Postfix $(postconf -d -h mail_version); $(nmap --version | head -n1 | cut -d' ' -f1-3); Unbound $(unbound -V | head -n1 | cut -d' ' -f2)"
echo "server:   one Postfix, 0.0.0.0:25 in netns $NETNS (only lo), closed (relay refused), no STARTTLS,"
[ "$DELAY_MS" = 0 ] || echo "latency:  ${DELAY_MS} ms each way (RTT $((2 * DELAY_MS)) ms) through examples/latency_proxy.rs in front of Postfix (127.0.0.1:2525)"
echo "targets:  $N_MXRAY addresses of $RANGE$([ "$PER24" = 0 ] || echo ", the first $PER24 of each /24")"
echo "          default_process_limit $PF_PROCS, no error sleep, no per-client limits; PTR/A from Unbound $RES"

# ---------------------------------------------------------------- measurement
# Each run: wall time (date +%s.%N around it), the client's CPU (user+sys, /usr/bin/time) and the CPU
# that the Postfix processes in the namespace spent meanwhile (utime+stime+cutime+cstime of every
# process there but Unbound, before and after; the master's cutime holds the smtpd processes it reaped).
srv_ticks() {
  local p t=0 v
  for p in $(ip netns pids "$NETNS"); do
    case "$(cat /proc/"$p"/comm 2>/dev/null)" in unbound|latency_proxy) continue ;; esac
    v=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12+$13+$14+$15}') || continue
    t=$(( t + ${v:-0} ))
  done
  echo "$t"
}
: > "$RUN/runs"
measure() { # name kind(mxray|nmap) hosts-file|- label, command...: one line in $RUN/runs
  local name=$1 kind=$2 hosts=$3 label=$4 s0 s1 t0 t1; shift 4
  s0=$(srv_ticks); t0=$(now)
  /usr/bin/time -f '%U %S' -o "$RUN/$name.rusage" "$@" >"$RUN/$name.out" 2>&1 \
    || { tail -20 "$RUN/$name.out"; die "$name failed"; }
  t1=$(now); s1=$(srv_ticks)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$hosts" "$t0" "$t1" "$(tail -n1 "$RUN/$name.rusage")" \
    "$(( s1 - s0 ))" "$label" >> "$RUN/runs"
}
mxray() { # name label, options...
  local name=$1 label=$2; shift 2
  # shellcheck disable=SC2086
  measure "$name" mxray - "$label" ip netns exec "$NETNS" "$BIN" scan --ips "$RUN/targets.txt" --allow-loopback --smtp \
    --resolver "$RES" --out "$RUN/out-$name" --overwrite -q "$@" ${MXRAY_ARGS:-}
}

# ---------------------------------------------------------------- mxray
mxray mxray-default "mxray, defaults (rate 200/s, 4 per /24, 500 at once)"
i=0
IFS=';' read -ra lifted <<< "$LIFTED_RUNS"
for a in "${lifted[@]}"; do
  [ -n "${a// /}" ] || continue
  i=$((i + 1))
  # shellcheck disable=SC2086
  mxray "mxray-lifted$i" "mxray, lifted: $(echo $a)" $a
done

# ---------------------------------------------------------------- nmap
for n in $NMAP_SETS; do
  # shellcheck disable=SC2046
  measure "nmap-$n" nmap "$RUN/nmap-$n.txt" "nmap smtp-open-relay, one process" \
    ip netns exec "$NETNS" nmap -Pn -n -p 25 --script smtp-open-relay $(cat "$RUN/nmap-$n.txt")
done
# shellcheck disable=SC2016
measure nmap-seq nmap "$RUN/nmap-seq.txt" "nmap smtp-open-relay, one host at a time" \
  bash -c 'while read -r ip; do ip netns exec "$1" nmap -Pn -n -p 25 --script smtp-open-relay "$ip" || exit 1; done < "$2"' \
  _ "$NETNS" "$RUN/nmap-seq.txt"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) at the end"

# ---------------------------------------------------------------- figures
python3 - "$RUN" "$(getconf CLK_TCK)" <<'PY'
import json, re, sys
run, hz = sys.argv[1], int(sys.argv[2])
ok = True
rows = []
for line in open(f"{run}/runs"):
    name, kind, hosts, t0, t1, cpu, srv, label = line.rstrip("\n").split("\t")
    wall = float(t1) - float(t0)
    cpu = sum(map(float, cpu.split()))
    srv = int(srv) / hz
    if kind == "mxray":
        m = json.load(open(f"{run}/out-{name}/run.json"))
        st = next(s for s in m["stages"] if s["name"] == "smtp")
        sc = m.get("status_counts", {}).get("smtp_status", {})
        n = m["counts"]["hosts"]
        good = sc.get("ok", 0)
        if good != n or st["done"] != n:
            ok = False
            print(f"CHECK FAILED: {name}: smtp_status {sc}, smtp stage done {st['done']}, for {n} hosts")
        note = (f"smtp stage: done {st['done']}, active {st['active_s']:.2f} s = {st['rows_per_s']:.0f} sessions/s; "
                f"smtp_status ok {good}/{n}")
        stage = st["rows_per_s"]
    else:
        out = open(f"{run}/{name}.out").read()
        want = [l.strip() for l in open(hosts) if l.strip()]
        reports = re.findall(r"^Nmap scan report for (\S+)", out, re.M)
        verdicts = re.findall(r"smtp-open-relay: (.*)", out)
        closed = sum(v.startswith("Server doesn't seem to be an open relay") for v in verdicts)
        n = len(want)
        if sorted(reports) != sorted(want) or closed != n:
            ok = False
            print(f"CHECK FAILED: {name}: {len(reports)} reports, {closed} 'doesn't seem to be an open relay' "
                  f"of {n}; verdicts {sorted(set(verdicts))}")
        note = f"verdict \"Server doesn't seem to be an open relay\": {closed}/{n}"
        stage = None
    rows.append(dict(name=name, kind=kind, label=label, n=n, wall=wall, rate=n / wall, stage=stage,
                     cpu=cpu * 1000 / n, srv=srv * 1000 / n, note=note))
print()
print(f"{'run':72} {'addresses':>9} {'seconds':>8} {'hosts/s':>8} {'client CPU':>11} {'Postfix CPU':>12}")
for r in rows:
    print(f"{r['label']:72} {r['n']:9} {r['wall']:8.2f} {r['rate']:8.1f} {r['cpu']:8.2f} ms {r['srv']:9.2f} ms")
    print(f"{'':72} {r['note']}")
print(f"{'':72} (CPU per session: client = the tool's user+sys, Postfix = all its processes)")
print()
print("ratios of hosts/s (whole-process wall time on both sides; in brackets: mxray's SMTP stage alone, rows_per_s):")
mx = [r for r in rows if r["kind"] == "mxray"]
nm = [r for r in rows if r["kind"] == "nmap"]
for a in mx:
    for b in nm:
        print(f"  {a['name']:14} / {b['name']:9} ({b['n']:4} hosts) = {a['rate'] / b['rate']:7.1f}x  ({a['stage'] / b['rate']:.1f}x)")
d = mx[0]
for b in nm:
    r = d["rate"] / b["rate"]
    print(f"goal >= 100x, mxray defaults vs {b['label']} ({b['n']} hosts): {r:.1f}x, {'met' if r >= 100 else 'NOT met'}")
sys.exit(0 if ok else 1)
PY
