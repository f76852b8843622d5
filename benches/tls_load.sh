#!/usr/bin/env bash
# tls_load.sh - does the SMTP stage's TLS work starve the DNS engine's receive path (issue 37, item 4)?
# The world's domains (resolver.sh's "same" half: the delegations that time out left out) are
# scanned with --smtp through the fixtures' validating Unbound, while every MX address of theirs
# answers ESMTP on port 25 (benches/tls_load.py, one asyncio process, inside the private network
# namespace, nothing delivered). The runs alternate, each from a freshly reloaded Unbound:
#   plain  the hosts offer no STARTTLS: the same SMTP sessions without a handshake
#   tls    the hosts offer STARTTLS (ECDSA P-256 certificate): every session does a TLS 1.3 handshake
#          and mxray verifies the certificate (it fails: self-signed; the work is done all the same)
#   none   no --smtp at all
# Each with SMTP_ARGS [--smtp-rate 2000 --smtp-per-net 64] so the handshakes overlap the DNS stage
# (at the polite default of 200 sessions/s they would too, more thinly). Printed per run: the domain
# stage's seconds and queries/s, late answers (dropped_datagrams: answers that came after their
# attempt was given up, what a starved receive loop makes), attempt timeouts, spurious timeouts,
# the final window, the TLS sessions made, and mxray's CPU seconds.
#   bash benches/tls_load.sh            (root: netns)
# Knobs: ROUNDS [2], SMTP_ARGS, MXRAY_SKIP_BUILD [0], WORLD_DOMAINS [20000].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BD=${TMPDIR:-/tmp}/mxray-tlsload
export FIXTURES_DIR=$BD/fixtures WORLD_DOMAINS=${WORLD_DOMAINS:-20000}
# shellcheck source=benches/lib.sh
. "$REPO/benches/lib.sh"
bench_netns mxray-tlsload
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
bench_build
bench_up
SRV=""
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; bash "$REPO/tests/fixtures/down.sh" >/dev/null 2>&1 || true' EXIT
W=$MXRAY_TEST_WORLD
UCONF=$FIXTURES_DIR/run/unbound/unbound.conf
cold() { in_ns unbound-control -c "$UCONF" reload >/dev/null; }
echo "date:     $(date -u '+%F %T') UTC; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "git:      $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty tree)')"
python3 - "$W/expected.jsonl" "$BD/domains.txt" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for i, line in enumerate(f):
        e = json.loads(line)
        if i % 2 == 0 and e["mx_status"] != "timeout":
            out.write(e["domain"] + "\n")
PY
scan() { # out dir, extra args
  local out=$1; shift
  /usr/bin/time -f "%U %S" -o "$out.cpu" env ${FIXTURES_NETNS:+ip netns exec "$FIXTURES_NETNS"} target/release/mxray scan \
    --domains "$BD/domains.txt" --allow-loopback --resolver "$MXRAY_TEST_RESOLVER" \
    --out "$out" --overwrite --format parquet,csv -q "$@"
}
# The MX addresses, from a scan without SMTP (not timed).
cold
scan "$BD/addresses"
python3 -c '
import csv, sys
ips = {ip for r in csv.DictReader(open(sys.argv[1])) for ip in (r["mx_ips"] or "").split(";") if ip}
print("\n".join(sorted(ips)))' "$BD/addresses/domains.csv" > "$BD/ips.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=tls-load.bench.test" \
  -keyout "$BD/key.pem" -out "$BD/cert.pem" 2>/dev/null
serve() { # mode
  [ -n "$SRV" ] && { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; }
  # A simple command, not in_ns (a function): $! is then the server's own PID (env and ip exec it).
  env ${FIXTURES_NETNS:+ip netns exec "$FIXTURES_NETNS"} python3 "$REPO/benches/tls_load.py" "$1" "$BD/ips.txt" "$BD/cert.pem" "$BD/key.pem" > "$BD/server.log" 2>&1 &
  SRV=$!
  for _ in $(seq 100); do grep -q listening "$BD/server.log" && return; sleep 0.1; done
  cat "$BD/server.log"; exit 1
}
echo "world:    $(wc -l < "$BD/domains.txt") domains, $(wc -l < "$BD/ips.txt") MX addresses answering ESMTP; SMTP_ARGS=${SMTP_ARGS:=--smtp-rate 2000 --smtp-per-net 64}"
printf '%-6s %8s %9s %12s %10s %9s %7s %5s %8s\n' run domain_s queries/s late_answers timeouts spurious window tls cpu_s
for round in $(seq "${ROUNDS:-2}"); do
  for mode in plain tls none; do
    args=()
    if [ "$mode" != none ]; then
      serve "$mode"
      # shellcheck disable=SC2206
      args=(--smtp $SMTP_ARGS)
    fi
    cold
    scan "$BD/$mode.$round" "${args[@]}"
    python3 - "$BD/$mode.$round" "$mode" <<'PY'
import json, sys
out, mode = sys.argv[1:]
m = json.load(open(out + "/run.json"))
d = m["dns"]
st = next(s for s in m["stages"] if s["name"] == "domains")
tls = 0
if mode != "none":
    import csv
    tls = sum(1 for r in csv.DictReader(open(out + "/hosts.csv")) if r.get("tls_version"))
cpu = sum(map(float, open(out + ".cpu").read().split()))
print(f"{mode:<6} {st['active_s']:8.1f} {d['queries'] / st['active_s']:9.0f} {d['dropped_datagrams']:12} "
      f"{d['attempt_timeouts']:10} {d['spurious_timeouts']:9} {d['window_final']:7} {tls:5} {cpu:8.1f}")
PY
  done
done
