#!/usr/bin/env python3
"""mxray's differential check against independent implementations (docs/DIFFERENTIAL.md).

    differential.py sample  --world DIR --out sample.jsonl [--per-case K] [--total N | --all]
    differential.py peers   --sample sample.jsonl --resolver IP:PORT --out peers.jsonl [--jobs N]
    differential.py compare --sample sample.jsonl --mxray domains.csv --peers peers.jsonl --known known.json

sample: a deterministic sample of the generated world (datasets/gen_world.py) that holds every case
  of the generator: each domain gets a case signature (its generator kind plus the shape of its zone
  records, names and numbers blanked out), the first K domains of every signature are taken, then
  the first domains in input order up to N.
peers: pyspf (RFC 7208 check_host) and checkdmarc on every sampled domain, through one resolver
  given explicitly: every dnspython resolver in the process is pinned to it, /etc/resolv.conf is
  never read.
compare: column by column, every difference printed; exit 1 on any that known.json does not list.

Python stdlib plus the pinned peers (tests/differential/requirements.txt).
"""

import argparse
import csv
import importlib.util
import ipaddress
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict

# ----------------------------------------------------------------------------------------- sample


def load_generator(path):
    spec = importlib.util.spec_from_file_location("gen_world", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def shape(lines, name):
    """The shape of a domain's zone lines: what makes two domains the same case of the generator."""
    out = []
    for line in lines:
        s = line.replace(name, "D")
        s = re.sub(r"\b[0-9a-f]{16,}\b", "H", s)  # verification tokens, keys
        s = re.sub(r"[A-Za-z0-9+/]{40,}={0,2}", "K", s)  # base64 keys
        s = re.sub(r"\d+", "N", s)
        out.append(s)
    return "|".join(sorted(set(out)))


def cmd_sample(a):
    world = a.world
    names = []
    with open(os.path.join(world, "expected.jsonl"), encoding="utf-8") as f:
        for line in f:
            names.append(json.loads(line)["domain"])
    seed = 1
    try:
        with open(os.path.join(world, ".stamp"), encoding="utf-8") as f:
            seed = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        pass
    gen = load_generator(a.generator)
    zone = names[0].split(".", 1)[1]
    rows = []
    for name in names:
        m = re.match(r"d(\d+)\.", name)
        kind, sig = "unknown", "unknown"
        if m:
            # build_domain(i, seed, zone) -> (name, zone_lines, expected, kind); a newer generator may
            # return more, so the kind is the last string and the zone lines the first list
            got = gen.build_domain(int(m.group(1)), seed, zone)
            if got[0] != name:
                sys.exit("sample: generator disagrees with %s about %s (seed %d)" % (world, name, seed))
            kind = [x for x in got if isinstance(x, str)][-1]
            lines = [x for x in got if isinstance(x, list)][0]
            sig = kind + ":" + shape(lines, name)
        rows.append({"domain": name, "kind": kind, "case": sig})
    if a.all:
        chosen = rows
    else:
        taken = set()
        per = Counter()
        for i, r in enumerate(rows):
            if per[r["case"]] < a.per_case:
                per[r["case"]] += 1
                taken.add(i)
        for i in range(len(rows)):
            if len(taken) >= a.total:
                break
            taken.add(i)
        chosen = [rows[i] for i in sorted(taken)]
    cases = {r["case"] for r in rows}
    kinds = Counter(r["kind"] for r in chosen)
    with open(a.out, "w", encoding="utf-8") as f:
        for r in chosen:
            f.write(json.dumps(r) + "\n")
    with open(a.out + ".txt", "w", encoding="utf-8") as f:
        for r in chosen:
            f.write(r["domain"] + "\n")
    missing = cases - {r["case"] for r in chosen}
    print(
        "sample: %d of %d domains, %d cases (%d missing), kinds: %s"
        % (len(chosen), len(rows), len(cases), len(missing), " ".join("%s=%d" % kv for kv in sorted(kinds.items()))),
        file=sys.stderr,
    )
    if missing:
        sys.exit("sample: cases missing from the sample: %s" % sorted(missing))
    return 0


# ------------------------------------------------------------------------------------------ peers

RESOLVER = None  # (ip, port)
TIMEOUT = 2.0  # per try, as mxray's --timeout
LIFETIME = 6.0  # per query: mxray's 2 s x (1 + 2 retries)


def pin_resolver(ip, port):
    """Make every dnspython resolver of this process ask only ip:port: pyspf uses the module's
    default resolver, checkdmarc builds its own with Resolver(); neither may read resolv.conf."""
    import dns.nameserver
    import dns.resolver

    orig = dns.resolver.Resolver.__init__

    def init(self, filename="/etc/resolv.conf", configure=True):
        orig(self, filename, configure=False)
        self.nameservers = [dns.nameserver.Do53Nameserver(ip, port)]
        self.timeout = TIMEOUT
        self.lifetime = LIFETIME
        self.cache = None

    dns.resolver.Resolver.__init__ = init
    dns.resolver.default_resolver = None
    dns.resolver.reset_default_resolver()
    r = dns.resolver.get_default_resolver()
    assert [(n.address, n.port) for n in r.nameservers] == [(ip, port)], r.nameservers


def worker_init(ip, port):
    global RESOLVER
    RESOLVER = (ip, port)
    pin_resolver(ip, port)


PROBES = ["192.0.2.1", "198.51.100.1", "203.0.113.1", "100.64.0.1", "240.0.0.1"]
VALID = ("pass", "fail", "softfail", "neutral")
ALL_QUAL = {"all": "pass", "+all": "pass", "-all": "fail", "~all": "softfail", "?all": "neutral"}


def spf_query(spf, domain, ip):
    return spf.query(i=ip, s="postmaster@" + domain, h=domain, timeout=LIFETIME, querytime=0)


def run_pyspf(domain):
    import spf

    out = {}
    # 1. the networks the tree names (pyspf's list mode: every ip4/a/mx range, whatever its qualifier)
    q = spf_query(spf, domain, "list")
    # pyspf's list mode appends network.ip, which IPv4Network lacks, for a full-length prefix; a
    # cidrmax past the longest prefix keeps every range a network
    q.cidrmax = 129
    try:
        q.check()
    except AttributeError:
        # pyspf 2.0.14's list mode has no address for `ptr` (query.i is unset): it only picks the
        # probe address here, so a tree with ptr takes the first probe address
        q.iplist = []
    nets = []
    for n in q.iplist or []:
        n = ipaddress.ip_network(n)
        if n.version == 4:
            nets.append(n)
    # 2. an address outside all of them, so that no mechanism matches and the whole tree is evaluated
    probe = next((p for p in PROBES if not any(ipaddress.ip_address(p) in n for n in nets)), None)
    out["probe"] = probe
    if probe is None:
        out["error"] = "no probe address outside the tree's ranges"
        return out
    # 3. check_host() as a receiver runs it: the status
    q = spf_query(spf, domain, probe)
    res, _, text = q.check()
    out["result"] = res
    out["text"] = text
    out["mechanism"] = q.mechanism
    out["lookups_strict"] = q.lookups
    out["voids_strict"] = q.void_lookups
    # 4. the same with the limits lifted: the counts past 10 and past 2 (the contract counts on)
    saved = spf.MAX_LOOKUP, spf.MAX_VOID_LOOKUPS
    spf.MAX_LOOKUP, spf.MAX_VOID_LOOKUPS = 10000, 10000
    try:
        q = spf_query(spf, domain, probe)
        try:
            r2 = q.check()[0]
        except AssertionError:  # recursion past 20 in strict mode: an include loop
            r2 = "loop"
        out["result_unlimited"] = r2
        out["lookups"] = q.lookups
        out["voids"] = q.void_lookups
    finally:
        spf.MAX_LOOKUP, spf.MAX_VOID_LOOKUPS = saved
    # 5. authorised IPv4 space: within each interval between the ranges' boundaries every address
    # matches the same terms, so one check_host() per interval decides the whole interval
    if res in VALID:
        bounds = {0, 1 << 32}
        for n in nets:
            bounds.add(int(n.network_address))
            bounds.add(int(n.broadcast_address) + 1)
        bounds = sorted(bounds)
        if len(bounds) <= 257:
            total = 0
            for lo, hi in zip(bounds, bounds[1:]):
                r = spf_query(spf, domain, str(ipaddress.IPv4Address(lo))).check()[0]
                if r == "pass":
                    total += hi - lo
                elif r not in VALID:
                    total = None
                    break
            out["ipv4_authorized"] = total
    return out


def exc_name(e):
    return type(e).__name__ + ": " + str(e)


def run_checkdmarc(domain):
    import dns.nameserver
    from checkdmarc import bimi, dmarc, mta_sts, smtp_tls_reporting, soa, spf, utils

    ns = [dns.nameserver.Do53Nameserver(*RESOLVER)]
    kw = {"nameservers": ns, "timeout": LIFETIME, "retries": 0}
    out = {}
    try:
        mx = utils.get_mx_record_set(domain, **kw)
        out["mx"] = {
            "hosts": [[h["preference"], h["hostname"]] for h in mx["hosts"]],
            "null_mx": mx["null_mx"],
            "record_count": mx["record_count"],
        }
        ips = set()
        for h in mx["hosts"]:
            try:
                ips.update(utils.get_a_records(h["hostname"], **kw))
            except Exception as e:  # noqa: BLE001 - recorded, compared as a failure
                out["mx_ips_error"] = exc_name(e)
        out["mx_ips"] = sorted(ips)
    except Exception as e:  # noqa: BLE001
        out["mx_error"] = exc_name(e)
    out["soa"] = soa.check_soa(domain, **kw)
    sp = spf.check_spf(domain, **kw)
    out["spf"] = {k: sp.get(k) for k in ("record", "valid", "dns_lookups", "void_dns_lookups", "error")}
    dm = dmarc.check_dmarc(domain, **kw)
    out["dmarc"] = {k: dm.get(k) for k in ("record", "location", "valid", "error")}
    tags = dm.get("tags") or {}
    # checkdmarc fills in the defaults (sp from p, adkim, ...): only what the record says is compared
    out["dmarc"]["tags"] = {k: v.get("value") for k, v in tags.items() if v.get("explicit", True)}
    for key, fn, kwx, parse in (
        ("mta_sts", mta_sts.query_mta_sts_record, {}, mta_sts.parse_mta_sts_record),
        ("tls_rpt", smtp_tls_reporting.query_smtp_tls_reporting_record, {}, smtp_tls_reporting.parse_smtp_tls_reporting_record),
        # parse_bimi_record fetches the l= and a= URLs: the BIMI record is only looked up
        ("bimi", bimi.query_bimi_record, {"selector": "default"}, None),
    ):
        try:
            r = fn(domain, **kw, **kwx)
            out[key] = {"record": r.get("record"), "location": r.get("location")}
        except Exception as e:  # noqa: BLE001
            out[key] = {"error": exc_name(e)}
            continue
        if parse is not None and r.get("record"):
            try:
                parse(r["record"])
                out[key]["parsed"] = True
            except Exception as e:  # noqa: BLE001
                out[key]["parse_error"] = exc_name(e)
    return out


def peer_one(domain):
    t = time.monotonic()
    r = {"domain": domain}
    for name, fn in (("pyspf", run_pyspf), ("checkdmarc", run_checkdmarc)):
        try:
            r[name] = fn(domain)
        except Exception as e:  # noqa: BLE001 - a peer that crashes is a difference, not the end
            r[name] = {"crash": exc_name(e)}
    r["seconds"] = round(time.monotonic() - t, 3)
    return r


def cmd_peers(a):
    import multiprocessing

    ip, port = a.resolver.rsplit(":", 1)
    port = int(port)
    if not ipaddress.ip_address(ip).is_loopback:
        sys.exit("peers: the resolver must be on loopback, not %s" % ip)
    domains = [json.loads(line)["domain"] for line in open(a.sample, encoding="utf-8")]
    t = time.monotonic()
    n = 0
    with open(a.out, "w", encoding="utf-8") as f, multiprocessing.Pool(a.jobs, worker_init, (ip, port)) as pool:
        for r in pool.imap_unordered(peer_one, domains, chunksize=8):
            f.write(json.dumps(r) + "\n")
            n += 1
            if n % 500 == 0:
                print("peers: %d/%d (%.0fs)" % (n, len(domains), time.monotonic() - t), file=sys.stderr)
    print("peers: %d domains in %.1fs with %d processes" % (n, time.monotonic() - t, a.jobs), file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------- compare


def cell_list(s):
    return [] if s == "" else s.split(";")


def m_int(s):
    return None if s == "" else int(s)


def m_str(s):
    return None if s == "" else s


def m_bool(s):
    return None if s == "" else s == "true"


def pyspf_columns(p):
    """What pyspf says, in mxray's column vocabulary; a column is absent when pyspf cannot say."""
    out = {}
    if "crash" in p or "error" in p:
        return out
    res = p["result"]
    out["spf_status"] = "valid" if res in VALID else res  # none, permerror, temperror
    if res in VALID:
        mech = p.get("mechanism")
        out["spf_all"] = ALL_QUAL.get(mech.lower()) if mech else None
    if p.get("result_unlimited") in VALID:
        # evaluation ran to its end: the counts are complete
        out["spf_lookups"] = p["lookups"]
        out["spf_void_lookups"] = p["voids"]
    if "ipv4_authorized" in p and p["ipv4_authorized"] is not None:
        out["spf_ipv4_authorized"] = p["ipv4_authorized"]
    return out


def dmarc_policy(v):
    return v if v in ("none", "quarantine", "reject") else None


def dns_failure(err):
    """The mxray DNS status of a dnspython failure text, or None when it is not one."""
    if "answered SERVFAIL" in err:
        return "servfail"
    if "answered REFUSED" in err:
        return "refused"
    if "timed out" in err.lower() or "Timeout" in err:
        return "timeout"
    return None


def checkdmarc_columns(c, domain):
    out = {}
    if "crash" in c:
        return out
    if "mx_error" in c:
        e = c["mx_error"]
        out["mx_status"] = "nxdomain" if e.startswith("DNSExceptionNXDOMAIN") else dns_failure(e) or "error: " + e
    else:
        mx = c["mx"]
        out["mx_status"] = "ok" if mx["record_count"] else "nodata"
        recs = list(mx["hosts"])
        if mx["null_mx"]:
            recs.append([0, ""])
        out["mx"] = sorted("%d %s" % (p, h) for p, h in recs)
        out["mx_null"] = mx["null_mx"]
        if "mx_ips_error" not in c:
            out["mx_ips"] = sorted(c["mx_ips"])
    s = c["soa"]
    out["soa_rname"] = s["values"].get("rname_email_address") if s.get("values") else None
    sp = c["spf"]
    out["spf_valid"] = sp.get("valid")
    out["spf_records_one"] = sp.get("record")
    if sp.get("dns_lookups") is not None:
        out["spf_lookups"] = sp["dns_lookups"]
        out["spf_void_lookups"] = sp["void_dns_lookups"]
    d = c["dmarc"]
    t = d.get("tags") or {}
    if d.get("valid"):
        out["dmarc_status"] = "valid"
        org = d.get("location") and d["location"] != domain
        # mxray's dmarc_policy_domain: where the record used was found (RFC 9989 4.10.1)
        out["dmarc_location"] = d.get("location")
        out["dmarc_np"] = t.get("np")
        out["dmarc_psd"] = t.get("psd")
        out["dmarc_t"] = {"y": True, "n": False}.get(t.get("t")) if t.get("t") is not None else None
        # a record found at a parent: its sp (else p) is the domain's policy
        out["dmarc_p"] = dmarc_policy(t.get("sp") if org and "sp" in t else t.get("p"))
        out["dmarc_sp"] = t.get("sp")
        out["dmarc_pct"] = t.get("pct")
        rua = t.get("rua") or []
        out["dmarc_rua"] = [u["scheme"] + ":" + u["address"] if isinstance(u, dict) else u for u in rua]
        out["dmarc_record"] = d.get("record")
    else:
        err = d.get("error") or ""
        if dns_failure(err):
            out["dmarc_status"] = "temperror"
        elif d.get("record") is None and ("does not exist" in err or "not exist" in err):
            out["dmarc_status"] = "none"
        elif d.get("record") is not None or "Multiple" in err:
            out["dmarc_status"] = "invalid"
        else:
            out["dmarc_status"] = "error: " + err
        out["dmarc_p"] = None
    for key in ("mta_sts", "tls_rpt", "bimi"):
        r = c[key]
        err = r.get("error", "")
        if not err:
            st = "invalid" if "parse_error" in r else "valid"
        elif "RecordNotFound" in err:
            # checkdmarc raises RecordNotFound for DNS failures too: say which, so that only a failure
            # the peer saw itself can explain mxray's temperror (docs/DIFFERENTIAL.md)
            f = dns_failure(err)
            st = "none:" + f if f else "none"
        elif "Multiple" in err or "SyntaxError" in err or "Invalid" in err:
            st = "invalid"
        else:
            st = dns_failure(err) and "temperror" or "error: " + err
        out[key + "_status"] = st
        out[key] = r.get("record") if not err else None
    return out


def mxray_columns(row):
    return {
        "mx_status": row["mx_status"],
        "mx": sorted(cell_list(row["mx"])) if row["mx_status"] == "ok" else None,
        "mx_null": m_bool(row["mx_null"]),
        "mx_ips": sorted(cell_list(row["mx_ips"])),
        "mx_ips_status": m_str(row["mx_ips_status"]),
        "spf_status": row["spf_status"],
        "spf_records": cell_list(row["spf_records"]),
        "spf_all": m_str(row["spf_all"]),
        "spf_lookups": m_int(row["spf_lookups"]),
        "spf_void_lookups": m_int(row["spf_void_lookups"]),
        "spf_ipv4_authorized": m_int(row["spf_ipv4_authorized"]),
        "dmarc_status": row["dmarc_status"],
        "dmarc_source": m_str(row["dmarc_source"]),
        "dmarc_policy_domain": m_str(row["dmarc_policy_domain"]),
        "dmarc_np": m_str(row["dmarc_np"]),
        "dmarc_psd": m_str(row["dmarc_psd"]),
        "dmarc_t": m_bool(row["dmarc_t"]),
        "dmarc_record": m_str(row["dmarc_record"]),
        "dmarc_p": m_str(row["dmarc_p"]),
        "dmarc_sp": m_str(row["dmarc_sp"]),
        "dmarc_pct": m_int(row["dmarc_pct"]),
        "dmarc_rua": cell_list(row["dmarc_rua"]) if row["dmarc_status"] == "valid" else None,
        "mta_sts": m_str(row["mta_sts"]),
        "mta_sts_status": row["mta_sts_status"],
        "tls_rpt": m_str(row["tls_rpt"]),
        "tls_rpt_status": row["tls_rpt_status"],
        "bimi": m_str(row["bimi"]),
        "bimi_status": row["bimi_status"],
        "soa_rname": m_str(row["soa_rname"]),
        "soa_status": row["soa_status"],
    }


def comparisons(mx, mt, py, cd, domain):
    """(peer, column, mxray value, peer value) for every column both sides have an answer for.
    mx: mxray's row (default options); mt: its row with --dmarc-discovery rfc9989 (the default
    since RFC 9989: the same discovery, named so the comparison does not follow a default), the
    discovery checkdmarc implements, for the DMARC columns."""
    out = []
    for col in ("spf_status", "spf_all", "spf_lookups", "spf_void_lookups", "spf_ipv4_authorized"):
        if col in py:
            if col == "spf_ipv4_authorized" and mx[col] is None:
                # mxray declines (exists/ptr/macros, a failed lookup): nothing to compare
                continue
            out.append(("pyspf", col, mx[col], py[col]))
    if not cd:
        return out
    out.append(("checkdmarc", "mx_status", mx["mx_status"], cd.get("mx_status")))
    if mx["mx_status"] == "ok" and "mx" in cd:
        out.append(("checkdmarc", "mx", mx["mx"], cd["mx"]))
        out.append(("checkdmarc", "mx_null", mx["mx_null"], cd["mx_null"]))
    if mx["mx_ips_status"] == "ok" and "mx_ips" in cd:
        out.append(("checkdmarc", "mx_ips", mx["mx_ips"], cd["mx_ips"]))
    out.append(("checkdmarc", "soa_rname", mx["soa_rname"], cd["soa_rname"]))
    # checkdmarc's SPF: valid or not, and its counts (mxray's SPF is judged against pyspf above)
    mx_spf = "valid" if mx["spf_status"] == "valid" else "not-valid"
    cd_spf = "valid" if cd.get("spf_valid") else "not-valid"
    out.append(("checkdmarc", "spf_status", mx["spf_status"] if mx_spf != cd_spf else mx_spf, cd_spf))
    if cd.get("spf_records_one") is not None and mx["spf_status"] != "none":
        out.append(("checkdmarc", "spf_records", mx["spf_records"], [cd["spf_records_one"]]))
    if cd.get("spf_valid") and "spf_lookups" in cd:
        out.append(("checkdmarc", "spf_lookups", mx["spf_lookups"], cd["spf_lookups"]))
        out.append(("checkdmarc", "spf_void_lookups", mx["spf_void_lookups"], cd["spf_void_lookups"]))
    out.append(("checkdmarc", "dmarc_status", mt["dmarc_status"], cd["dmarc_status"]))
    if mt["dmarc_status"] == "valid" and cd["dmarc_status"] == "valid":
        loc = cd["dmarc_location"]
        out.append(("checkdmarc", "dmarc_policy_domain", mt["dmarc_policy_domain"], loc))
        for col in ("dmarc_record", "dmarc_sp", "dmarc_pct", "dmarc_rua", "dmarc_np", "dmarc_psd", "dmarc_t"):
            out.append(("checkdmarc", col, mt[col], cd.get(col)))
    out.append(("checkdmarc", "dmarc_p", mt["dmarc_p"], cd["dmarc_p"]))
    for col in ("mta_sts", "tls_rpt", "bimi"):
        st = mx[col + "_status"]
        if col == "bimi" and st == "declined":
            st = "valid"  # checkdmarc's look-up does not judge l= and a=: a record is a record
        out.append(("checkdmarc", col + "_status", st, cd[col + "_status"]))
        if st == "valid" and cd[col + "_status"] == "valid":
            out.append(("checkdmarc", col, mx[col], cd[col]))
    return out


def load_known(path):
    with open(path, encoding="utf-8") as f:
        known = json.load(f)["known"]
    for k in known:
        for field in ("id", "peer", "column", "kinds", "mxray", "peer_says"):
            if field not in k:
                sys.exit("known: entry %r lacks %r" % (k.get("id"), field))
    return known


def value_matches(pattern, value):
    """A known entry's value: the exact value, or {"any": true}, or {"in": [...]}, or {"re": "..."}."""
    if isinstance(pattern, dict):
        if pattern.get("any"):
            return True
        if "in" in pattern:
            return value in pattern["in"]
        if "re" in pattern:
            return value is not None and re.fullmatch(pattern["re"], str(value)) is not None
        if "gt" in pattern:
            return isinstance(value, int) and value > pattern["gt"]
    return pattern == value


def known_entry(known, peer, col, kind, case, mxv, pv, rows):
    """The id of the entry of known.json that explains this difference, or None. An entry names the
    peer, the column, the generator kinds it occurs in ("*": any), the value on each side, and may
    require other columns of mxray's row (`mxray_row`: {"column": value pattern}; a column
    `tree-walk.X` is X of the tree-walk scan) and a case signature (`case_re`)."""
    for k in known:
        if k["peer"] != peer or k["column"] != col or not (kind in k["kinds"] or k["kinds"] == ["*"]):
            continue
        if "case_re" in k and not re.search(k["case_re"], case):
            continue
        if not (value_matches(k["mxray"], mxv) and value_matches(k["peer_says"], pv)):
            continue
        ok = True
        for c, pat in k.get("mxray_row", {}).items():
            row, name = (rows[1], c[len("tree-walk."):]) if c.startswith("tree-walk.") else (rows[0], c)
            if not value_matches(pat, row.get(name)):
                ok = False
        if ok:
            return k["id"]
    return None


def cmd_compare(a):
    sample = {}
    for line in open(a.sample, encoding="utf-8"):
        r = json.loads(line)
        sample[r["domain"]] = r
    mx = {}
    with open(a.mxray, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            mx[row["domain"]] = row
    mt = {}
    with open(a.mxray_tree_walk, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            mt[row["domain"]] = row
    peers = {}
    for line in open(a.peers, encoding="utf-8"):
        r = json.loads(line)
        peers[r["domain"]] = r
    known = load_known(a.known)
    agree = Counter()
    compared = Counter()
    known_hits = Counter()
    unknown = []
    problems = []
    per_kind = defaultdict(Counter)
    for d, s in sample.items():
        if d not in mx:
            problems.append("%s: no mxray row" % d)
            continue
        if d not in peers:
            problems.append("%s: no peer result" % d)
            continue
        p = peers[d]
        for name in ("pyspf", "checkdmarc"):
            if "crash" in p[name]:
                problems.append("%s: %s crashed: %s" % (d, name, p[name]["crash"]))
        if d not in mt:
            problems.append("%s: no mxray tree-walk row" % d)
            continue
        m = mxray_columns(mx[d])
        m_raw, mt_raw = dict(mx[d]), dict(mt[d])
        py = pyspf_columns(p["pyspf"])
        cd = checkdmarc_columns(p["checkdmarc"], d) if "crash" not in p["checkdmarc"] else {}
        for peer, col, mxv, pv in comparisons(m, mxray_columns(mt[d]), py, cd, d):
            key = "%s.%s" % (peer, col)
            compared[key] += 1
            if mxv == pv:
                agree[key] += 1
                continue
            kid = known_entry(known, peer, col, s["kind"], s["case"], mxv, pv, (m_raw, mt_raw))
            if kid:
                known_hits[kid] += 1
                per_kind[kid][s["kind"]] += 1
                if a.verbose:
                    print("KNOWN   %-10s %-20s %-28s mxray=%r peer=%r [%s]" % (peer, col, d, mxv, pv, kid))
            else:
                unknown.append((peer, col, d, s["kind"], mxv, pv, p))
    print("=== differential: %d domains, per column (agree/compared):" % len(sample))
    for key in sorted(compared):
        print("  %-30s %6d/%-6d %s" % (key, agree[key], compared[key], "" if agree[key] == compared[key] else "(%d differ)" % (compared[key] - agree[key])))
    print("=== known peer differences (docs/DIFFERENTIAL.md):")
    for kid in dict.fromkeys(k["id"] for k in known):
        print("  %-42s %6d  %s" % (kid, known_hits[kid], " ".join("%s=%d" % kv for kv in sorted(per_kind[kid].items()))))
    for pr in problems:
        print("PROBLEM " + pr)
    by = Counter((u[0], u[1], u[3]) for u in unknown)
    shown = Counter()
    for peer, col, d, kind, mxv, pv, p in unknown:
        shown[(peer, col, kind)] += 1
        if not a.show or shown[(peer, col, kind)] <= a.show:
            print("DIFF    %-10s %-20s %-28s kind=%-10s mxray=%r peer=%r" % (peer, col, d, kind, mxv, pv))
            if a.verbose:
                print("        peer output: " + json.dumps(p[peer])[:1500])
    for (peer, col, kind), n in sorted(by.items()):
        print("UNKNOWN %-10s %-20s kind=%-10s %d domains" % (peer, col, kind, n))
    bad = len(unknown) + len(problems)
    print("=== %d undocumented differences, %d problems" % (len(unknown), len(problems)))
    return 1 if bad else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--world", required=True)
    s.add_argument("--generator", default=os.path.join(os.path.dirname(__file__), "..", "..", "datasets", "gen_world.py"))
    s.add_argument("--out", required=True)
    s.add_argument("--per-case", type=int, default=10)
    s.add_argument("--total", type=int, default=2400)
    s.add_argument("--all", action="store_true")
    p = sub.add_parser("peers")
    p.add_argument("--sample", required=True)
    p.add_argument("--resolver", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--jobs", type=int, default=4)
    c = sub.add_parser("compare")
    c.add_argument("--sample", required=True)
    c.add_argument("--mxray", required=True)
    c.add_argument("--mxray-tree-walk", required=True, help="domains.csv of a scan with --dmarc-discovery tree-walk")
    c.add_argument("--peers", required=True)
    c.add_argument("--known", required=True)
    c.add_argument("--show", type=int, default=0, help="differences printed per (peer, column, kind); 0: all")
    c.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    return {"sample": cmd_sample, "peers": cmd_peers, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
