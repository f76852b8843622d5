//! From aggregates to what a reader sees: sections of tables and charts. Every share is written
//! with its denominator (`61.7% of 20,000`), and each section says what its figures rest on.

use super::ReportError;
use super::ReportOptions;
use super::aggregate::{Aggregates, Counter, NULL};
use super::charts::{self, Chart};
use super::read::Reading;
use crate::checks::dkim::DkimStatus;
use crate::checks::dmarc::{DmarcStatus, Policy};
use crate::checks::mta_sts::StsStatus;
use crate::checks::rpki::RouteValidity;
use crate::checks::spf::{MAX_DNS_TERMS, Qualifier, SpfStatus};
use crate::output::HostStatus;

/// One section of the report.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    /// What the figures rest on, in a sentence or two.
    pub basis: String,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    pub notes: Vec<String>,
}

/// A table: its caption names the denominator the share column uses.
#[derive(Debug, Clone)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `1234567` -> `1,234,567`.
pub fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The share in percent with one decimal; a share that is not zero (or not all) never reads as
/// 0.0% (or 100.0%). Without a denominator there is no share: `n/a`.
pub fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return "n/a".into();
    }
    let p = n as f64 * 100.0 / of as f64;
    let text = format!("{p:.1}%");
    if n > 0 && text == "0.0%" {
        "<0.1%".into()
    } else if n < of && text == "100.0%" {
        ">99.9%".into()
    } else {
        text
    }
}

/// `61.7% of 20,000`: a percentage always with its denominator.
pub fn share(n: u64, of: u64) -> String {
    format!("{} of {}", pct(n, of), num(of))
}

fn table(caption: impl Into<String>, head: &[&str], rows: Vec<Vec<String>>) -> Table {
    Table {
        caption: caption.into(),
        head: head.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

/// Label of a key: null cells read as what they mean in that column.
fn label(k: &str, null: &str) -> String {
    if k == NULL { null.into() } else { k.into() }
}

/// A counter as rows `key | count | share of its total`, largest first, ties by key.
fn breakdown(caption: &str, what: &str, c: &Counter, null: &str, top: Option<usize>) -> Table {
    breakdown_of(caption, what, c, c.total(), null, top)
}

fn breakdown_of(
    caption: &str,
    what: &str,
    c: &Counter,
    of: u64,
    null: &str,
    top: Option<usize>,
) -> Table {
    let rows = c
        .top(top.unwrap_or(usize::MAX))
        .into_iter()
        .map(|(k, n)| vec![label(k, null), num(n), share(n, of)])
        .collect();
    table(caption, &[what, "count", "share"], rows)
}

/// Rows `figure | count | share`.
fn figures(caption: &str, rows: &[(&str, u64, u64)]) -> Table {
    table(
        caption,
        &["figure", "count", "share"],
        rows.iter()
            .map(|(l, n, of)| vec![l.to_string(), num(*n), share(*n, *of)])
            .collect(),
    )
}

/// The counter without its null key, for tables whose denominator leaves nulls out.
fn without_null(c: &Counter) -> Counter {
    let mut c = c.clone();
    c.0.remove(NULL);
    c
}

fn sum_over(m: &std::collections::BTreeMap<u32, u64>, pred: impl Fn(u32) -> bool) -> u64 {
    m.iter().filter(|(k, _)| pred(**k)).map(|(_, v)| v).sum()
}

/// Every section, in reading order.
pub fn sections(
    a: &Aggregates,
    reading: &Reading,
    opts: &ReportOptions,
) -> Result<Vec<Section>, ReportError> {
    Ok(vec![
        headline(a),
        spf(a, opts)?,
        dmarc(a)?,
        dkim(a, opts),
        policies(a),
        mx(a, opts),
        dangling(a),
        hosts(a, reading, opts),
        smtp(a)?,
        readiness(a),
    ])
}

fn headline(a: &Aggregates) -> Section {
    let d = &a.domains;
    let h = &a.hosts;
    let n = d.rows;
    let enforcing = d.dmarc_effective_p.get(Policy::Quarantine.as_str())
        + d.dmarc_effective_p.get(Policy::Reject.as_str());
    let rows = vec![
        (
            "SPF record valid",
            d.spf_status.get(SpfStatus::Valid.as_str()),
            n,
        ),
        (
            "DMARC policy applies (any p)",
            d.dmarc_effective_p.known(),
            n,
        ),
        ("DMARC at enforcement (quarantine or reject)", enforcing, n),
        ("DKIM key under a probed selector", d.dkim_with_selector, n),
        (
            "MTA-STS record valid",
            d.mta_sts_status.get(StsStatus::Valid.as_str()),
            n,
        ),
        ("null MX (RFC 7505)", d.mx_null.get("true"), n),
        (
            "bulk-sender ready (every requirement met)",
            a.readiness.ready.get("true"),
            n,
        ),
        (
            "MX hosts with FCrDNS (of checked hosts)",
            h.fcrdns.get("true"),
            h.host_status.get(HostStatus::Ok.as_str()),
        ),
        (
            "SMTP hosts offering STARTTLS (of sessions reaching EHLO)",
            h.starttls.get("true"),
            h.starttls.known(),
        ),
        (
            "open relays (of hosts with a relay verdict)",
            h.open_relay.get("true"),
            h.open_relay.known(),
        ),
    ];
    Section {
        id: "headline",
        title: "Key figures",
        basis: format!(
            "{} domains and {} distinct host addresses. Domain shares are of all domains scanned \
             (a DNS failure counts as not having the record); host shares say their own \
             denominator.",
            num(n),
            num(h.rows)
        ),
        tables: vec![figures("Headline figures", &rows)],
        charts: vec![],
        notes: vec![],
    }
}

fn spf(a: &Aggregates, opts: &ReportOptions) -> Result<Section, ReportError> {
    let d = &a.domains;
    let valid = d.spf_status.get(SpfStatus::Valid.as_str());
    let permerror = d.spf_status.get(SpfStatus::PermError.as_str());
    let counted: u64 = d.spf_lookups.values().sum();
    let over = sum_over(&d.spf_lookups, |k| k > MAX_DNS_TERMS);
    let void_counted: u64 = d.spf_void_lookups.values().sum();
    let void_over = sum_over(&d.spf_void_lookups, |k| k > 2);
    let permissive =
        d.spf_all.get(Qualifier::Pass.as_str()) + d.spf_all.get(Qualifier::Neutral.as_str());
    let mut tables = vec![
        breakdown(
            &format!("spf_status, of {} domains", num(d.rows)),
            "status",
            &d.spf_status,
            "null",
            None,
        ),
        figures(
            "Limits and permissive records",
            &[
                (
                    "over the 10-lookup limit (spf_lookups > 10, of records walked)",
                    over,
                    counted,
                ),
                (
                    "over the void-lookup limit (spf_void_lookups > 2, of records walked)",
                    void_over,
                    void_counted,
                ),
                (
                    "permissive all (+all or ?all, of valid records)",
                    permissive,
                    valid,
                ),
            ],
        ),
        breakdown(
            &format!(
                "permerror causes (spf_errors code), of {} permerror domains",
                num(permerror)
            ),
            "code",
            &d.spf_permerror_codes,
            "null",
            None,
        ),
        breakdown_of(
            &format!("spf_all of the {} valid records", num(valid)),
            "qualifier",
            &d.spf_all,
            valid,
            "no all (default neutral)",
            None,
        ),
    ];
    // Power-of-two buckets grouped at the /24, /16 and /8 bounds.
    let groups: [(&str, std::ops::RangeInclusive<u32>); 6] = [
        ("0", 0..=0),
        ("1 - 255 (under a /24)", 1..=8),
        ("256 - 65,535 (/24 up to a /16)", 9..=16),
        ("65,536 - 16,777,215 (/16 up to a /8)", 17..=24),
        ("16,777,216 - 4,294,967,295 (a /8 or more)", 25..=32),
        ("4,294,967,296 (+all: every address)", 33..=33),
    ];
    let known: u64 = d.spf_ipv4_buckets.values().sum();
    let mut rows: Vec<Vec<String>> = groups
        .iter()
        .map(|(l, r)| {
            let n = sum_over(&d.spf_ipv4_buckets, |k| r.contains(&k));
            vec![l.to_string(), num(n), share(n, valid)]
        })
        .collect();
    rows.push(vec![
        "not countable (exists, ptr, macros, a failed lookup)".into(),
        num(d.spf_ipv4_unknown),
        share(d.spf_ipv4_unknown, valid),
    ]);
    tables.push(table(
        format!(
            "Authorised IPv4 addresses (spf_ipv4_authorized), of {} valid records",
            num(valid)
        ),
        &["addresses", "records", "share"],
        rows,
    ));
    tables.push(breakdown_of(
        &format!(
            "Top include providers (spf_providers), of {} domains",
            num(d.rows)
        ),
        "provider",
        &d.spf_providers,
        d.rows,
        "null",
        Some(opts.top),
    ));
    tables.push(breakdown_of(
        &format!("Flags (spf_flags), of {} domains", num(d.rows)),
        "flag",
        &d.spf_flags,
        d.rows,
        "null",
        None,
    ));

    let max = d.spf_lookups.keys().copied().max().unwrap_or(0).min(20);
    let labels: Vec<String> = (0..=max)
        .map(|k| if k == 20 { "20+".into() } else { k.to_string() })
        .collect();
    let values: Vec<u64> = (0..=max)
        .map(|k| {
            if k == 20 {
                sum_over(&d.spf_lookups, |x| x >= 20)
            } else {
                d.spf_lookups.get(&k).copied().unwrap_or(0)
            }
        })
        .collect();
    let lookups = charts::bars(
        "spf-lookups",
        "SPF DNS lookups per record tree",
        "spf_lookups (limit: 10)",
        "domains",
        &labels,
        &values,
        format!(
            "{} of the {} trees walked need more than 10 lookups.",
            pct(over, counted),
            num(counted)
        ),
    )?;
    let mut points = Vec::new();
    let mut cum = d.spf_ipv4_buckets.get(&0).copied().unwrap_or(0);
    for b in 1..=33u32 {
        cum += d.spf_ipv4_buckets.get(&b).copied().unwrap_or(0);
        let x = if b == 33 {
            2f64.powi(32)
        } else {
            2f64.powi(b as i32) - 1.0
        };
        if known > 0 {
            points.push((x.max(1.0), cum as f64 * 100.0 / known as f64));
        }
    }
    let cdf = charts::cdf_log(
        "spf-ipv4-cdf",
        "Authorised IPv4 space (CDF)",
        "addresses authorised, at most (log scale)",
        "% of countable valid records",
        &points,
        format!(
            "Share of the {} valid records with a countable space that authorise at most x \
             addresses.",
            num(known)
        ),
    )?;
    Ok(Section {
        id: "spf",
        title: "SPF",
        basis: format!(
            "{} domains: {} valid, {} permerror, {} temperror (a DNS failure in the tree: no \
             verdict), {} without a record.",
            num(d.rows),
            num(valid),
            num(permerror),
            num(d.spf_status.get(SpfStatus::TempError.as_str())),
            num(d.spf_status.get(SpfStatus::None.as_str()))
        ),
        tables,
        charts: vec![lookups, cdf],
        notes: vec![],
    })
}

fn dmarc(a: &Aggregates) -> Result<Section, ReportError> {
    let d = &a.domains;
    let valid = d.dmarc_status.get(DmarcStatus::Valid.as_str());
    let found: u64 = d.dmarc_source.total();
    let order = [
        Policy::None.as_str(),
        Policy::Quarantine.as_str(),
        Policy::Reject.as_str(),
        NULL,
    ];
    let labels: Vec<String> = order.iter().map(|k| label(k, "no valid record")).collect();
    let values: Vec<u64> = order.iter().map(|k| d.dmarc_p.get(k)).collect();
    let chart = charts::bars(
        "dmarc-p",
        "DMARC policy (dmarc_p)",
        "policy",
        "domains",
        &labels,
        &values,
        format!(
            "Of {} domains: none {}, quarantine {}, reject {}, no valid record {}.",
            num(d.rows),
            pct(values[0], d.rows),
            pct(values[1], d.rows),
            pct(values[2], d.rows),
            pct(values[3], d.rows)
        ),
    )?;
    Ok(Section {
        id: "dmarc",
        title: "DMARC",
        basis: format!(
            "{} domains: {} valid records, {} invalid, {} temperror (a `_dmarc` query failed), \
             {} none.",
            num(d.rows),
            num(valid),
            num(d.dmarc_status.get(DmarcStatus::Invalid.as_str())),
            num(d.dmarc_status.get(DmarcStatus::TempError.as_str())),
            num(d.dmarc_status.get(DmarcStatus::None.as_str()))
        ),
        tables: vec![
            breakdown(
                &format!("dmarc_status, of {} domains", num(d.rows)),
                "status",
                &d.dmarc_status,
                "null",
                None,
            ),
            breakdown(
                &format!("Published policy (dmarc_p), of {} domains", num(d.rows)),
                "p",
                &d.dmarc_p,
                "no valid record",
                None,
            ),
            breakdown(
                &format!(
                    "Policy that applies (dmarc_effective_p: organizational fallback, invalid with rua acts as none), of {} domains",
                    num(d.rows)
                ),
                "policy",
                &d.dmarc_effective_p,
                "no policy applies",
                None,
            ),
            breakdown(
                &format!(
                    "Where the record was found (dmarc_source), of {} records found",
                    num(found)
                ),
                "source",
                &d.dmarc_source,
                "null",
                None,
            ),
            breakdown_of(
                &format!("pct of the {} valid records", num(valid)),
                "pct",
                &d.dmarc_pct,
                valid,
                "absent (100 applies)",
                None,
            ),
            figures(
                "Discovery methods (one scan computes both: dmarc_methods_differ)",
                &[(
                    "domains RFC 9989's Tree Walk and RFC 7489's PSL judge differently (effective policy or policy domain)",
                    d.dmarc_methods_differ.get("true"),
                    d.dmarc_methods_differ.known(),
                )],
            ),
            figures(
                "Reporting",
                &[
                    ("valid records with rua", d.dmarc_rua, valid),
                    (
                        "records with an external report destination",
                        d.dmarc_external,
                        d.rows,
                    ),
                    (
                        "... of which some destination does not authorise the reports (RFC 7489 7.1)",
                        d.dmarc_external_unauthorized,
                        d.dmarc_external,
                    ),
                ],
            ),
            breakdown_of(
                &format!("Problems (dmarc_errors code), of {} domains", num(d.rows)),
                "code",
                &d.dmarc_errors,
                d.rows,
                "null",
                None,
            ),
        ],
        charts: vec![chart],
        notes: vec![],
    })
}

fn dkim(a: &Aggregates, opts: &ReportOptions) -> Section {
    let d = &a.domains;
    let keys = d.dkim_keys.total();
    Section {
        id: "dkim",
        title: "DKIM",
        basis: format!(
            "Only the probed selectors can be seen (DKIM keys are not enumerable): {} domains, \
             {} with a key found, {} temperror.",
            num(d.rows),
            num(d.dkim_with_selector),
            num(d.dkim_status.get(DkimStatus::TempError.as_str()))
        ),
        tables: vec![
            breakdown(
                &format!("dkim_status, of {} domains", num(d.rows)),
                "status",
                &d.dkim_status,
                "null",
                None,
            ),
            figures(
                "Keys",
                &[
                    (
                        "domains with at least one selector found",
                        d.dkim_with_selector,
                        d.rows,
                    ),
                    (
                        "RSA keys under 1024 bits (of key records)",
                        d.dkim_weak_keys,
                        keys,
                    ),
                    (
                        "domains with such a weak key (of domains with a selector)",
                        d.dkim_weak_domains,
                        d.dkim_with_selector,
                    ),
                ],
            ),
            breakdown_of(
                &format!(
                    "Selectors found, of {} domains with a selector",
                    num(d.dkim_with_selector)
                ),
                "selector",
                &d.dkim_selectors,
                d.dkim_with_selector,
                "null",
                Some(opts.top),
            ),
            breakdown(
                &format!(
                    "Key type and size (dkim_keys), of {} key records",
                    num(keys)
                ),
                "type bits",
                &d.dkim_keys,
                "null",
                None,
            ),
            breakdown_of(
                &format!("Problems (dkim_errors code), of {} domains", num(d.rows)),
                "code",
                &d.dkim_errors,
                d.rows,
                "null",
                None,
            ),
        ],
        charts: vec![],
        notes: vec![],
    }
}

fn policies(a: &Aggregates) -> Section {
    let d = &a.domains;
    let n = d.rows;
    let c = |t: &str, x: &Counter| {
        breakdown(
            &format!("{t}, of {} domains", num(n)),
            "status",
            x,
            "null",
            None,
        )
    };
    let dane_asked = d.dane_status.known();
    let mut tables = vec![
        c("mta_sts_status", &d.mta_sts_status),
        c("tls_rpt_status", &d.tls_rpt_status),
        c("bimi_status", &d.bimi_status),
        breakdown(
            &format!(
                "dane_status (TLSA queries at the exchanges), of {} domains with exchanges",
                num(dane_asked)
            ),
            "status",
            &without_null(&d.dane_status),
            "null",
            None,
        ),
        figures(
            "DANE",
            &[
                ("domains with TLSA records", d.dane_tlsa, dane_asked),
                (
                    "every exchange publishes TLSA (of domains whose TLSA queries were answered)",
                    d.dane_all_mx.get("true"),
                    d.dane_all_mx.known(),
                ),
            ],
        ),
    ];
    let fetched = d.mta_sts_policy_status.total();
    if fetched > 0 {
        tables.push(breakdown(
            &format!(
                "MTA-STS policy fetch (mta_sts_policy_status), of {} fetched",
                num(fetched)
            ),
            "status",
            &d.mta_sts_policy_status,
            "null",
            None,
        ));
        tables.push(breakdown(
            &format!("MTA-STS mode, of {} policies", num(d.mta_sts_mode.total())),
            "mode",
            &d.mta_sts_mode,
            "null",
            None,
        ));
    }
    Section {
        id: "policies",
        title: "MTA-STS, TLS-RPT, BIMI, DANE",
        basis: format!(
            "{} domains; temperror means the query failed (no verdict). MTA-STS policies are \
             only fetched with `--mta-sts-fetch` ({} fetched).",
            num(n),
            num(fetched)
        ),
        tables,
        charts: vec![],
        notes: vec![],
    }
}

fn mx(a: &Aggregates, opts: &ReportOptions) -> Section {
    let d = &a.domains;
    Section {
        id: "mx",
        title: "MX",
        basis: format!(
            "{} domains, {} with at least one exchange; null MX is counted among the domains \
             whose MX query was answered ({}).",
            num(d.rows),
            num(d.with_mx),
            num(d.mx_null.known())
        ),
        tables: vec![
            breakdown(
                &format!("mx_status, of {} domains", num(d.rows)),
                "status",
                &d.mx_status,
                "null",
                None,
            ),
            figures(
                "Null MX and IPv6",
                &[
                    (
                        "null MX (mx_null), of domains whose MX query was answered",
                        d.mx_null.get("true"),
                        d.mx_null.known(),
                    ),
                    (
                        "every exchange has an AAAA record (mx_ipv6), of domains with exchanges whose AAAA queries were answered",
                        d.mx_ipv6.get("true"),
                        d.mx_ipv6.known(),
                    ),
                ],
            ),
            breakdown(
                &format!(
                    "mx_ips_status (the exchanges' A/AAAA queries), of {} domains",
                    num(d.rows)
                ),
                "status",
                &d.mx_ips_status,
                "no exchanges",
                None,
            ),
            breakdown_of(
                &format!("MX problems (mx_errors code), of {} domains", num(d.rows)),
                "code",
                &d.mx_errors,
                d.rows,
                "null",
                None,
            ),
            breakdown_of(
                &format!(
                    "Top MX operators (registrable domain of the exchanges, Public Suffix List), of {} domains with exchanges",
                    num(d.with_mx)
                ),
                "operator",
                &d.mx_operators,
                d.with_mx,
                "null",
                Some(opts.top),
            ),
        ],
        charts: vec![],
        notes: vec![],
    }
}

/// Names the mail set-up depends on whose organizational domain does not exist: registrable by
/// anyone (`dangling`).
fn dangling(a: &Aggregates) -> Section {
    let d = &a.domains;
    // Domains whose set-up was asked: a null status is a domain that was not (NXDOMAIN, its MX
    // query failed).
    let asked = d.dangling_status.known();
    Section {
        id: "dangling",
        title: "Dangling names",
        basis: format!(
            "{} domains whose mail set-up was asked (not NXDOMAIN, MX answered); a domain counts \
             once per kind. Only an NXDOMAIN for the name's organizational domain counts: a failed \
             query is in dangling_status, never taken for one.",
            num(asked)
        ),
        tables: vec![
            figures(
                "Dangling names",
                &[(
                    "domains with at least one dangling name",
                    d.dangling_domains,
                    asked,
                )],
            ),
            breakdown_of(
                &format!(
                    "Domains per kind of dangling name (dangling), of {} domains",
                    num(asked)
                ),
                "kind",
                &d.dangling_kinds,
                asked,
                "null",
                None,
            ),
            breakdown(
                &format!(
                    "dangling_status (the organizational domains' NS queries), of {} domains",
                    num(asked)
                ),
                "status",
                &without_null(&d.dangling_status),
                "null",
                None,
            ),
        ],
        charts: vec![],
        notes: vec![],
    }
}

fn hosts(a: &Aggregates, reading: &Reading, opts: &ReportOptions) -> Section {
    let h = &a.hosts;
    let checked = h.host_status.get(HostStatus::Ok.as_str());
    let mut zones: Vec<String> = reading.dnsbl_zones.clone();
    for z in h.dnsbl_listed.0.keys().chain(h.dnsbl_errors.0.keys()) {
        if !zones.contains(z) {
            zones.push(z.clone());
        }
    }
    zones.sort();
    let dnsbl = table(
        format!(
            "DNSBL listings per zone, of {} checked hosts (errors are never counted as listings)",
            num(checked)
        ),
        &[
            "zone",
            "listed",
            "listed share",
            "errors (dnsbl_errors)",
            "error share",
        ],
        zones
            .iter()
            .map(|z| {
                let (l, e) = (h.dnsbl_listed.get(z), h.dnsbl_errors.get(z));
                vec![
                    z.clone(),
                    num(l),
                    share(l, checked),
                    num(e),
                    share(e, checked),
                ]
            })
            .collect(),
    );
    let mut by_hosts: Vec<(&u32, &super::aggregate::AsAgg)> = h.asn.iter().collect();
    by_hosts.sort_by(|x, y| y.1.hosts.cmp(&x.1.hosts).then(x.0.cmp(y.0)));
    let as_name = as_label;
    let zone_cells = |x: &super::aggregate::AsAgg| -> String {
        x.listed
            .top(usize::MAX)
            .iter()
            .map(|(z, n)| format!("{z}: {}", share(*n, x.hosts)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let top_hosts = table(
        format!(
            "Origin ASes by addresses scanned (top {}), of {} checked hosts ({} without a known AS)",
            opts.top,
            num(checked),
            num(h.asn_unknown)
        ),
        &["AS", "addresses", "share", "listed (any zone)", "per zone"],
        by_hosts
            .iter()
            .take(opts.top)
            .map(|(n, x)| {
                vec![
                    as_name(n, x),
                    num(x.hosts),
                    share(x.hosts, checked),
                    share(x.listed_any, x.hosts),
                    zone_cells(x),
                ]
            })
            .collect(),
    );
    let rpki = rpki_per_as(h, &by_hosts, opts.top);
    let mut by_share: Vec<(&u32, &super::aggregate::AsAgg)> = h
        .asn
        .iter()
        .filter(|(_, x)| x.hosts >= opts.min_as_hosts && x.listed_any > 0)
        .collect();
    // Exact comparison of listed/hosts fractions by cross-multiplication: no float ties.
    by_share.sort_by(|x, y| {
        (y.1.listed_any as u128 * x.1.hosts as u128)
            .cmp(&(x.1.listed_any as u128 * y.1.hosts as u128))
            .then(y.1.hosts.cmp(&x.1.hosts))
            .then(x.0.cmp(y.0))
    });
    let top_share = table(
        format!(
            "Origin ASes by listing share (at least {} addresses scanned, top {})",
            opts.min_as_hosts, opts.top
        ),
        &["AS", "addresses", "listed (any zone)", "per zone"],
        by_share
            .iter()
            .take(opts.top)
            .map(|(n, x)| {
                vec![
                    as_name(n, x),
                    num(x.hosts),
                    share(x.listed_any, x.hosts),
                    zone_cells(x),
                ]
            })
            .collect(),
    );
    Section {
        id: "hosts",
        title: "Hosts: reverse DNS, DNSBL, ASN",
        basis: format!(
            "{} distinct addresses ({} checked; {} rows of an address another shard also \
             probed were counted once).",
            num(h.rows),
            num(checked),
            num(reading.host_duplicates)
        ),
        tables: vec![
            breakdown(
                &format!("host_status, of {} addresses", num(h.rows)),
                "status",
                &h.host_status,
                "null",
                None,
            ),
            breakdown(
                &format!("ptr_status, of {} checked hosts", num(checked)),
                "status",
                &h.ptr_status,
                "null",
                None,
            ),
            breakdown(
                &format!("FCrDNS (fcrdns), of {} checked hosts", num(checked)),
                "fcrdns",
                &h.fcrdns,
                "unknown (a lookup failed)",
                None,
            ),
            figures(
                "DNSBL",
                &[("listed in at least one zone", h.dnsbl_listed_any, checked)],
            ),
            dnsbl,
            top_hosts,
            top_share,
        ]
        .into_iter()
        .chain(rpki)
        .collect(),
        charts: vec![],
        notes: if zones.is_empty() {
            vec!["No DNSBL zone was queried (`--dnsbl`).".into()]
        } else {
            vec![]
        },
    }
}

/// RPKI route origin validation (`rpki_status`): the whole, and per origin AS in the order of
/// the AS table; nothing when no host was judged (a scan without `--rpki-vrps`).
fn rpki_per_as(
    h: &super::aggregate::HostAgg,
    by_hosts: &[(&u32, &super::aggregate::AsAgg)],
    top: usize,
) -> Vec<Table> {
    let judged = h.rpki_status.total() - h.rpki_status.get(NULL);
    if judged == 0 {
        return Vec::new();
    }
    let states = RouteValidity::ALL.map(RouteValidity::as_str);
    let mut head = vec!["AS", "judged"];
    head.extend(states);
    head.push("invalid share");
    let rows = by_hosts
        .iter()
        .filter(|(_, x)| x.rpki.total() > 0)
        .take(top)
        .map(|(n, x)| {
            let of = x.rpki.total();
            let mut row = vec![as_label(n, x), num(of)];
            row.extend(states.iter().map(|k| num(x.rpki.get(k))));
            row.push(share(x.rpki.get(RouteValidity::Invalid.as_str()), of));
            row
        })
        .collect();
    vec![
        breakdown(
            &format!(
                "RPKI route origin validation (rpki_status, RFC 6811), of {} checked hosts ({} with a known route judged)",
                num(h.rpki_status.total()),
                num(judged)
            ),
            "rpki_status",
            &h.rpki_status,
            "not judged (no known route)",
            None,
        ),
        table(
            format!("RPKI status per origin AS (top {top} by addresses scanned)"),
            &head,
            rows,
        ),
    ]
}

/// `AS64500 NAME`, or `AS64500` without a name.
fn as_label(n: &u32, x: &super::aggregate::AsAgg) -> String {
    match &x.name {
        Some(name) => format!("AS{n} {name}"),
        None => format!("AS{n}"),
    }
}

fn smtp(a: &Aggregates) -> Result<Section, ReportError> {
    let h = &a.hosts;
    let sessions = h.starttls.total();
    let offered = h.starttls.get("true");
    let tls_order = ["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"];
    let mut tls_labels: Vec<String> = tls_order.iter().map(|s| s.to_string()).collect();
    let mut tls_values: Vec<u64> = tls_order.iter().map(|k| h.tls_version.get(k)).collect();
    for (k, n) in &h.tls_version.0 {
        if !tls_order.contains(&k.as_str()) && k != NULL {
            tls_labels.push(k.clone());
            tls_values.push(*n);
        }
    }
    tls_labels.push("handshake failed".into());
    tls_values.push(h.tls_version.get(NULL));
    let mut charts = Vec::new();
    if sessions > 0 {
        charts.push(charts::bars(
            "starttls",
            "STARTTLS (hosts with an SMTP dialogue)",
            "starttls",
            "hosts",
            &[
                "offered".into(),
                "not offered".into(),
                "session ended before EHLO".into(),
            ],
            &[offered, h.starttls.get("false"), h.starttls.get(NULL)],
            format!(
                "STARTTLS offered by {} hosts with an SMTP dialogue.",
                share(offered, sessions)
            ),
        )?);
        charts.push(charts::bars(
            "tls-version",
            "Negotiated TLS version (of hosts offering STARTTLS)",
            "tls_version",
            "hosts",
            &tls_labels,
            &tls_values,
            format!(
                "TLS 1.3 negotiated by {} hosts offering STARTTLS.",
                share(h.tls_version.get("TLSv1.3"), offered)
            ),
        )?);
    }
    let relay_known = h.open_relay.known();
    Ok(Section {
        id: "smtp",
        title: "SMTP: STARTTLS, TLS, open relays",
        basis: if h.smtp_status.known() == 0 {
            "No SMTP results: the scans ran without `--smtp`.".into()
        } else {
            format!(
                "{} addresses an SMTP connection was attempted to (smtp_status neither null nor skipped), {} with a dialogue (smtp_status ok or tls-error): the STARTTLS, TLS and relay figures are of those.",
                num(h.smtp_outcome.total()),
                num(sessions)
            )
        },
        tables: vec![
            breakdown(
                &format!("smtp_status, of {} addresses", num(h.rows)),
                "status",
                &h.smtp_status,
                "not probed (no --smtp)",
                None,
            ),
            breakdown(
                &format!(
                    "smtp_outcome, of {} connections attempted",
                    num(h.smtp_outcome.total())
                ),
                "outcome",
                &h.smtp_outcome,
                "null",
                None,
            ),
            breakdown(
                &format!(
                    "STARTTLS (starttls), of {} hosts with a dialogue",
                    num(sessions)
                ),
                "starttls",
                &h.starttls,
                "session ended before EHLO",
                None,
            ),
            breakdown(
                &format!("tls_version, of {} hosts offering STARTTLS", num(offered)),
                "version",
                &h.tls_version,
                "handshake failed",
                None,
            ),
            breakdown(
                &format!(
                    "Certificate chain valid for the MX name (tls_cert_valid), of {} handshakes",
                    num(h.tls_cert_valid.total())
                ),
                "tls_cert_valid",
                &h.tls_cert_valid,
                "not verified (no certificate or name)",
                None,
            ),
            figures(
                "Relaying and catch-all",
                &[
                    (
                        "open_relay (of hosts with a verdict)",
                        h.open_relay.get("true"),
                        relay_known,
                    ),
                    (
                        "open_relay_direct: relaying to the relay domain itself (of hosts with a verdict)",
                        h.open_relay_direct.get("true"),
                        h.open_relay_direct.known(),
                    ),
                    (
                        "accepts_any_recipient: catch-all (of hosts tested)",
                        h.accepts_any_recipient.get("true"),
                        h.accepts_any_recipient.known(),
                    ),
                    (
                        "dialogues without a relay verdict (4xx, interrupted, TLS required and failing)",
                        h.open_relay.get(NULL),
                        sessions,
                    ),
                ],
            ),
        ],
        charts,
        notes: vec![],
    })
}

fn readiness(a: &Aggregates) -> Section {
    let r = &a.readiness;
    let n = r.ready.total();
    Section {
        id: "readiness",
        title: "Bulk-sender readiness",
        basis: format!(
            "{} domains judged against the requirements of Gmail and Yahoo (February 2024) and \
             Outlook.com (May 2025) that can be checked from outside. A domain is ready when it \
             meets all of them, not ready as soon as one fails, unknown when none failed but one \
             could not be judged. Per domain: readiness/part-00000.parquet and readiness.csv.",
            num(n)
        ),
        tables: vec![
            breakdown(
                &format!("ready_bulk_sender, of {} domains", num(n)),
                "verdict",
                &r.ready,
                "unknown",
                None,
            ),
            breakdown_of(
                &format!("Failed requirements (ready_failed), of {} domains", num(n)),
                "requirement",
                &r.failed,
                n,
                "null",
                None,
            ),
            breakdown_of(
                &format!("Requirements not judged (ready_unknown), of {} domains", num(n)),
                "requirement",
                &r.unknown,
                n,
                "null",
                None,
            ),
        ],
        charts: vec![],
        notes: vec![
            "Checked: SPF valid within the 10-lookup limit; a usable RSA DKIM key of at least 1024 bits under a probed selector; a DMARC policy of at least p=none (organizational fallback counts); forward-confirmed reverse DNS and STARTTLS on every MX address, standing in for the sending hosts.".into(),
            "Not visible from outside: one-click unsubscribe (RFC 8058) and the unsubscribe link, the spam rate reported in Postmaster Tools (under 0.3%), SPF/DKIM alignment with the From domain in real mail, the actual sending IPs and their reverse DNS, TLS on the sending connection, and message format (RFC 5322).".into(),
            "Sources: Google, \"Email sender guidelines\"; Yahoo Sender Hub, \"Sender requirements & recommendations\"; Microsoft, Outlook.com requirements for high-volume senders (May 2025).".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_state_their_denominator() {
        let cases = [
            (0, 0, "n/a of 0"),
            (0, 10, "0.0% of 10"),
            (1, 3, "33.3% of 3"),
            (2, 3, "66.7% of 3"),
            (1, 10_000, "<0.1% of 10,000"),
            (9_999, 10_000, ">99.9% of 10,000"),
            (10_000, 10_000, "100.0% of 10,000"),
            (12_345, 20_000, "61.7% of 20,000"),
            (5, 1_000, "0.5% of 1,000"),
        ];
        for (n, of, want) in cases {
            assert_eq!(share(n, of), want, "{n}/{of}");
        }
    }

    #[test]
    fn thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ];
        for (n, want) in cases {
            assert_eq!(num(n), want);
        }
    }

    #[test]
    fn breakdowns_are_ordered_and_name_nulls() {
        let mut c = Counter::default();
        c.add_n("valid", 3);
        c.add_n(NULL, 3);
        c.add_n("none", 1);
        let t = breakdown("x", "status", &c, "no record", None);
        let firsts: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        // Ties by key: "null" sorts before "valid"; it reads as its meaning.
        assert_eq!(firsts, ["no record", "valid", "none"]);
        assert_eq!(t.rows[2][2], "14.3% of 7");
    }

    #[test]
    fn every_section_renders_from_empty_aggregates() {
        let opts = ReportOptions::new(vec![]);
        let s = sections(&Aggregates::default(), &Reading::default(), &opts).unwrap();
        assert!(s.len() >= 9);
        for sec in &s {
            for t in &sec.tables {
                for r in &t.rows {
                    assert_eq!(r.len(), t.head.len(), "{} {}", sec.id, t.caption);
                }
            }
        }
    }

    #[test]
    fn dangling_shares_are_of_the_domains_asked_not_of_every_row() {
        let mut a = Aggregates::default();
        let d = &mut a.domains;
        d.dangling_status.add_n("ok", 3);
        d.dangling_status.add_n("timeout", 1);
        d.dangling_status.add_n(NULL, 6);
        d.dangling_domains = 1;
        d.dangling_kinds.add("spf-include");
        let s = dangling(&a);
        assert!(s.basis.starts_with("4 domains"), "{}", s.basis);
        assert!(
            s.tables[0].rows[0]
                .iter()
                .any(|c| c.contains("of 4") || c == "4"),
            "{:?}",
            s.tables[0].rows
        );
        let statuses: Vec<&str> = s.tables[2].rows.iter().map(|r| r[0].as_str()).collect();
        assert!(!statuses.iter().any(|k| k.contains("null")), "{statuses:?}");
    }

    #[test]
    fn rpki_status_per_as_in_the_as_tables_order() {
        use super::super::aggregate::AsAgg;
        let mut a = Aggregates::default();
        let h = &mut a.hosts;
        assert!(
            rpki_per_as(h, &[], 10).is_empty(),
            "no --rpki-vrps: no table"
        );
        let agg = |name: &str, hosts: u64, rpki: &[(&str, u64)]| {
            let mut x = AsAgg {
                hosts,
                name: Some(name.into()),
                ..AsAgg::default()
            };
            for (k, n) in rpki {
                x.rpki.add_n(k, *n);
            }
            x
        };
        let (big, small, none) = (
            agg("BIG", 5, &[("valid", 3), ("invalid", 1)]),
            agg("SMALL", 2, &[("not-found", 2)]),
            agg("UNJUDGED", 1, &[]),
        );
        h.rpki_status.add_n("valid", 3);
        h.rpki_status.add_n("invalid", 1);
        h.rpki_status.add_n("not-found", 2);
        h.rpki_status.add_n(NULL, 2);
        let t = rpki_per_as(h, &[(&1, &big), (&3, &none), (&2, &small)], 10);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].caption,
            "RPKI route origin validation (rpki_status, RFC 6811), of 8 checked hosts (6 with a known route judged)"
        );
        assert_eq!(
            t[1].head,
            [
                "AS",
                "judged",
                "valid",
                "invalid",
                "not-found",
                "invalid share"
            ]
        );
        assert_eq!(
            t[1].rows,
            [
                ["AS1 BIG", "4", "3", "1", "0", "25.0% of 4"],
                ["AS2 SMALL", "2", "0", "0", "2", "0.0% of 2"],
            ]
        );
    }
}
