#!/usr/bin/env python3
"""Generate a deterministic synthetic "world" of mail domains for mxray's tests and benchmarks.

    python3 datasets/gen_world.py --domains N --out DIR [--zone world.test] [--seed 1]

Writes into DIR:
  <zone>.zone          a zone file for Knot (tests/fixtures/up.sh serves it at 127.0.0.1:5300)
  domains.txt          the scanner's input: N domains plus noise (comments, blank lines, invalid
                       lines, duplicates differing only in case and a trailing dot)
  expected.jsonl       one JSON object per distinct valid domain, in input order: what a correct
                       scan through the fixture resolver must find (see EXPECTED below)
  expected_rejects.csv line,text of every invalid input line (1-based line numbers in domains.txt)
  queries.txt          a dnsperf query file ("name TYPE"): MX for every domain, A for every MX host

Domain kinds are a deterministic function of (seed, index); roughly:
  40% full      MX to a shared pool of 200 hosts mxK.mail.<zone>, SPF, DMARC p=reject|quarantine|none;
                one in 20 of them (2% of all) also a DKIM key at google._domainkey.<domain>
  15% own       own MX host mx.dNNNNNN.<zone> with its own A 127.2.x.y; one in 20 of those with
                SPF has an include into a zone that SERVFAILs (deadinc.<zone>, lame), one in 20 a
                redirect there: temperror (RFC 7208 5.2), the record still reported
  10% nodata    an A record, no MX (MX query: NOERROR, no answer)
   8% nxdomain  the name does not exist
   5% nullmx    MX 0 . (RFC 7505)
   5% twospf    two v=spf1 records (RFC 7208 4.5: permerror)
   5% baddmarc  DMARC without p=, with p=bogus, with a valid p= but sp=block, or two DMARC records
   5% multimx   2-3 MX records of different preference
   4% dmarconly only _dmarc (with sp= and pct=): the domain itself is an empty non-terminal (MX: nodata)
   2% servfail  delegated to a dead server (NS ns.dead.<zone>, A 127.0.0.99, lame): SERVFAIL via unbound
   1% splitspf  one SPF record split across two character-strings

EXPECTED (one JSON object per line):
  domain        normalised: lowercase, no trailing dot
  mx_status     ok | nodata | nxdomain | servfail
  mx            [[pref, exchange], ...] sorted by (pref, exchange); exchange lowercase without the
                trailing dot; null MX is [0, ""]
  mx_null       true when the MX RRset is the single null MX
  mx_ips        sorted (plain string order), distinct A/AAAA texts of all exchanges; [] for null MX
  spf_status    none | valid | permerror (more than one v=spf1 record) | temperror (TXT query failed,
                or an include/redirect target's did)
  spf_records   the v=spf1 records, each record's strings joined without separator, sorted
  dmarc_status  none | valid | invalid | temperror. valid = exactly one TXT at _dmarc starting
                "v=DMARC1" with p=none|quarantine|reject; invalid = present but bad (no p=, unknown p,
                invalid sp=) or several. (A missing p= is invalid here, although RFC 7489 6.6.3 allows a
                fallback to p=none when rua= is valid: the fixtures want the stricter reading.)
  dmarc_p       null | none | quarantine | reject (only for a valid record: null for an invalid
                one even where its p= is valid, RFC 7489 6.6.3)
  dkim_selectors  ["google"] where the key is published, [] elsewhere (including nxdomain: nothing
                exists below), null for servfail (unknown)
For nxdomain: spf none, dmarc none. For servfail: spf temperror, dmarc temperror. Everything else empty.

stdlib only, streamed (about 20 MB of memory at any size); 200k domains take 2-3 seconds.
"""

import argparse
import csv
import json
import os
import sys

MASK64 = (1 << 64) - 1
POOL = 200  # shared MX hosts mx0..mx199.mail.<zone>
# an RSA 1024 public key (SubjectPublicKeyInfo, base64), made with openssl
DKIM_RSA_1024 = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+9nJMIxce4EXr/Xw4TQVMCllL/NvR+KkZ2zZtFQcDzUAMSe+PYwPeZcokrCAXHgkdWm8A5Ye/6Zvk4ISkqPcuw0dYJGas9an5/uJfmyW0U0QEpMrQf/qkOCSmIh/SlNBBYFr5vre5wQ9/Al+GViWgi5g0LcRMbPVU6INOWT0mOQIDAQAB"

# cumulative percentage thresholds -> kind
KINDS = [
    (40, "full"),
    (55, "own"),
    (65, "nodata"),
    (73, "nxdomain"),
    (78, "nullmx"),
    (83, "twospf"),
    (88, "baddmarc"),
    (93, "multimx"),
    (97, "dmarconly"),
    (99, "servfail"),
    (100, "splitspf"),
]
KIND_OF_BUCKET = []
_lo = 0
for _hi, _k in KINDS:
    KIND_OF_BUCKET += [_k] * (_hi - _lo)
    _lo = _hi
assert len(KIND_OF_BUCKET) == 100

PROVIDER_SPF = "v=spf1 ip4:127.9.0.0/16 ~all"
DMARC_P = ("reject", "quarantine", "none")


def mix(seed, i):
    """splitmix64 of (seed, index): a fast, stable pseudo-random 64-bit value per domain."""
    z = (seed * 0x9E3779B97F4A7C15 + (i + 1) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def pool_host(k, zone):
    return "mx%d.mail.%s" % (k, zone)


def pool_ips(k):
    ips = ["127.1.%d.%d" % (k // 256, k % 256)]
    if k % 4 == 0:
        ips.append("::1")
    return ips


def txt_rdata(strings):
    return '"' + '" "'.join(strings) + '"'


def build_domain(i, seed, zone):
    """Return (name, zone_lines, expected) for domain index i. Zone lines use absolute names."""
    h = mix(seed, i)
    kind = KIND_OF_BUCKET[h % 100]
    r = h // 100  # remaining randomness for the details
    name = "d%06d.%s" % (i, zone)
    zl = []
    exp = {
        "domain": name,
        "mx_status": "ok",
        "mx": [],
        "mx_null": False,
        "mx_ips": [],
        "spf_status": "none",
        "spf_records": [],
        "dmarc_status": "none",
        "dmarc_p": None,
        "dkim_selectors": [],
    }

    def mx(pref, host):
        zl.append("%s. MX %d %s." % (name, pref, host))
        exp["mx"].append([pref, host])

    def pool_mx(pref, k):
        mx(pref, pool_host(k, zone))
        exp["mx_ips"].extend(pool_ips(k))

    def spf(*records, status=None):  # each record is a tuple of character-strings
        for strings in records:
            zl.append("%s. TXT %s" % (name, txt_rdata(strings)))
            exp["spf_records"].append("".join(strings))
        exp["spf_status"] = status or ("valid" if len(records) == 1 else "permerror")

    def other_txt(text):
        zl.append('%s. TXT "%s"' % (name, text))

    def dmarc(*records, status="valid", p=None):
        for text in records:
            zl.append('_dmarc.%s. TXT "%s"' % (name, text))
        exp["dmarc_status"] = status
        exp["dmarc_p"] = p

    k = r % POOL
    r //= POOL
    if kind == "full":
        pool_mx(10, k)
        spf(("v=spf1 include:_spf.provider.%s -all" % zone,) if r % 2 == 0 else ("v=spf1 mx ~all",))
        r //= 2
        if r % 3 == 0:
            other_txt("site-verification=%016x" % (h & 0xFFFFFFFFFFFF))
        r //= 3
        p = DMARC_P[r % 3]
        r //= 3
        dmarc("v=DMARC1; p=%s; rua=mailto:dmarc@%s" % (p, name), p=p)
        if r % 20 == 0:
            zl.append('google._domainkey.%s. TXT "v=DKIM1; k=rsa; p=%s"' % (name, DKIM_RSA_1024))
            exp["dkim_selectors"] = ["google"]
    elif kind == "own":
        host = "mx.%s" % name
        mx(10, host)
        ip = "127.2.%d.%d" % ((i // 256) % 256, i % 256)
        zl.append("%s. A %s" % (host, ip))
        exp["mx_ips"].append(ip)
        if r % 4 != 0:  # a quarter has no SPF and no DMARC at all
            v = (r // 4) % 20
            if v == 0:
                spf(("v=spf1 mx include:_spf.deadinc.%s -all" % zone,), status="temperror")
            elif v == 1:
                spf(("v=spf1 redirect=_spf.deadinc.%s" % zone,), status="temperror")
            else:
                spf(("v=spf1 mx -all",))
            if r % 2 == 0:
                dmarc("v=DMARC1; p=quarantine", p="quarantine")
    elif kind == "nodata":
        zl.append("%s. A 127.3.%d.%d" % (name, (i // 256) % 256, i % 256))
        exp["mx_status"] = "nodata"
    elif kind == "nxdomain":
        exp["mx_status"] = "nxdomain"
    elif kind == "nullmx":
        zl.append("%s. MX 0 ." % name)
        exp["mx"].append([0, ""])
        exp["mx_null"] = True
        spf(("v=spf1 -all",))
        dmarc("v=DMARC1; p=reject", p="reject")
    elif kind == "twospf":
        pool_mx(10, k)
        spf(("v=spf1 mx -all",), ("v=spf1 include:_spf.provider.%s ~all" % zone,))
        dmarc("v=DMARC1; p=none", p="none")
    elif kind == "baddmarc":
        pool_mx(10, k)
        spf(("v=spf1 mx -all",))
        v = r % 4
        if v == 0:
            dmarc("v=DMARC1; rua=mailto:dmarc@%s" % name, status="invalid")
        elif v == 1:
            dmarc("v=DMARC1; p=bogus", status="invalid")
        elif v == 2:
            dmarc("v=DMARC1; p=quarantine; sp=block; pct=50", status="invalid")
        else:
            dmarc("v=DMARC1; p=none", "v=DMARC1; p=reject", status="invalid")
    elif kind == "multimx":
        n = 2 + r % 2
        r //= 2
        prefs = [10, 20, 30] if r % 2 == 0 else [5, 10, 50]
        for j in range(n):
            pool_mx(prefs[j], (k + j * 7) % POOL)  # distinct pool hosts
        spf(("v=spf1 mx ~all",))
        dmarc("v=DMARC1; p=quarantine", p="quarantine")
    elif kind == "dmarconly":
        exp["mx_status"] = "nodata"  # empty non-terminal: NOERROR without answer
        p = DMARC_P[r % 3]
        r //= 3
        sp = DMARC_P[r % 3]
        pct = (25, 50, 100)[(r // 3) % 3]
        dmarc("v=DMARC1; p=%s; sp=%s; pct=%d" % (p, sp, pct), p=p)
    elif kind == "servfail":
        zl.append("%s. NS ns.dead.%s." % (name, zone))
        exp["mx_status"] = "servfail"
        exp["spf_status"] = "temperror"
        exp["dmarc_status"] = "temperror"
        exp["dkim_selectors"] = None
    elif kind == "splitspf":
        pool_mx(10, k)
        spf(("v=spf1 ip4:127.9.0.0/16 ", "include:_spf.provider.%s -all" % zone))
        dmarc("v=DMARC1; p=reject", p="reject")
    else:  # pragma: no cover
        raise AssertionError(kind)

    exp["mx"].sort(key=lambda m: (m[0], m[1]))
    exp["mx_ips"] = sorted(set(exp["mx_ips"]))
    exp["spf_records"].sort()
    return name, zl, exp, kind


def invalid_entry(n):
    """The n-th invalid input line (n >= 1), cycling through kinds of malformed names."""
    v = n % 5
    if v == 0:
        return "not a domain! %d" % n
    if v == 1:
        return "-bad-%d.world.test" % n
    if v == 2:
        return "%s.world.test" % ("l%d" % n + "x" * 300)[:300]  # a 300-character label
    if v == 3:
        return "a..b%d.world.test" % n
    return ".".join(["y" * 60] * 5) + ".n%d.world.test" % n  # name longer than 253 characters


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, required=True, help="number of domains")
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--zone", default="world.test", help="zone name (default world.test)")
    ap.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    a = ap.parse_args(argv)
    if a.domains < 1:
        ap.error("--domains must be >= 1")
    zone = a.zone.lower().rstrip(".")
    os.makedirs(a.out, exist_ok=True)

    def out(fname):
        return open(os.path.join(a.out, fname), "w", encoding="utf-8", newline="\n", buffering=1 << 20)

    # everything is streamed: memory stays small for millions of domains
    zf, inf, qf, ef = out("%s.zone" % zone), out("domains.txt"), out("queries.txt"), out("expected.jsonl")
    zf.write(
        "\n".join(
            [
                "$ORIGIN %s." % zone,
                "$TTL 60",
                "@ SOA ns1 hostmaster 1 3600 600 86400 60",
                "@ NS ns1",
                "ns1 A 127.0.0.1",
                "; dead (lame) name server of the delegated SERVFAIL domains: 127.0.0.99:53 answers REFUSED",
                "ns.dead A 127.0.0.99",
                "; SPF include and redirect targets in a zone delegated to it: SERVFAIL (temperror)",
                "deadinc NS ns.dead",
                '_spf.provider TXT "%s"' % PROVIDER_SPF,
                "; shared pool of MX hosts",
            ]
        )
        + "\n"
    )
    n_queries = 0
    for k in range(POOL):
        for ip in pool_ips(k):
            zf.write("mx%d.mail %s %s\n" % (k, "AAAA" if ":" in ip else "A", ip))
        qf.write("%s A\n" % pool_host(k, zone))
        n_queries += 1
    zf.write("; domains\n")

    # input with noise; line numbers are tracked to place invalid entries on every 1000th line
    rejects = []
    n_lines = 0
    n_invalid = 0

    def emit(text):
        nonlocal n_invalid, n_lines
        while (n_lines + 1) % 1000 == 0:  # every 1000th line is an invalid entry
            n_invalid += 1
            bad = invalid_entry(n_invalid)
            inf.write(bad + "\n")
            n_lines += 1
            rejects.append((n_lines, bad))
        inf.write(text + "\n")
        n_lines += 1

    emit("# mxray test input: %d domains of %s (seed %d), generated by datasets/gen_world.py" % (a.domains, zone, a.seed))
    emit("# blank lines, comments, invalid lines and duplicates (case, trailing dot) are deliberate")
    emit("")
    counts = {}
    dumps = json.dumps  # default arguments: the cached C encoder (custom separators make it 3x slower)
    pending_dups = {}  # index at which to emit -> list of names
    for i in range(a.domains):
        name, zl, exp, kind = build_domain(i, a.seed, zone)
        counts[kind] = counts.get(kind, 0) + 1
        if zl:
            zf.write("\n".join(zl) + "\n")
        ef.write(dumps(exp) + "\n")
        qf.write("%s MX\n" % name)
        n_queries += 1
        for m in exp["mx"]:
            if m[1].startswith("mx.d"):
                qf.write("%s A\n" % m[1])
                n_queries += 1
        emit(name)
        if i % 500 == 0:  # repeat later, upper case with a trailing dot: a duplicate after normalisation
            pending_dups.setdefault(i + 250, []).append(name.upper() + ".")
        for dup in pending_dups.pop(i, ()):
            emit(dup)
        if i % 777 == 776:
            emit("")
        if i % 5000 == 4999:
            emit("# comment in the middle of the list")
    for at in sorted(pending_dups):
        for dup in pending_dups[at]:
            emit(dup)
    for f in (zf, inf, qf, ef):
        f.close()
    with open(os.path.join(a.out, "expected_rejects.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["line", "text"])
        w.writerows(rejects)
    summary = " ".join("%s=%d" % (k, counts.get(k, 0)) for _, k in KINDS)
    print(
        "gen_world: %d domains (%s), %d input lines, %d rejects, %d queries -> %s"
        % (a.domains, summary, n_lines, len(rejects), n_queries, a.out),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
