//! One function per checklist item, in the checklist's order: each reads the findings the scan's
//! checks made (typed, or through the columns where the report reads them too) and says them.

use std::net::IpAddr;

use super::words::{self, first_fix};
use super::{CheckTarget, CheckedHost, Item, Mark, Observed};
use crate::checks::dkim::{self, DkimStatus};
use crate::checks::dmarc::{DmarcFindings, DmarcStatus};
use crate::checks::problem::{Code, Problem};
use crate::checks::rpki::RouteValidity;
use crate::checks::spf::{MAX_DNS_TERMS, Qualifier, SpfFindings, SpfStatus};
use crate::checks::{RecordStatus, mta_sts};
use crate::columns::{Row, StructItems, Value};
use crate::dns::Status;
use crate::output::{DomainRow, HostRow, HostStatus};
use crate::report::readiness::{DomainFacts, HostCells, HostFacts, HostMap, KeyFacts, judge};
use crate::smtp::conn::SmtpStatus;

/// The checklist of one target, in order. An address target has the items of a server only.
pub fn checklist(o: &Observed) -> Vec<Item> {
    let hosts = &o.hosts;
    let mut v = Vec::new();
    if let Some(d) = &o.domain {
        v.push(mx(d));
    }
    v.push(smtp_session(o));
    v.push(open_relay(hosts));
    v.push(reverse_dns(hosts));
    if let Some(d) = &o.domain {
        v.push(spf(d));
        v.push(dkim(d));
        v.push(domainkeys(d));
        v.push(dmarc(d));
    }
    v.push(asn(hosts));
    v.push(backscatter(o));
    v.push(dnsbl(o));
    if let Some(d) = &o.domain {
        v.push(role_addresses(hosts));
        v.push(soa_contact(d, hosts));
        v.push(mta_sts(d));
        v.push(tls_rpt(d));
        v.push(bimi(d));
        v.push(dane(d));
    }
    v.push(starttls(hosts));
    if let Some(d) = &o.domain {
        v.push(readiness(d, hosts));
    }
    v
}

fn item(id: &'static str, title: &'static str, mark: Mark, finding: String) -> Item {
    Item {
        id,
        title,
        mark,
        finding,
        fix: None,
    }
}

impl Item {
    fn fix(mut self, fix: impl Into<String>) -> Item {
        self.fix = Some(fix.into());
        self
    }
}

/// Per-address parts of one item, combined: the worst mark, the findings joined, the first fix
/// of the worst.
struct PerHost {
    parts: Vec<(Mark, String, Option<String>)>,
}

impl PerHost {
    fn new() -> PerHost {
        PerHost { parts: Vec::new() }
    }

    fn add(&mut self, mark: Mark, finding: String, fix: Option<&str>) {
        self.parts.push((mark, finding, fix.map(str::to_string)));
    }

    fn item(self, id: &'static str, title: &'static str, none: &str) -> Item {
        let Some(worst) = self.parts.iter().map(|p| p.0).max() else {
            return item(id, title, Mark::Unknown, none.to_string());
        };
        let fix = self
            .parts
            .iter()
            .filter(|p| p.0 == worst)
            .find_map(|p| p.2.clone());
        let finding = self
            .parts
            .into_iter()
            .map(|p| p.1)
            .collect::<Vec<_>>()
            .join("; ");
        Item {
            id,
            title,
            mark: worst,
            finding,
            fix,
        }
    }
}

/// `ip` and, for a domain target, the exchange that led to it.
fn who(h: &CheckedHost) -> String {
    match &h.exchange {
        Some(e) => format!("{} ({e})", h.row.ip),
        None => h.row.ip.clone(),
    }
}

/// The address was checked (not excluded, the probe did not fail): else why not.
fn not_checked(r: &HostRow) -> Option<String> {
    match r.host_status {
        HostStatus::Ok => None,
        HostStatus::Skipped => Some(format!(
            "not checked: {}",
            r.skip_reason.as_deref().unwrap_or("excluded")
        )),
        HostStatus::Error => Some(format!(
            "not checked: {}",
            r.host_error.as_deref().unwrap_or("the probe failed")
        )),
    }
}

/// The SMTP findings of a session that reached the server, else why there are none.
fn session(h: &CheckedHost) -> Result<&crate::checks::smtp::SmtpFindings, String> {
    if let Some(why) = not_checked(&h.row) {
        return Err(why);
    }
    let Some(s) = &h.row.smtp else {
        return Err("no SMTP session (not asked)".into());
    };
    if s.status == SmtpStatus::Ok {
        Ok(s)
    } else {
        Err(format!("no SMTP dialogue ({})", s.outcome.as_str()))
    }
}

fn mx(d: &DomainRow) -> Item {
    const ID: &str = "mx";
    const TITLE: &str = "MX";
    let Some(m) = d.mx.done() else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    if m.status.is_failure() {
        return item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("the MX query failed ({})", m.status.as_str()),
        );
    }
    if m.status == Status::NxDomain {
        return item(ID, TITLE, Mark::Fail, "the domain does not exist".into())
            .fix("register the domain, or check the spelling");
    }
    if m.null == Some(true) {
        return item(
            ID,
            TITLE,
            Mark::Pass,
            "null MX (RFC 7505): the domain accepts no mail".into(),
        );
    }
    let records = m.records.as_deref().unwrap_or_default();
    if records.is_empty() {
        return item(
            ID,
            TITLE,
            Mark::Fail,
            "no MX record: senders fall back to the domain's own address (RFC 5321 5.1)".into(),
        )
        .fix("publish an MX record naming your mail server, or a null MX (0 .) if the domain takes no mail");
    }
    let list = records
        .iter()
        .map(|(p, e)| format!("{p} {e}"))
        .collect::<Vec<_>>()
        .join(", ");
    let ips = m.ips.as_deref().unwrap_or_default();
    let mut finding = format!("{list}; addresses {}", join_or(ips, "none"));
    match first_fix(&m.errors) {
        Some((problem, fix)) => {
            finding.push_str(&format!("; {problem}"));
            item(ID, TITLE, Mark::Warn, finding).fix(fix)
        }
        None if m.ips_status.is_some_and(|s| s != Status::Ok) => {
            finding.push_str("; some address lookups failed");
            item(ID, TITLE, Mark::Unknown, finding)
        }
        None if ips.is_empty() => {
            item(ID, TITLE, Mark::Fail, finding).fix("give the exchanges A or AAAA records")
        }
        None => item(ID, TITLE, Mark::Pass, finding),
    }
}

fn join_or(v: &[String], none: &str) -> String {
    if v.is_empty() {
        none.to_string()
    } else {
        v.join(", ")
    }
}

fn smtp_session(o: &Observed) -> Item {
    let mut p = PerHost::new();
    for h in &o.hosts {
        let w = who(h);
        if let Some(why) = not_checked(&h.row) {
            p.add(Mark::Unknown, format!("{w}: {why}"), None);
            continue;
        }
        let Some(s) = &h.row.smtp else {
            p.add(Mark::Unknown, format!("{w}: not asked"), None);
            continue;
        };
        let port = s.port.map(|p| format!(" port {p}")).unwrap_or_default();
        let banner = s.banner.as_deref().unwrap_or("no greeting");
        match s.status {
            SmtpStatus::Ok if s.outcome == crate::smtp::session::Outcome::Completed => {
                p.add(Mark::Pass, format!("{w}: {banner}"), None)
            }
            SmtpStatus::Ok => p.add(
                Mark::Warn,
                format!("{w}: {banner} ({})", s.outcome.as_str()),
                Some("let senders through the greeting and EHLO with 2xx replies"),
            ),
            SmtpStatus::Skipped => p.add(Mark::Unknown, format!("{w}: not asked"), None),
            st => {
                let error = s
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                p.add(
                    Mark::Fail,
                    format!("{w}{port}: no SMTP dialogue, {}{error}", st.as_str()),
                    Some(
                        "make the server accept connections on its SMTP port and answer each command within seconds",
                    ),
                );
            }
        }
    }
    let none = if o.smtp {
        "no address to connect to"
    } else {
        "not asked"
    };
    p.item("smtp", "SMTP session", none)
}

fn open_relay(hosts: &[CheckedHost]) -> Item {
    let mut p = PerHost::new();
    for h in hosts {
        let w = who(h);
        let s = match session(h) {
            Ok(s) => s,
            Err(why) => {
                p.add(Mark::Unknown, format!("{w}: {why}"), None);
                continue;
            }
        };
        let list = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .unwrap_or_default()
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (s.open_relay, s.open_relay_direct) {
            (Some(true), Some(true)) => p.add(
                Mark::Fail,
                format!(
                    "{w}: open relay, accepted mail for another domain (variants {})",
                    list(&s.relay_accepted)
                ),
                Some(
                    "relay only for authenticated users and your own networks, and refuse any other recipient domain at RCPT",
                ),
            ),
            (Some(true), _) => p.add(
                Mark::Warn,
                format!(
                    "{w}: accepted only relay variants that carry the other domain inside the local part (variants {}), which a catch-all takes as local mail",
                    list(&s.relay_accepted)
                ),
                Some(
                    "refuse recipients with %, ! or a quoted @ in the local part at RCPT",
                ),
            ),
            (Some(false), _) if s.relay_deferred.as_ref().is_some_and(|d| !d.is_empty()) => p.add(
                Mark::Unknown,
                format!(
                    "{w}: no relay variant accepted, but variants {} were deferred (4xx)",
                    list(&s.relay_deferred)
                ),
                None,
            ),
            (Some(false), _) => p.add(
                Mark::Pass,
                format!("{w}: no relay variant accepted"),
                None,
            ),
            (None, _) => p.add(Mark::Unknown, format!("{w}: no relay test made"), None),
        }
    }
    p.item("open_relay", "Open relay", "no address to test")
}

fn reverse_dns(hosts: &[CheckedHost]) -> Item {
    let mut p = PerHost::new();
    for h in hosts {
        let w = who(h);
        if let Some(why) = not_checked(&h.row) {
            p.add(Mark::Unknown, format!("{w}: {why}"), None);
            continue;
        }
        let Some(r) = &h.row.reverse else {
            p.add(Mark::Unknown, format!("{w}: not checked"), None);
            continue;
        };
        let fix_ptr = "have whoever runs the address (your provider) set a PTR record to the server's name, and give that name an A or AAAA record back to the address";
        match (r.status, r.ptr.as_deref(), r.fcrdns) {
            (Status::NxDomain | Status::NoData, _, _) => {
                p.add(Mark::Fail, format!("{w}: no PTR record"), Some(fix_ptr));
                continue;
            }
            (st, None, _) => {
                p.add(
                    Mark::Unknown,
                    format!("{w}: the PTR query failed ({})", st.as_str()),
                    None,
                );
                continue;
            }
            (_, Some(names), Some(false)) => {
                p.add(
                    Mark::Fail,
                    format!(
                        "{w}: PTR {} does not resolve back to the address",
                        names.join(", ")
                    ),
                    Some(fix_ptr),
                );
                continue;
            }
            (_, Some(names), None) => {
                p.add(
                    Mark::Unknown,
                    format!("{w}: PTR {}, whose forward lookup failed", names.join(", ")),
                    None,
                );
                continue;
            }
            (_, Some(_), Some(true)) => {}
        }
        let names = r.ptr.as_deref().unwrap_or_default().join(", ");
        let smtp = h.row.smtp.as_ref().filter(|s| s.status == SmtpStatus::Ok);
        let mismatch: Vec<String> = smtp
            .map(|s| {
                [
                    ("greeting", &s.banner_name, s.banner_ptr_match),
                    ("EHLO", &s.ehlo_name, s.ehlo_ptr_match),
                ]
                .into_iter()
                .filter(|(_, _, m)| *m == Some(false))
                .map(|(what, name, _)| {
                    format!("the {what} says {}", name.as_deref().unwrap_or("?"))
                })
                .collect()
            })
            .unwrap_or_default();
        if mismatch.is_empty() {
            let matched = if smtp.is_some() {
                ", the greeting and EHLO name it"
            } else {
                ""
            };
            p.add(
                Mark::Pass,
                format!("{w}: PTR {names}, forward-confirmed{matched}"),
                None,
            );
        } else {
            p.add(
                Mark::Warn,
                format!(
                    "{w}: PTR {names}, forward-confirmed, but {}",
                    mismatch.join(" and ")
                ),
                Some("make the server announce its PTR name in the greeting and in EHLO"),
            );
        }
    }
    p.item("reverse_dns", "Reverse DNS", "no address to check")
}

fn spf(d: &DomainRow) -> Item {
    const ID: &str = "spf";
    const TITLE: &str = "SPF";
    let Some(s) = d.spf.done() else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    match s.status {
        SpfStatus::None => item(ID, TITLE, Mark::Fail, "no SPF record".into()).fix(
            "publish a TXT record such as v=spf1 mx -all at the domain, with an include: for each provider that sends for it",
        ),
        SpfStatus::TempError => item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("a lookup failed: {}", s.errors.first().map_or("", String::as_str)),
        ),
        SpfStatus::PermError => spf_permerror(s),
        SpfStatus::Valid => spf_valid(s),
    }
}

fn spf_permerror(s: &SpfFindings) -> Item {
    let item = |f: String| item("spf", "SPF", Mark::Fail, f);
    if let Some(n) = s.lookups.filter(|n| *n > MAX_DNS_TERMS) {
        let includes = top_includes(s);
        let fix = match includes.is_empty() {
            true => words::fix(Code::LookupLimit)
                .unwrap_or_default()
                .to_string(),
            false => format!(
                "flatten {} into ip4:/ip6: ranges or drop what you no longer use",
                includes.join(" or ")
            ),
        };
        return item(format!(
            "SPF needs {n} DNS lookups; the limit is {MAX_DNS_TERMS} (RFC 7208 4.6.4), so receivers get permerror"
        ))
        .fix(fix);
    }
    match first_fix(&s.errors) {
        Some((problem, fix)) => item(format!("permerror: {problem}")).fix(fix),
        None => item(format!("permerror: {}", s.errors.join("; "))).fix("correct the record"),
    }
}

/// The includes and redirect of the record itself (depth 1 of the walk), as written.
fn top_includes(s: &SpfFindings) -> Vec<String> {
    s.include_tree
        .iter()
        .filter_map(|t| t.strip_prefix("1 "))
        .map(|name| format!("include:{name}"))
        .collect()
}

fn spf_valid(s: &SpfFindings) -> Item {
    let lookups = s.lookups.map_or("lookups not counted".to_string(), |n| {
        format!("{n} of {MAX_DNS_TERMS} DNS lookups")
    });
    let space = s
        .ipv4_authorized
        .map(|n| format!(", {n} IPv4 addresses authorised"))
        .unwrap_or_default();
    let all = match s.all {
        Some(q) => format!("ends in {}all", qualifier_sign(q)),
        None => "no all term".to_string(),
    };
    let finding = format!("valid, {lookups}, {all}{space}");
    let item = |m: Mark, f: String| item("spf", "SPF", m, f);
    match s.all {
        Some(Qualifier::Pass) => item(
            Mark::Fail,
            format!("{finding}: +all lets any host on the internet send as the domain"),
        )
        .fix("end the record with -all (or ~all while you test)"),
        Some(Qualifier::Neutral) | None => item(
            Mark::Warn,
            format!("{finding}: mail from any other host gets neutral, not fail"),
        )
        .fix("end the record with -all (or ~all)"),
        _ if s.flags.iter().any(|f| f == "wide_ranges") => item(
            Mark::Warn,
            format!("{finding}: it authorises very wide ranges"),
        )
        .fix("list only the addresses that send your mail"),
        _ => match first_fix(&s.errors) {
            Some((problem, fix)) => item(Mark::Warn, format!("{finding}; {problem}")).fix(fix),
            None => item(Mark::Pass, finding),
        },
    }
}

fn qualifier_sign(q: Qualifier) -> &'static str {
    match q {
        Qualifier::Pass => "+",
        Qualifier::Fail => "-",
        Qualifier::SoftFail => "~",
        Qualifier::Neutral => "?",
    }
}

fn dkim(d: &DomainRow) -> Item {
    const ID: &str = "dkim";
    const TITLE: &str = "DKIM";
    let Some(k) = d.dkim.done() else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    let keys = k.keys.as_deref().unwrap_or_default();
    let list = keys
        .iter()
        .map(|k| {
            let bits = k
                .bits
                .map_or("unreadable".to_string(), |b| format!("{b} bits"));
            let state = if k.revoked {
                ", revoked"
            } else if !k.usable {
                ", unusable"
            } else {
                ""
            };
            format!("{} ({} {bits}{state})", k.selector, k.key_type)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let facts: Vec<KeyFacts> = keys
        .iter()
        .map(|k| KeyFacts {
            key_type: Some(&k.key_type),
            bits: k.bits,
            usable: k.usable,
        })
        .collect();
    let strong_rsa = facts.iter().any(|f| f.usable && !f.weak() && is_rsa(f));
    match k.status {
        DkimStatus::Skipped => item(ID, TITLE, Mark::Unknown, "not probed".into()),
        DkimStatus::TempError => item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("a lookup failed: {}", k.errors.first().map_or("", String::as_str)),
        ),
        DkimStatus::None => item(
            ID,
            TITLE,
            Mark::Warn,
            "no key under the selectors probed (a key under another selector cannot be seen from outside)".into(),
        )
        .fix("sign your mail with DKIM and publish the key; if you do, name your selector with --dkim-selectors to check it"),
        _ if facts.iter().any(|f| f.weak() && f.usable) || (!strong_rsa && facts.iter().any(KeyFacts::weak)) => {
            item(ID, TITLE, Mark::Fail, format!("{list}: RSA keys under {} bits are refused by verifiers (RFC 8301 3.2)", dkim::MIN_RSA_BITS))
                .fix(words::fix(Code::WeakKey).unwrap_or_default())
        }
        DkimStatus::Invalid => {
            let (problem, fix) = first_fix(&k.errors).unwrap_or(("no usable key", "publish a valid key record"));
            item(ID, TITLE, Mark::Fail, format!("{list}: {problem}")).fix(fix)
        }
        DkimStatus::Valid if !strong_rsa => item(
            ID,
            TITLE,
            Mark::Warn,
            format!("{list}: no RSA key, and verifiers that do not know Ed25519 ignore its signatures (RFC 8463 3)"),
        )
        .fix("sign with an RSA key of 2048 bits as well"),
        DkimStatus::Valid => match first_fix(&k.errors) {
            Some((problem, fix)) if !is_domainkeys(problem) => {
                item(ID, TITLE, Mark::Warn, format!("{list}; {problem}")).fix(fix)
            }
            _ => item(ID, TITLE, Mark::Pass, list),
        },
    }
}

fn is_rsa(k: &KeyFacts) -> bool {
    k.key_type
        .is_none_or(|t| t.eq_ignore_ascii_case(dkim::KeyType::Rsa.as_str()))
}

fn is_domainkeys(problem: &str) -> bool {
    Problem::split(problem).is_some_and(|(c, _)| c == Code::DomainkeysPolicy)
}

fn domainkeys(d: &DomainRow) -> Item {
    const ID: &str = "domainkeys";
    const TITLE: &str = "DomainKeys (legacy)";
    let Some(k) = d.dkim.done() else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    let legacy: Vec<&String> = k.errors.iter().filter(|e| is_domainkeys(e)).collect();
    match (legacy.first(), k.status) {
        (Some(e), _) => item(ID, TITLE, Mark::Warn, format!("an obsolete record: {e}"))
            .fix(words::fix(Code::DomainkeysPolicy).unwrap_or_default()),
        (None, DkimStatus::TempError | DkimStatus::Skipped) => {
            item(ID, TITLE, Mark::Unknown, "_domainkey was not read".into())
        }
        (None, _) => item(
            ID,
            TITLE,
            Mark::Pass,
            "no DomainKeys policy record (RFC 4870, historic)".into(),
        ),
    }
}

fn dmarc(d: &DomainRow) -> Item {
    const ID: &str = "dmarc";
    const TITLE: &str = "DMARC";
    let Some(m) = d.dmarc.done() else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    match m.status {
        DmarcStatus::None => item(
            ID,
            TITLE,
            Mark::Fail,
            format!("no DMARC record at _dmarc.{} nor at its organizational domain", d.domain),
        )
        .fix(format!(
            "publish v=DMARC1; p=none; rua=mailto:dmarc-reports@{} at _dmarc.{}, then move to quarantine and reject once the reports show only your own mail",
            d.domain, d.domain
        )),
        DmarcStatus::TempError => item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("a lookup failed: {}", m.errors.first().map_or("", String::as_str)),
        ),
        DmarcStatus::Invalid => {
            let (problem, fix) = first_fix(&m.errors)
                .unwrap_or(("no record applies", "publish one valid v=DMARC1 record"));
            item(ID, TITLE, Mark::Fail, format!("invalid: {problem}")).fix(fix)
        }
        DmarcStatus::Valid => dmarc_valid(m),
    }
}

fn dmarc_valid(m: &DmarcFindings) -> Item {
    let p = m.p.as_deref().unwrap_or("?");
    let source = m.source_text.as_deref().unwrap_or("domain");
    let at = match source {
        "domain" => "at the domain".to_string(),
        other => format!("found at the {other} domain"),
    };
    let pct = m
        .pct
        .filter(|p| *p < 100)
        .map(|p| format!(", pct={p}"))
        .unwrap_or_default();
    let reports = match m.rua.is_empty() {
        true => "no aggregate reports (rua)".to_string(),
        false => format!("reports to {}", m.rua.join(", ")),
    };
    let finding = format!("p={p}{pct} {at}, {reports}");
    let item = |mark, f| item("dmarc", "DMARC", mark, f);
    if p == "none" {
        item(Mark::Warn, format!("{finding}: monitoring only, spoofed mail is still delivered"))
            .fix("move to p=quarantine, then p=reject, once the aggregate reports show only your own mail")
    } else if m.rua.is_empty() {
        item(Mark::Warn, finding).fix("add rua=mailto:... to learn who sends mail as the domain")
    } else if !pct.is_empty() {
        // Before the record's other problems: its `removed-tag` warning says the same of pct,
        // in the standard's words, not the sender's.
        item(
            Mark::Warn,
            format!("{finding}: the policy applies to part of the mail"),
        )
        .fix("drop pct= (or set pct=100) once the policy holds")
    } else if let Some((problem, fix)) = first_fix(&m.errors) {
        item(Mark::Warn, format!("{finding}; {problem}")).fix(fix)
    } else {
        item(Mark::Pass, finding)
    }
}

fn asn(hosts: &[CheckedHost]) -> Item {
    let mut p = PerHost::new();
    for h in hosts {
        let w = who(h);
        if let Some(why) = not_checked(&h.row) {
            p.add(Mark::Unknown, format!("{w}: {why}"), None);
            continue;
        }
        match &h.row.asn {
            Some(a) => {
                let name = a
                    .name
                    .as_deref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default();
                let cc = a
                    .country
                    .as_deref()
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default();
                let finding = format!("{w}: AS{}{name}{cc}", a.asn);
                match h.row.rpki {
                    None => p.add(Mark::Pass, finding, None),
                    Some(v @ RouteValidity::Invalid) => p.add(
                        Mark::Warn,
                        format!("{finding}, RPKI {v} (RFC 6811: a ROA covers the route but none authorises this AS at its length)"),
                        Some("have the address block's holder publish a ROA for this origin AS and prefix length (or announce the prefix the ROA names): networks that drop RPKI-invalid routes cannot reach this server"),
                    ),
                    Some(v) => p.add(Mark::Pass, format!("{finding}, RPKI {v}"), None),
                }
            }
            None => {
                let failed = h.row.reverse.as_ref().and_then(|r| {
                    r.errors
                        .iter()
                        .find(|e| Problem::split(e).is_some_and(|(c, _)| c == Code::AsnLookup))
                });
                let why = failed.map_or(
                    "not known (no --asn-db entry, --asn-dns off or the address is not routed)"
                        .to_string(),
                    |e| e.clone(),
                );
                p.add(Mark::Unknown, format!("{w}: AS {why}"), None)
            }
        }
    }
    p.item("asn", "AS of each address", "no address")
}

fn backscatter(o: &Observed) -> Item {
    const ID: &str = "backscatter";
    const TITLE: &str = "Backscatter (any recipient accepted)";
    if matches!(o.target, CheckTarget::Address(_)) {
        return item(
            ID,
            TITLE,
            Mark::Unknown,
            "the recipient test needs a domain the server serves: check the domain".into(),
        );
    }
    let mut p = PerHost::new();
    for h in &o.hosts {
        let w = who(h);
        let s = match session(h) {
            Ok(s) => s,
            Err(why) => {
                p.add(Mark::Unknown, format!("{w}: {why}"), None);
                continue;
            }
        };
        match s.accepts_any_recipient {
            Some(true) => p.add(
                Mark::Warn,
                format!("{w}: accepted a random nonexistent recipient at RCPT: mail it cannot deliver must bounce later, to forged senders"),
                Some("refuse unknown recipients at RCPT instead of accepting and bouncing later"),
            ),
            Some(false) => p.add(Mark::Pass, format!("{w}: refused a random nonexistent recipient at RCPT"), None),
            None => p.add(Mark::Unknown, format!("{w}: no recipient test made"), None),
        }
    }
    p.item(ID, TITLE, "no address to test")
}

fn dnsbl(o: &Observed) -> Item {
    let mut p = PerHost::new();
    if o.dnsbl_zones.is_empty() {
        return item(
            "dnsbl",
            "Blocklists (DNSBL)",
            Mark::Unknown,
            "no DNSBL zone queried (--dnsbl)".into(),
        );
    }
    for h in &o.hosts {
        let w = who(h);
        if let Some(why) = not_checked(&h.row) {
            p.add(Mark::Unknown, format!("{w}: {why}"), None);
            continue;
        }
        let Some(l) = &h.row.dnsbl else {
            p.add(Mark::Unknown, format!("{w}: not checked"), None);
            continue;
        };
        listings(&mut p, &w, l);
    }
    if let Some(l) = o.domain.as_ref().and_then(|d| d.dnsbl_domain.as_ref()) {
        let w = o.target.to_string();
        listings(&mut p, &w, l);
    }
    let zones = o.dnsbl_zones.len();
    let mut it = p.item("dnsbl", "Blocklists (DNSBL)", "no address to look up");
    let plural = if zones == 1 { "" } else { "s" };
    it.finding = format!("{} ({zones} zone{plural})", it.finding);
    it
}

fn listings(p: &mut PerHost, w: &str, l: &crate::checks::dnsbl::Listings) {
    if !l.listed.is_empty() {
        let reasons = if l.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", l.reasons.join("; "))
        };
        p.add(
            Mark::Fail,
            format!("{w}: listed in {}{reasons}", l.listed.join(", ")),
            Some("find the cause in the list's lookup page, fix it, then ask the list's operator to delist"),
        );
    } else if !l.errors.is_empty() {
        p.add(
            Mark::Unknown,
            format!(
                "{w}: not listed where the zones answered; no answer from {}",
                l.errors.join(", ")
            ),
            None,
        );
    } else {
        p.add(Mark::Pass, format!("{w}: not listed"), None);
    }
}

/// The RFC 2142 and RFC 5321 4.5.1 role addresses, and how much a refusal weighs.
const ROLES: &[(&str, Mark)] = &[
    ("postmaster", Mark::Fail),
    ("abuse", Mark::Warn),
    ("security", Mark::Warn),
    ("admin", Mark::Warn),
];

fn role_addresses(hosts: &[CheckedHost]) -> Item {
    const ID: &str = "role_addresses";
    const TITLE: &str = "Role addresses";
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    let mut worst = Mark::Pass;
    for (role, weight) in ROLES {
        let replies: Vec<&crate::output::RecipientRow> = hosts
            .iter()
            .flat_map(|h| &h.recipients)
            .filter(|r| r.role == Some(*role))
            .collect();
        let codes: Vec<u16> = replies
            .iter()
            .filter(|r| r.status == "ok")
            .filter_map(|r| r.code)
            .collect();
        if codes.iter().any(|c| *c >= 500) {
            let c = codes
                .iter()
                .find(|c| **c >= 500)
                .copied()
                .unwrap_or_default();
            refused.push(format!("{role}@ ({c})"));
            worst = worst.max(*weight);
        } else if !codes.is_empty() && codes.iter().all(|c| (200..300).contains(c)) {
            accepted.push(format!("{role}@"));
        } else {
            unknown.push(format!("{role}@"));
            worst = worst.max(Mark::Unknown);
        }
    }
    let mut parts = Vec::new();
    if !accepted.is_empty() {
        parts.push(format!("accepted: {}", accepted.join(", ")));
    }
    if !refused.is_empty() {
        parts.push(format!("refused: {}", refused.join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("not answered: {}", unknown.join(", ")));
    }
    let catch_all = hosts
        .iter()
        .any(|h| h.row.smtp.as_ref().and_then(|s| s.accepts_any_recipient) == Some(true));
    if catch_all && !accepted.is_empty() {
        parts.push("the server accepts any recipient, so acceptance proves little".into());
    }
    let it = item(ID, TITLE, worst, parts.join("; "));
    match worst {
        Mark::Fail | Mark::Warn => it.fix(
            "create postmaster@ (RFC 5321 4.5.1) and abuse@, security@, admin@ (RFC 2142) and deliver them to someone who reads them",
        ),
        _ => it,
    }
}

fn soa_contact(d: &DomainRow, hosts: &[CheckedHost]) -> Item {
    const ID: &str = "soa_contact";
    const TITLE: &str = "SOA contact";
    let Some(contact) = &d.soa_rname else {
        let why = match d.soa_status {
            Status::NoData => format!("{} is not a zone apex: no SOA of its own", d.domain),
            s => format!("the SOA query answered {}", s.as_str()),
        };
        return item(ID, TITLE, Mark::Unknown, why);
    };
    if !contact.ends_with(&format!("@{}", d.domain)) {
        return item(
            ID,
            TITLE,
            Mark::Pass,
            format!("{contact} (at another domain: not asked at RCPT)"),
        );
    }
    let codes: Vec<u16> = hosts
        .iter()
        .flat_map(|h| &h.recipients)
        .filter(|r| r.role == Some("soa") && r.status == "ok")
        .filter_map(|r| r.code)
        .collect();
    match codes.iter().find(|c| **c >= 500) {
        Some(c) => item(
            ID,
            TITLE,
            Mark::Warn,
            format!("{contact}, refused at RCPT ({c})"),
        )
        .fix("make the SOA contact (RNAME) a mailbox someone reads"),
        None if !codes.is_empty() && codes.iter().all(|c| (200..300).contains(c)) => item(
            ID,
            TITLE,
            Mark::Pass,
            format!("{contact}, accepted at RCPT"),
        ),
        None => item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("{contact}, not answered at RCPT"),
        ),
    }
}

fn mta_sts(d: &DomainRow) -> Item {
    const ID: &str = "mta_sts";
    const TITLE: &str = "MTA-STS";
    let Some(m) = d.mta_sts.done() else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    match m.txt.status {
        RecordStatus::None => {
            return item(
                ID,
                TITLE,
                Mark::Warn,
                "no _mta-sts record: senders cannot require TLS to your MX".into(),
            )
            .fix(format!("publish a _mta-sts TXT record and a policy at https://mta-sts.{}/.well-known/mta-sts.txt (RFC 8461), in testing mode first", d.domain));
        }
        RecordStatus::TempError => {
            return item(ID, TITLE, Mark::Unknown, "the _mta-sts query failed".into());
        }
        RecordStatus::Invalid => {
            let (problem, fix) = first_fix(&m.txt.errors)
                .unwrap_or(("no record applies", "publish one v=STSv1 record"));
            return item(ID, TITLE, Mark::Fail, format!("invalid record: {problem}")).fix(fix);
        }
        RecordStatus::Valid => {}
    }
    let Some(policy) = &m.policy else {
        return item(
            ID,
            TITLE,
            Mark::Unknown,
            "record valid, policy not fetched".into(),
        );
    };
    if policy.status != mta_sts::StsPolicyStatus::Valid {
        let (problem, fix) = first_fix(&policy.errors).unwrap_or((
            policy.status.as_str(),
            "serve a valid policy file at https://mta-sts.DOMAIN/.well-known/mta-sts.txt",
        ));
        return item(
            ID,
            TITLE,
            Mark::Fail,
            format!("record valid, but the policy could not be used: {problem}"),
        )
        .fix(fix.replace("DOMAIN", &d.domain));
    }
    let mode = policy.mode.map_or("?", |m| m.as_str());
    let uncovered = policy.mx_uncovered.as_deref().unwrap_or_default();
    if !uncovered.is_empty() {
        return item(
            ID,
            TITLE,
            Mark::Fail,
            format!(
                "mode {mode}, but the policy does not cover {}",
                uncovered.join(", ")
            ),
        )
        .fix("add an mx: line for each MX host to the policy");
    }
    match policy.mode {
        Some(mta_sts::Mode::Enforce) => item(ID, TITLE, Mark::Pass, format!("mode {mode}")),
        _ => item(ID, TITLE, Mark::Warn, format!("mode {mode}: not enforced"))
            .fix("switch to mode: enforce once TLS-RPT reports show no failures"),
    }
}

fn tls_rpt(d: &DomainRow) -> Item {
    const ID: &str = "tls_rpt";
    const TITLE: &str = "TLS-RPT";
    let Some(t) = d.txt.done().map(|t| &t.tls_rpt) else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    match t.status {
        RecordStatus::Valid => item(
            ID,
            TITLE,
            Mark::Pass,
            format!("reports to {}", t.rua.join(", ")),
        ),
        RecordStatus::None => item(
            ID,
            TITLE,
            Mark::Warn,
            "no _smtp._tls record: you hear nothing of senders' TLS failures".into(),
        )
        .fix(
            "publish v=TLSRPTv1; rua=mailto:... at _smtp._tls.DOMAIN (RFC 8460)"
                .replace("DOMAIN", &d.domain),
        ),
        RecordStatus::Invalid => {
            let (problem, fix) =
                first_fix(&t.errors).unwrap_or(("invalid", "publish one v=TLSRPTv1 record"));
            item(ID, TITLE, Mark::Fail, format!("invalid: {problem}")).fix(fix)
        }
        RecordStatus::TempError => item(ID, TITLE, Mark::Unknown, "the query failed".into()),
    }
}

fn bimi(d: &DomainRow) -> Item {
    use crate::checks::bimi::BimiStatus;
    const ID: &str = "bimi";
    const TITLE: &str = "BIMI";
    let Some(b) = d.txt.done().map(|t| &t.bimi) else {
        return item(ID, TITLE, Mark::Unknown, "the domain probe failed".into());
    };
    match b.status {
        BimiStatus::None => item(ID, TITLE, Mark::Pass, "none published (optional)".into()),
        BimiStatus::Declined => item(ID, TITLE, Mark::Pass, "declined (empty record)".into()),
        BimiStatus::TempError => item(ID, TITLE, Mark::Unknown, "the query failed".into()),
        BimiStatus::Invalid => {
            let (problem, fix) =
                first_fix(&b.errors).unwrap_or(("invalid", "publish one v=BIMI1 record"));
            item(ID, TITLE, Mark::Fail, format!("invalid: {problem}")).fix(fix)
        }
        BimiStatus::Valid if b.dmarc_not_enforcing == Some(true) => item(
            ID,
            TITLE,
            Mark::Warn,
            "valid, but DMARC does not enforce (quarantine or reject), so no logo is shown".into(),
        )
        .fix("move DMARC to p=quarantine or p=reject"),
        BimiStatus::Valid => item(
            ID,
            TITLE,
            Mark::Pass,
            format!("logo {}", b.l.as_deref().unwrap_or("none")),
        ),
    }
}

fn dane(d: &DomainRow) -> Item {
    const ID: &str = "dane";
    const TITLE: &str = "DANE";
    let Some(x) = &d.dane else {
        return item(
            ID,
            TITLE,
            Mark::Unknown,
            "no exchange to ask for TLSA".into(),
        );
    };
    if x.status.is_failure() {
        return item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("a TLSA query answered {}", x.status.as_str()),
        );
    }
    if x.tlsa.is_empty() {
        return item(
            ID,
            TITLE,
            Mark::Pass,
            "no TLSA records (DANE not used; it needs DNSSEC)".into(),
        );
    }
    let tlsa = x.tlsa.join(", ");
    if x.authentic == Some(false) {
        return item(
            ID,
            TITLE,
            Mark::Warn,
            format!("TLSA {tlsa}, but not DNSSEC-validated: DANE does not apply"),
        )
        .fix("sign the zone with DNSSEC, or remove the TLSA records");
    }
    if x.all_mx == Some(false) {
        return item(
            ID,
            TITLE,
            Mark::Warn,
            format!("TLSA {tlsa}, but not at every MX"),
        )
        .fix("publish TLSA records for every MX host, or none");
    }
    item(ID, TITLE, Mark::Pass, format!("TLSA {tlsa}"))
}

fn starttls(hosts: &[CheckedHost]) -> Item {
    let mut p = PerHost::new();
    for h in hosts {
        let w = who(h);
        let Some(s) = h
            .row
            .smtp
            .as_ref()
            .filter(|_| h.row.host_status == HostStatus::Ok)
        else {
            p.add(Mark::Unknown, format!("{w}: no SMTP session"), None);
            continue;
        };
        if !matches!(s.status, SmtpStatus::Ok | SmtpStatus::TlsError) {
            p.add(
                Mark::Unknown,
                format!("{w}: no SMTP dialogue ({})", s.outcome.as_str()),
                None,
            );
            continue;
        }
        let name = h.exchange.as_deref().unwrap_or("the server's name");
        let no_tls = format!("offer STARTTLS with a certificate for {name} from a public CA");
        if let Some(v) = &s.tls_version {
            let cipher = s
                .tls_cipher
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            let old = matches!(v.as_str(), "TLSv1" | "TLSv1.0" | "TLSv1.1");
            match s.cert_valid {
                Some(false) => p.add(
                    Mark::Warn,
                    format!(
                        "{w}: {v}{cipher}, but the certificate does not verify: {}",
                        s.cert_error.as_deref().unwrap_or("invalid")
                    ),
                    Some(&format!("install a certificate for {name} from a public CA: MTA-STS and DANE senders refuse this one")),
                ),
                _ if old => p.add(
                    Mark::Warn,
                    format!("{w}: {v}, which senders are dropping"),
                    Some("enable TLS 1.2 and 1.3"),
                ),
                Some(true) => p.add(Mark::Pass, format!("{w}: {v}{cipher}, certificate valid"), None),
                None => p.add(Mark::Pass, format!("{w}: {v}{cipher}, certificate not checked"), None),
            }
        } else if let Some(e) = &s.starttls_error {
            p.add(
                Mark::Fail,
                format!("{w}: STARTTLS refused: {e}"),
                Some(&no_tls),
            );
        } else if s.starttls == Some(false) {
            p.add(
                Mark::Fail,
                format!("{w}: STARTTLS not offered"),
                Some(&no_tls),
            );
        } else if s.status == SmtpStatus::TlsError {
            let e = s
                .tls_error
                .as_deref()
                .or(s.error.as_deref())
                .unwrap_or("failed");
            p.add(
                Mark::Fail,
                format!("{w}: TLS handshake failed: {e}"),
                Some(&no_tls),
            );
        } else {
            p.add(
                Mark::Unknown,
                format!("{w}: STARTTLS offered, not tried"),
                None,
            );
        }
    }
    p.item(
        "starttls",
        "STARTTLS and certificates",
        "no address to connect to",
    )
}

/// The bulk-sender requirements, judged by the report's own rule ([`judge`]) from the same
/// columns it reads.
fn readiness(d: &DomainRow, hosts: &[CheckedHost]) -> Item {
    const ID: &str = "bulk_sender";
    const TITLE: &str = "Bulk-sender readiness (Gmail, Yahoo, Outlook.com)";
    let mut map = HostMap::default();
    for h in hosts {
        if let Ok(ip) = h.row.ip.parse::<IpAddr>() {
            map.insert_first(ip, host_facts(&h.row));
        }
    }
    let v = judge(&domain_facts(d), &map);
    if !v.failed.is_empty() {
        let (findings, fixes): (Vec<_>, Vec<_>) =
            v.failed.iter().map(|c| words::readiness_failed(c)).unzip();
        return item(
            ID,
            TITLE,
            Mark::Fail,
            format!("not ready: {}", findings.join("; ")),
        )
        .fix(fixes.join("; "));
    }
    if !v.unknown.is_empty() {
        let names: Vec<&str> = v
            .unknown
            .iter()
            .map(|c| words::readiness_unknown(c))
            .collect();
        return item(
            ID,
            TITLE,
            Mark::Unknown,
            format!("nothing failed, but could not judge {}", names.join(", ")),
        );
    }
    item(
        ID,
        TITLE,
        Mark::Pass,
        "SPF, DKIM, DMARC, reverse DNS and TLS at every MX meet the requirements that can be seen from outside".into(),
    )
}

/// The value of column `name` of a row (the writer's own column, as the report reads it).
fn cell<'a, R: Row>(row: &'a R, name: &str) -> Value<'a> {
    let c = R::columns()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    c.value(row)
}

fn str_cell<'a, R: Row>(row: &'a R, name: &str) -> Option<&'a str> {
    match cell(row, name) {
        Value::Str(s) => s,
        _ => None,
    }
}

fn bool_cell<R: Row>(row: &R, name: &str) -> Option<bool> {
    match cell(row, name) {
        Value::Bool(b) => b,
        _ => None,
    }
}

fn host_facts(h: &HostRow) -> HostFacts {
    HostFacts::from_cells(&HostCells {
        host_status: str_cell(h, "host_status"),
        fcrdns: bool_cell(h, "fcrdns"),
        smtp_status: str_cell(h, "smtp_status"),
        starttls: bool_cell(h, "starttls"),
        starttls_error: str_cell(h, "smtp_starttls_error"),
        tls_version: str_cell(h, "tls_version"),
    })
}

fn domain_facts(d: &DomainRow) -> DomainFacts<'_> {
    let keys = match cell(d, "dkim_keys") {
        Value::StructList(Some(items)) => key_facts(items),
        _ => Vec::new(),
    };
    DomainFacts {
        spf_status: str_cell(d, "spf_status"),
        spf_lookups: match cell(d, "spf_lookups") {
            Value::U32(n) => n,
            _ => None,
        },
        dkim_status: str_cell(d, "dkim_status"),
        dkim_keys: keys,
        dmarc_status: str_cell(d, "dmarc_status"),
        dmarc_effective_p: str_cell(d, "dmarc_effective_p"),
        mx_ips: match cell(d, "mx_ips") {
            Value::StrList(l) => l.map(|l| l.iter().map(String::as_str).collect()),
            _ => None,
        },
        mx_ips_status: str_cell(d, "mx_ips_status"),
        mx_exchanges: match cell(d, "mx") {
            Value::StructList(l) => l.map(|l| l.len()),
            _ => None,
        },
    }
}

fn key_facts<'a>(items: &'a dyn StructItems) -> Vec<KeyFacts<'a>> {
    let field = |name: &str| items.fields().iter().position(|f| f.name == name);
    let (ty, bits, usable) = (field("type"), field("bits"), field("usable"));
    (0..items.len())
        .map(|i| KeyFacts {
            key_type: ty.and_then(|j| match items.field(i, j) {
                Value::Str(s) => s,
                _ => None,
            }),
            bits: bits.and_then(|j| match items.field(i, j) {
                Value::U32(b) => b,
                _ => None,
            }),
            usable: usable
                .and_then(|j| match items.field(i, j) {
                    Value::Bool(b) => b,
                    _ => None,
                })
                .unwrap_or(false),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column the readiness facts are read from exists in the writer's tables, with the
    /// type read.
    #[test]
    fn readiness_reads_existing_columns() {
        let d = DomainRow::failed("x.example", "test", 0);
        let h = HostRow::failed("192.0.2.1".parse().unwrap(), "test", 0);
        let _ = domain_facts(&d);
        let _ = host_facts(&h);
        use crate::columns::ColType;
        let ty = |name: &str| {
            DomainRow::columns()
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.ty)
        };
        assert_eq!(ty("spf_lookups"), Some(ColType::UInt32));
        assert!(
            matches!(ty("dkim_keys"), Some(ColType::ListStruct(f)) if f.iter().any(|f| f.name == "type") && f.iter().any(|f| f.name == "usable") && f.iter().any(|f| f.name == "bits"))
        );
        assert!(matches!(ty("mx"), Some(ColType::ListStruct(_))));
        assert_eq!(ty("mx_ips"), Some(ColType::ListUtf8));
        for name in [
            "host_status",
            "fcrdns",
            "smtp_status",
            "starttls",
            "smtp_starttls_error",
            "tls_version",
        ] {
            assert!(HostRow::columns().iter().any(|c| c.name == name), "{name}");
        }
    }
}
