#!/usr/bin/env python3
"""soak_check.py RUNS EXPECTED - the checks of benches/soak.sh over its runs (RUNS: one line per
run, `index fault out-dir`; EXPECTED: the world's expected.jsonl). A run fails when a row is
missing or repeated, an MX address has no hosts row, a probe panicked or was abandoned, run.json
is not `done`, or peak RSS passed 1.25x the first run's. Timeouts are statuses: in runs without a
fault, those of domains the world answers are counted and listed (issue 10's property), not
failures."""
import csv, json, re, sys
csv.field_size_limit(1 << 24)
runs = [l.split() for l in open(sys.argv[1])]
expected = {}
for line in open(sys.argv[2]):
    e = json.loads(line)
    expected[e["domain"]] = e
live = {d for d, e in expected.items() if e["mx_status"] not in ("timeout", "servfail")}
failures, first_rss = [], None
print(f"{'run':>3} {'fault':16} {'seconds':>7} {'domains':>7} {'hosts':>6} {'RSS MiB':>8} "
      f"{'attempt t/o':>11} {'row timeouts':>12} {'live t/o':>8} {'DNSBL err':>9}")
for i, fault, out in runs:
    m = json.load(open(out + "/run.json"))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(out + ".time").read()).group(1)) / 1024
    first_rss = first_rss or rss
    doms = list(csv.DictReader(open(out + "/domains.csv")))
    hosts = list(csv.DictReader(open(out + "/hosts.csv")))
    names = [r["domain"] for r in doms]
    ips = [r["ip"] for r in hosts]
    why = []
    if len(names) != len(set(names)) or set(names) != set(expected):
        why.append(f"domains: {len(names)} rows, {len(set(names))} distinct, {len(set(expected) - set(names))} missing")
    mx_ips = {ip for r in doms for ip in r["mx_ips"].split(";") if ip}
    if len(ips) != len(set(ips)) or not mx_ips <= set(ips):
        why.append(f"hosts: {len(ips)} rows, {len(mx_ips - set(ips))} MX addresses without a row")
    if m["state"] != "done" or m["counts"]["panicked"] or any(s["abandoned"] for s in m["stages"]):
        why.append(f"state {m['state']}, panicked {m['counts']['panicked']}")
    status_cols = [c for c in doms[0] if c.endswith("_status")]
    timeouts = sum(1 for r in doms for c in status_cols if r[c] == "timeout")
    # A timeout is a status (the resolver did not answer in time), never a lost row; in a run
    # without a fault it is issue 10's residue, counted here and listed, not a soak failure.
    live_to = sorted({r["domain"] for r in doms if r["domain"] in live
                      for c in status_cols if r[c] == "timeout"}) if fault == "none" else []
    if rss > 1.25 * first_rss:
        why.append(f"peak RSS {rss:.0f} MiB over 1.25x the first run's {first_rss:.0f}")
    dnsbl_err = sum(1 for r in hosts if r["dnsbl_errors"])
    print(f"{i:>3} {fault:16} {m['duration_s']:7.1f} {len(names):7} {len(ips):6} {rss:8.1f} "
          f"{m['dns']['attempt_timeouts']:11} {timeouts:12} {len(live_to) if fault == 'none' else '-':>8} {dnsbl_err:9}  "
          f"{'; '.join(why) or 'ok'}{'  live timeouts: ' + ' '.join(live_to) if live_to else ''}")
    failures += [f"run {i} ({fault}): {w}" for w in why]
print(f"{len(runs)} runs, {len(failures)} unexplained")
sys.exit(1 if failures else 0)
