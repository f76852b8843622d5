#!/usr/bin/env python3
"""soak_check.py RUNS EXPECTED - the checks of benches/soak.sh over its runs (RUNS: one line per
run, `index fault out-dir`; EXPECTED: the world's expected.jsonl). A run fails when a row is
missing or repeated, an MX address has no hosts row, a probe panicked or was abandoned, run.json
is not `done`, peak RSS passed 1.25x the first run's, or (issue 37) a domain the world answers
says `timeout` in any status column, in any run, faulted or not: a resolver that restarts, stops
for a while or loses its cache must not turn live names into timeouts."""
import csv, json, re, sys
csv.field_size_limit(1 << 24)
runs = [l.split() for l in open(sys.argv[1])]
expected = {}
for line in open(sys.argv[2]):
    e = json.loads(line)
    expected[e["domain"]] = e
live = {d for d, e in expected.items() if e["mx_status"] not in ("timeout", "servfail")}
failures, first_rss = [], None
print(f"{'run':>3} {'fault':16} {'at s':>5} {'seconds':>7} {'domains':>7} {'hosts':>6} {'RSS MiB':>8} "
      f"{'attempt t/o':>11} {'excused':>7} {'outages':>7} {'lost s':>6} {'row timeouts':>12} {'live t/o':>8} {'DNSBL err':>9}")
totals = {"outages": 0, "outage_s": 0.0, "live": 0}
for i, fault, out, at in runs:
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
    live_to = sorted({r["domain"] for r in doms if r["domain"] in live
                      for c in status_cols if r[c] == "timeout"})
    if live_to:
        why.append(f"{len(live_to)} live domains say timeout")
    dns = m["dns"]
    outages, lost = len(dns.get("outages", [])), dns.get("outage_s", 0.0)
    totals["outages"] += outages
    totals["outage_s"] += lost
    totals["live"] += len(live_to)
    if rss > 1.25 * first_rss:
        why.append(f"peak RSS {rss:.0f} MiB over 1.25x the first run's {first_rss:.0f}")
    dnsbl_err = sum(1 for r in hosts if r["dnsbl_errors"])
    print(f"{i:>3} {fault:16} {at:>5} {m['duration_s']:7.1f} {len(names):7} {len(ips):6} {rss:8.1f} "
          f"{dns['attempt_timeouts']:11} {dns.get('excused_attempts', 0):7} {outages:7} {lost:6.1f} {timeouts:12} {len(live_to):>8} {dnsbl_err:9}  "
          f"{'; '.join(why) or 'ok'}{'  live timeouts: ' + ' '.join(live_to[:20]) if live_to else ''}")
    failures += [f"run {i} ({fault}): {w}" for w in why]
print(f"{len(runs)} runs, {len(failures)} unexplained; live timeouts {totals['live']}; "
      f"outages {totals['outages']}, {totals['outage_s']:.1f} s in them")
sys.exit(1 if failures else 0)
