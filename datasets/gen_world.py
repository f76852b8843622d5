#!/usr/bin/env python3
"""Generate a deterministic synthetic "world" of mail domains for mxray's tests and benchmarks.

    python3 datasets/gen_world.py --domains N --out DIR [--zone world.test] [--seed 1]

Writes into DIR:
  <zone>.zone          a zone file for Knot (tests/fixtures/up.sh serves it at 127.0.0.1:5300)
  google.com.zone, outlook.com.zone, onmicrosoft.com.zone, mcsv.net.zone, sendgrid.net.zone
                       the mail providers' zones the domains point into (SPF includes, MX hosts,
                       DKIM CNAME targets), under their real names, served beside the world on
                       loopback only (addresses in 127.11-14.0.0/16)
  domains.txt          the scanner's input: N domains plus noise (comments, blank lines, invalid
                       lines, duplicates differing only in case and a trailing dot)
  expected.jsonl       one JSON object per distinct valid domain, in input order: what a correct
                       scan through the fixture resolver must find (see EXPECTED below)
  expected_rejects.csv line,text of every invalid input line (1-based line numbers in domains.txt)
  queries.txt          a dnsperf query file ("name TYPE"): MX for every domain, A for every MX host

Domain kinds are a deterministic function of (seed, index), in per mille. The proportions follow
published measurements where one exists: DKIM under a guessable selector at about 25% of domains
(Wang et al., USENIX Security 2022: 28% of the top million), a few domains per thousand delegated
to servers that never answer.
  33.3% full      MX to a shared pool of 200 hosts mxK.mail.<zone>, SPF, DMARC p=reject|quarantine|none;
                  DKIM by sender: 8% Mailchimp (k1 CNAME dkim.mcsv.net, include:servers.mcsv.net),
                  6% SendGrid (s1/s2 CNAMEs into wl.sendgrid.net, include:sendgrid.net), 6% "default",
                  5% "google", 2% "mailjet" (found only with the full selector list), 2% an Amazon
                  SES style random token (the subtree exists; no guess finds the key)
  15%   own       own MX host mx.dNNNNNN.<zone> with its own A 127.2.x.y; of those with SPF, one in 20
                  includes a zone that SERVFAILs (deadinc.<zone>), one in 20 redirects there, one in 20
                  includes a zone whose server never answers (silent.<zone>): temperror (RFC 7208
                  5.2), the record still reported; one in 5 a DKIM key under "dkim"
   9%   google    Google Workspace: MX aspmx.l.google.com, include:_spf.google.com, 85% "google" key
   7%   m365      Microsoft 365: MX <label>.mail.protection.outlook.com, include:spf.protection.outlook.com,
                  80% selector1/selector2 CNAMEs to keys in <tenant>.onmicrosoft.com
   9%   nodata    an A record, no MX (MX query: NOERROR, no answer)
   3%   nxdomain  the name does not exist
   3%   nullmx    MX 0 . (RFC 7505)
   3%   twospf    two v=spf1 records (RFC 7208 4.5: permerror)
   4%   baddmarc  DMARC without p=, with p=bogus, with a valid p= but sp=block, two DMARC records
                  (all invalid), or a valid p= with pct=150 or a rua= without a scheme (valid: RFC 7489
                  6.6.3 invalidates a record only for its p= and sp=; the bad tag is an error beside it)
   4%   multimx   2-3 MX records of different preference
   3%   dmarconly only _dmarc (with sp= and pct=; in three of four RFC 9989's np=, t=, psd=, in one of
                  four p= after sp=): the domain itself is an empty non-terminal (MX: nodata)
   1.6% servfail  delegated to a lame server (NS ns.dead.<zone>, 127.0.0.99 answers REFUSED): SERVFAIL
   0.4% timeout   delegated to a server that never answers (NS ns.silent.<zone>, 127.0.0.98, nothing
                  listens): the resolver keeps trying; its client times out, or gets SERVFAIL once the
                  resolver has marked the server down
   1%   splitspf  one SPF record split across two character-strings
   2%   multipolicy two records each at _mta-sts, _smtp._tls and default._bimi: none applies (invalid)
   1%   spfedge   11 lookups, 3 void lookups, an include of itself (permerror); +all, exists with a
                  macro, ptr (valid)
   0.5% policyedge a declining BIMI record, an MTA-STS record with a bad id, a TLS-RPT record with a bad rua
   0.2% ownzone   the domain is a zone apex of its own (<domain>.zone, served beside the world): its SOA
                  names a contact at the domain (hostmaster, or a local part with an escaped dot) or
                  at the parent zone; pool MX, SPF, DMARC with rua at the domain

EXPECTED (one JSON object per line):
  domain        normalised: lowercase, no trailing dot
  mx_status     ok | nodata | nxdomain | servfail | timeout (timeout: timeout or servfail, see above)
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
  dkim_selectors  sorted selectors with a key that mxray's default probe plan finds (the domain's
                providers' selectors, then the common list); [] elsewhere (including nxdomain),
                null where unknown (servfail, timeout)
  dkim_selectors_full  the same with the full built-in list (--dkim-selectors full)
  dkim_subtree  _domainkey.<domain> exists (some key is published, guessable or not)
  mta_sts_status, tls_rpt_status, bimi_status  none | invalid (multipolicy) | temperror (dead)
  soa_rname     the SOA contact as an address (RNAME's first unescaped dot is the @) where the domain
                is a zone apex (ownzone); null elsewhere (the SOA query has no answer there)
For nxdomain: spf none, dmarc none. For servfail and timeout: spf, dmarc and the other policies
temperror. Everything else empty.

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

# cumulative per-mille thresholds -> kind. The proportions follow published measurements where one
# exists: DKIM keys under a guessable selector at about a quarter of domains (Wang et al., USENIX
# Security 2022: DKIM at 28% of the top million), Google Workspace and Microsoft 365 as the two
# largest mail hosts, and a few domains per thousand delegated to name servers that never answer.
KINDS = [
    (333, "full"),
    (335, "ownzone"),
    (485, "own"),
    (575, "google"),
    (645, "m365"),
    (735, "nodata"),
    (765, "nxdomain"),
    (795, "nullmx"),
    (825, "twospf"),
    (865, "baddmarc"),
    (905, "multimx"),
    (935, "dmarconly"),
    (951, "servfail"),
    (955, "timeout"),
    (965, "splitspf"),
    (985, "multipolicy"),
    (995, "spfedge"),
    (1000, "policyedge"),
]
KIND_OF_BUCKET = []
_lo = 0
for _hi, _k in KINDS:
    KIND_OF_BUCKET += [_k] * (_hi - _lo)
    _lo = _hi
assert len(KIND_OF_BUCKET) == 1000

# Zones of real mail providers, as their customers' records point into them (addresses on loopback).
PROVIDER_ZONES = {
    "google.com": [
        '_spf TXT "v=spf1 ip4:127.11.0.0/16 ~all"',
        "aspmx.l A 127.11.0.1",
        "alt1.aspmx.l A 127.11.0.2",
    ],
    "outlook.com": [
        'spf.protection TXT "v=spf1 ip4:127.12.0.0/16 -all"',
        "*.mail.protection A 127.12.0.1",
    ],
    "onmicrosoft.com": [],  # per-tenant DKIM keys, written with the domains
    "mcsv.net": [
        'servers TXT "v=spf1 ip4:127.13.0.0/16 ?all"',
        'dkim TXT "v=DKIM1; k=rsa; p=@KEY@"',
    ],
    "sendgrid.net": [
        '@ TXT "v=spf1 ip4:127.14.0.0/16 ~all"',
        '*.wl TXT "v=DKIM1; k=rsa; p=@KEY@"',
    ],
}
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
    kind = KIND_OF_BUCKET[h % 1000]
    r = h // 1000  # remaining randomness for the details
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
        "dkim_selectors_full": [],
        "dkim_subtree": False,
        "mta_sts_status": "none",
        "tls_rpt_status": "none",
        "bimi_status": "none",
        "soa_rname": None,
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

    def dkim_txt(selector):
        zl.append('%s._domainkey.%s. TXT "v=DKIM1; k=rsa; p=%s"' % (selector, name, DKIM_RSA_1024))

    def dkim_found(*selectors, full_only=()):
        exp["dkim_subtree"] = True
        exp["dkim_selectors"] = sorted(selectors)
        exp["dkim_selectors_full"] = sorted(selectors + tuple(full_only))

    label = name.replace(".", "-")
    k = r % POOL
    r //= POOL
    if kind == "full":
        pool_mx(10, k)
        terms = ["include:_spf.provider.%s" % zone] if r % 2 == 0 else ["mx"]
        r //= 2
        # DKIM by the sender the domain uses (provider CNAMEs, as the ESPs publish them)
        d = r % 100
        r //= 100
        if d < 8:  # Mailchimp: k1 CNAME dkim.mcsv.net
            terms.append("include:servers.mcsv.net")
            zl.append("k1._domainkey.%s. CNAME dkim.mcsv.net." % name)
            dkim_found("k1")
        elif d < 14:  # SendGrid: s1/s2 CNAME to the account's wl.sendgrid.net names
            terms.append("include:sendgrid.net")
            for sel in ("s1", "s2"):
                zl.append("%s._domainkey.%s. CNAME %s.domainkey.u%d.wl.sendgrid.net." % (sel, name, sel, i))
            dkim_found("s1", "s2")
        elif d < 20:
            dkim_txt("default")
            dkim_found("default")
        elif d < 25:
            dkim_txt("google")
            dkim_found("google")
        elif d < 27:  # a selector only the full list guesses
            dkim_txt("mailjet")
            dkim_found(full_only=("mailjet",))
        elif d < 29:  # Amazon SES style random token: the subtree exists, no guess finds it
            zl.append('%016x%016x._domainkey.%s. TXT "v=DKIM1; k=rsa; p=%s"' % (h, mix(seed + 7, i), name, DKIM_RSA_1024))
            exp["dkim_subtree"] = True
        spf(("v=spf1 %s %s" % (" ".join(terms), "-all" if terms[0] == "mx" else "~all"),))
        if r % 3 == 0:
            other_txt("site-verification=%016x" % (h & 0xFFFFFFFFFFFF))
        r //= 3
        p = DMARC_P[r % 3]
        r //= 3
        dmarc("v=DMARC1; p=%s; rua=mailto:dmarc@%s" % (p, name), p=p)
    elif kind == "google":  # Google Workspace: its MX, its SPF include, the "google" selector
        for pref, host, ip in ((1, "aspmx.l.google.com", "127.11.0.1"), (5, "alt1.aspmx.l.google.com", "127.11.0.2")):
            mx(pref, host)
            exp["mx_ips"].append(ip)
        spf(("v=spf1 include:_spf.google.com ~all",))
        if r % 100 < 85:
            dkim_txt("google")
            dkim_found("google")
        r //= 100
        p = DMARC_P[r % 3]
        dmarc("v=DMARC1; p=%s" % p, p=p)
    elif kind == "m365":  # Microsoft 365: selector1/selector2 CNAME into the tenant's onmicrosoft.com
        mx(0, "%s.mail.protection.outlook.com" % label)
        exp["mx_ips"].append("127.12.0.1")
        spf(("v=spf1 include:spf.protection.outlook.com -all",))
        if r % 100 < 80:
            tenant = "d%06d.onmicrosoft.com" % i
            for sel in ("selector1", "selector2"):
                target = "%s-%s._domainkey.%s" % (sel, label, tenant)
                zl.append("%s._domainkey.%s. CNAME %s." % (sel, name, target))
                zl.append('%s. TXT "v=DKIM1; k=rsa; p=%s"' % (target, DKIM_RSA_1024))
            dkim_found("selector1", "selector2")
        r //= 100
        if r % 2 == 0:
            dmarc("v=DMARC1; p=reject", p="reject")
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
            elif v == 2:  # into a zone whose server never answers: temperror too
                spf(("v=spf1 mx include:_spf.silent.%s -all" % zone,), status="temperror")
            else:
                spf(("v=spf1 mx -all",))
            if r % 2 == 0:
                dmarc("v=DMARC1; p=quarantine", p="quarantine")
        if (r // 80) % 5 == 0:
            dkim_txt("dkim")
            dkim_found("dkim")
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
        v = r % 6
        if v == 0:
            dmarc("v=DMARC1; rua=mailto:dmarc@%s" % name, status="invalid")
        elif v == 4:  # pct out of range: an error beside a record that still applies
            dmarc("v=DMARC1; p=reject; pct=150", p="reject")
        elif v == 5:  # a rua= without a scheme: no reports, the policy still applies
            dmarc("v=DMARC1; p=quarantine; rua=dmarc@%s" % name, p="quarantine")
        elif v == 1:
            dmarc("v=DMARC1; p=bogus", status="invalid")
        elif v == 2:
            dmarc("v=DMARC1; p=quarantine; sp=block; pct=50", status="invalid")
        elif v == 3:
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
        # RFC 9989's tags (np, t, psd), and p= not second (RFC 9989 4.8 allows any order after v=)
        bis = ("", "; np=reject; t=y", "; psd=n; t=n", "; np=quarantine; psd=u")[(r // 9) % 4]
        if (r // 9) % 4 == 3:
            dmarc("v=DMARC1; sp=%s; p=%s; pct=%d%s" % (sp, p, pct, bis), p=p)
        else:
            dmarc("v=DMARC1; p=%s; sp=%s; pct=%d%s" % (p, sp, pct, bis), p=p)
    elif kind in ("servfail", "timeout"):
        # servfail: the server answers REFUSED (the resolver says SERVFAIL at once); timeout: nothing
        # answers, and the resolver keeps trying (its client times out, or gets SERVFAIL once the
        # resolver has marked the server down)
        zl.append("%s. NS ns.%s.%s." % (name, "dead" if kind == "servfail" else "silent", zone))
        exp["mx_status"] = kind
        exp["spf_status"] = "temperror"
        exp["dmarc_status"] = "temperror"
        exp["dkim_selectors"] = exp["dkim_selectors_full"] = None
        for col in ("mta_sts_status", "tls_rpt_status", "bimi_status"):
            exp[col] = "temperror"
    elif kind == "splitspf":
        pool_mx(10, k)
        spf(("v=spf1 ip4:127.9.0.0/16 ", "include:_spf.provider.%s -all" % zone))
        dmarc("v=DMARC1; p=reject", p="reject")
    elif kind == "multipolicy":  # several records of each single-record policy: none applies
        pool_mx(10, k)
        spf(("v=spf1 mx -all",))
        dmarc("v=DMARC1; p=reject", p="reject")
        for owner, texts in (
            ("_mta-sts", ("v=STSv1; id=20240101", "v=STSv1; id=20240202")),
            ("_smtp._tls", ("v=TLSRPTv1; rua=mailto:a@%s" % name, "v=TLSRPTv1; rua=mailto:b@%s" % name)),
            ("default._bimi", ("v=BIMI1; l=https://%s/a.svg" % name, "v=BIMI1; l=https://%s/b.svg" % name)),
        ):
            for t in texts:
                zl.append('%s.%s. TXT "%s"' % (owner, name, t))
        for col in ("mta_sts_status", "tls_rpt_status", "bimi_status"):
            exp[col] = "invalid"
    elif kind == "spfedge":  # the SPF limits and rarer terms (RFC 7208 4.6.4, 5.5, 5.7, 7)
        pool_mx(10, k)
        dmarc("v=DMARC1; p=none", p="none")
        v = r % 6
        if v == 0:  # eleven DNS-querying terms: the 11th exceeds the limit of 10
            spf(("v=spf1 %s -all" % " ".join("a:mx%d.mail.%s" % (j, zone) for j in range(11)),), status="permerror")
        elif v == 1:  # three void lookups: over the limit of 2
            spf(("v=spf1 %s -all" % " ".join("a:void%d.%s" % (j, name) for j in range(3)),), status="permerror")
        elif v == 2:  # an include of itself
            spf(("v=spf1 include:%s -all" % name,), status="permerror")
        elif v == 3:
            spf(("v=spf1 mx +all",))
        elif v == 4:  # exists with a macro, and a target that exists
            zl.append("127.0.0.1.ex.%s. A 127.0.0.2" % name)
            spf(("v=spf1 exists:%%{i}.ex.%s -all" % name,))
        else:
            spf(("v=spf1 ptr mx -all",))
    elif kind == "policyedge":  # a policy record of each kind that is present but not valid, or declines
        pool_mx(10, k)
        spf(("v=spf1 mx -all",))
        v = r % 3
        if v == 0:
            dmarc("v=DMARC1; p=reject", p="reject")
            zl.append('default._bimi.%s. TXT "v=BIMI1; l=; a="' % name)
            exp["bimi_status"] = "declined"
        elif v == 1:
            dmarc("v=DMARC1; p=reject", p="reject")
            zl.append('_mta-sts.%s. TXT "v=STSv1; id=not-alphanumeric!"' % name)
            exp["mta_sts_status"] = "invalid"
        else:
            zl.append('_smtp._tls.%s. TXT "v=TLSRPTv1; rua=not-a-uri"' % name)
            exp["tls_rpt_status"] = "invalid"
    elif kind == "ownzone":  # a zone apex: main() writes these lines to <name>.zone
        v = r % 3
        r //= 3
        rname, exp["soa_rname"] = (
            ("hostmaster.%s." % name, "hostmaster@%s" % name),
            ("mail\\.admin.%s." % name, "mail.admin@%s" % name),
            ("dns-admin.%s." % zone, "dns-admin@%s" % zone),
        )[v]
        zl.append("%s. SOA ns1.%s. %s 1 3600 600 86400 60" % (name, zone, rname))
        zl.append("%s. NS ns1.%s." % (name, zone))
        pool_mx(10, k)
        spf(("v=spf1 mx -all",))
        p = DMARC_P[r % 3]
        dmarc("v=DMARC1; p=%s; rua=mailto:dmarc@%s" % (p, name), p=p)
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
                "; silent name server of the delegated timeout domains: nothing answers at 127.0.0.98:53",
                "ns.silent A 127.0.0.98",
                "silent NS ns.silent",
                '_spf.provider TXT "%s"' % PROVIDER_SPF,
                "; shared pool of MX hosts",
            ]
        )
        + "\n"
    )
    # the mail providers' own zones, served beside the world (loopback only): their SPF includes, MX
    # hosts and DKIM CNAME targets, under the real names that the provider selector table matches
    pz = {}
    for origin, lines in PROVIDER_ZONES.items():
        pz[origin] = out("%s.zone" % origin)
        pz[origin].write("$ORIGIN %s.\n$TTL 60\n@ SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 60\n@ NS ns1.%s.\n" % (origin, zone, zone, zone))
        for line in lines:
            pz[origin].write(line.replace("@KEY@", DKIM_RSA_1024) + "\n")
    provider_suffixes = sorted(((".%s." % o, o) for o in pz), key=lambda x: -len(x[0]))

    def zone_file(line):
        owner = line.split(" ", 1)[0]
        for suffix, origin in provider_suffixes:
            if owner.endswith(suffix):
                return pz[origin]
        return zf

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
        if kind == "ownzone":  # its own zone file (at most a few per thousand domains)
            with out("%s.zone" % name) as f:
                f.write("$TTL 60\n" + "".join(line + "\n" for line in zl))
        else:
            for line in zl:
                zone_file(line).write(line + "\n")
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
    for f in (zf, inf, qf, ef, *pz.values()):
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
