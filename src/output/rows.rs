//! The rows of each table and their column tables. A check's columns (name, type, nullability,
//! meaning, accessor) are written once, in the check's file over its findings; a table here is
//! the row's own columns around the checks' parts, taken whole ([`Column::within`]). Everything
//! else (Arrow schema and arrays, CSV, run.json's status counts, docs/SCHEMA.md) is derived from
//! the tables (see [`crate::columns`]).

use super::columns::ColType::*;
use super::columns::Value::*;
use std::sync::LazyLock;

use super::columns::{Column, Row, part, part_or_null};
use super::status::{Checked, DomainStatus, HostStatus};
use crate::checks::asn::AsnFindings;
use crate::checks::dane::DaneFindings;
use crate::checks::dangling::DanglingFindings;
use crate::checks::dkim::DkimFindings;
pub use crate::checks::dkim::DkimKeyRow;
use crate::checks::dmarc::DmarcFindings;
use crate::checks::dnsbl::Listings;
use crate::checks::mta_sts::StsFindings;
use crate::checks::mx::MxFindings;
use crate::checks::rdns::ReverseFindings;
use crate::checks::rpki::RouteValidity;
use crate::checks::smtp::SmtpFindings;
use crate::checks::spf::SpfFindings;
use crate::checks::txt_policies::TxtPolicies;
use crate::dns::Status;

/// One row per input domain: its own columns around those its checks define over their
/// findings (MX, SPF, DMARC, the domain blocklists, DANE, DKIM, MTA-STS and the TXT policies,
/// each in its file in `src/checks/`). A check's part is `ProbeError` (or None) when the domain
/// probe failed: its status columns say `error`, the others are null.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRow {
    pub domain: String,
    pub scanned_at: i64,
    /// The MX columns (`MxFindings::columns`).
    pub mx: Checked<MxFindings>,
    /// The SPF columns (`SpfFindings::columns`).
    pub spf: Checked<SpfFindings>,
    /// The DMARC columns (`DmarcFindings::columns`, `later_columns`).
    pub dmarc: Checked<DmarcFindings>,
    /// The RHSBL columns (`Listings::domain_columns`); None when no domain zone was queried.
    pub dnsbl_domain: Option<Listings>,
    /// The DANE columns (`DaneFindings::columns`); None without exchanges to ask for.
    pub dane: Option<DaneFindings>,
    /// The DKIM columns (`DkimFindings::selector_columns`, `columns`).
    pub dkim: Checked<DkimFindings>,
    /// The MTA-STS columns (`StsFindings::record_columns`, `columns`).
    pub mta_sts: Checked<StsFindings>,
    /// SOA RNAME as an e-mail address.
    pub soa_rname: Option<String>,
    /// The TXT policies of `txt_policies!` (TLS-RPT, BIMI): their columns are their own
    /// (`TxtPolicyCheck::columns`).
    pub txt: Checked<TxtPolicies>,
    pub soa_status: Status,
    pub dnssec_ad: Option<bool>,
    /// `ok`, or `error` when the domain probe itself failed (it panicked: a bug in mxray, not an
    /// answer from the domain); then every check status says `error` and `domain_error` says why.
    pub domain_status: DomainStatus,
    pub domain_error: Option<String>,
    /// The dangling-name columns (`DanglingFindings::columns`); None when the domain was not
    /// asked further (NXDOMAIN) or its MX query failed.
    pub dangling: Option<DanglingFindings>,
}

/// One row per IP address probed: its own columns around those its checks define over their
/// findings (reverse DNS, DNSBL, ASN, SMTP, each in its file in `src/checks/`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub ip: String,
    pub scanned_at: i64,
    /// `ok`, `skipped` (excluded: no check was made), or `error` (the host probe itself failed:
    /// it panicked, a bug in mxray; `host_error` says why and the check columns are null).
    pub host_status: HostStatus,
    pub skip_reason: Option<String>,
    /// The PTR columns (`ReverseFindings::columns`); None for a host not checked.
    pub reverse: Option<ReverseFindings>,
    /// The DNSBL columns (`Listings::ip_columns`); None for a host not checked.
    pub dnsbl: Option<Listings>,
    /// The ASN columns (`AsnFindings::columns`); None when the AS is unknown.
    pub asn: Option<AsnFindings>,
    pub host_error: Option<String>,
    /// The SMTP columns (`SmtpFindings::columns`); None without `--smtp` (every one null).
    pub smtp: Option<SmtpFindings>,
    /// The RPKI column (`RouteValidity::columns`): the origin AS's route judged against
    /// `--rpki-vrps`; None without the flag or without a known route.
    pub rpki: Option<RouteValidity>,
}

impl HostRow {
    /// The PTR names; None when unknown (the query failed, or the host was not checked).
    pub fn ptr(&self) -> Option<&[String]> {
        self.reverse.as_ref()?.ptr.as_deref()
    }

    /// Forward-confirmed reverse DNS ([`crate::checks::rdns::fcrdns`]); None when unknown.
    pub fn fcrdns(&self) -> Option<bool> {
        self.reverse.as_ref()?.fcrdns
    }
}

impl DomainRow {
    /// Every status of the row, its status columns' and those of the answers it rests on
    /// whose columns are not statuses of its own (the exchanges' address and TLSA lookups):
    /// what the last pass judges a row by (`pipeline::last_pass::failing`).
    pub fn all_statuses(&self) -> impl Iterator<Item = (&'static str, Option<&'static str>)> + '_ {
        let mx = self.mx.done();
        let ips = mx.and_then(|m| m.ips_status).map(Status::as_str);
        let dane = self.dane.as_ref().map(|d| d.status.as_str());
        self.statuses()
            .chain([("mx_ips_status", ips), ("dane_status", dane)])
    }
}

impl Row for DomainRow {
    fn columns() -> &'static [Column<Self>] {
        &DOMAIN_COLUMNS
    }
}

impl Row for HostRow {
    fn columns() -> &'static [Column<Self>] {
        &HOST_COLUMNS
    }
}

/// One recipient asked at RCPT (`--smtp-recipients`): the long table `OUT/recipients/`, one row
/// per (domain, address tested), from the address's own SMTP session (its first domain) or from
/// a batch session of domains that led the scan to no new address.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientRow {
    pub domain: String,
    pub ip: String,
    pub exchange: String,
    pub scanned_at: i64,
    /// `postmaster`, `abuse`, `security`, `admin`, `soa`, `random`; null when no RCPT was made.
    pub role: Option<&'static str>,
    pub address: Option<String>,
    /// `ok` (the server answered at RCPT: `code`, `text`), `mail-refused` (MAIL FROM refused:
    /// its code and text), `budget` (the address's RCPT budget was spent), `excluded`,
    /// `cancelled`, or how the session ended before (`timeout`, `refused`, `reset`, ...).
    pub status: &'static str,
    pub code: Option<u16>,
    pub text: Option<String>,
    /// From a batch session (true) or from the address's own SMTP session (false).
    pub batched: bool,
}

impl Row for RecipientRow {
    fn columns() -> &'static [Column<Self>] {
        RECIPIENT_COLUMNS
    }
}

type R = Column<RecipientRow>;

#[rustfmt::skip]
static RECIPIENT_COLUMNS: &[R] = &[
    R::new("domain", Utf8, |r| Str(Some(&r.domain))).required()
        .doc("the scanned domain whose MX was asked"),
    R::new("ip", Utf8, |r| Str(Some(&r.ip))).required()
        .doc("the MX address asked: each address the domain was the first to lead the scan to (in that address's own session), or, when it led to none, the first address of its most preferred exchange (in a batch)"),
    R::new("exchange", Utf8, |r| Str(Some(&r.exchange))).required()
        .doc("the MX exchange that gave the address"),
    R::new("scanned_at", Timestamp, |r| Ts(r.scanned_at)).required(),
    R::status("recipient_status", |r| Some(r.status)).required()
        .doc("`ok` (the server answered at RCPT: `code`, `text`), `mail-refused` (MAIL FROM was refused, its code and text are given: no recipient could be asked), `budget` (the address's `--smtp-rcpt-budget` was spent: not asked), `excluded` (the address is excluded), `cancelled` (the scan stopped first), `error` (mxray's probe of the address failed itself, or the address's hosts row is `error`: `text` says why), or how the session ended before this domain: an `smtp_outcome` such as `timeout`, `refused`, `dropped`, `greeting-rejected`, `deferred`"),
    R::new("role", Utf8, |r| Str(r.role))
        .doc("`postmaster`, `abuse`, `security`, `admin` (RFC 2142 role addresses; RFC 5321 4.5.1 requires postmaster), `soa` (the SOA contact, when it is at the domain), `random` (a nonexistent local part: accepted means a catch-all); null when no RCPT was made"),
    R::new("address", Utf8, |r| Str(r.address.as_deref()))
        .doc("the address asked at RCPT TO"),
    R::new("code", UInt16, |r| U16(r.code))
        .doc("the reply code (at RCPT, or at MAIL for `mail-refused`)"),
    R::new("text", Utf8, |r| Str(r.text.as_deref()))
        .doc("the reply's text, lines joined with ` / `"),
    R::new("batched", Boolean, |r| Bool(Some(r.batched))).required()
        .doc("asked in a batch session (domains sharing the address, `--smtp-recipient-batch` per session) rather than in the address's own SMTP session"),
];

type D = Column<DomainRow>;
type H = Column<HostRow>;

/// The domains table: its own columns around those its checks define over their findings,
/// each in its file in `src/checks/`. Some checks' columns come in two runs, the order the table
/// grew in, kept for readers that select by position.
static DOMAIN_COLUMNS: LazyLock<Vec<D>> = LazyLock::new(|| {
    domain_head()
        .into_iter()
        .chain(part(MxFindings::columns(), |r: &DomainRow| r.mx.done()))
        .chain(part(SpfFindings::columns(), |r: &DomainRow| r.spf.done()))
        .chain(part(DmarcFindings::columns(), |r: &DomainRow| {
            r.dmarc.done()
        }))
        .chain(part(Listings::domain_columns(), |r: &DomainRow| {
            r.dnsbl_domain.as_ref()
        }))
        .chain(part(DaneFindings::columns(), |r: &DomainRow| {
            r.dane.as_ref()
        }))
        .chain(part(DkimFindings::selector_columns(), |r: &DomainRow| {
            r.dkim.done()
        }))
        .chain(part(StsFindings::record_columns(), |r: &DomainRow| {
            r.mta_sts.done()
        }))
        .chain(soa_contact())
        .chain(part(DmarcFindings::later_columns(), |r: &DomainRow| {
            r.dmarc.done()
        }))
        .chain(part(DkimFindings::columns(), |r: &DomainRow| r.dkim.done()))
        .chain(part(StsFindings::columns(), |r: &DomainRow| {
            r.mta_sts.done()
        }))
        .chain(part(TxtPolicies::columns(), |r: &DomainRow| r.txt.done()))
        .chain(domain_tail())
        .chain(part_or_null(
            MxFindings::later_columns(),
            |r: &DomainRow| r.mx.done(),
        ))
        .chain(part_or_null(
            DanglingFindings::columns(),
            |r: &DomainRow| r.dangling.as_ref(),
        ))
        .collect()
});

// The row's own columns. Each `doc` is the column's row in docs/SCHEMA.md: after an edit,
// `MXRAY_BLESS=1 cargo test --lib schema_doc` rewrites the file. One column a line pair reads
// as a table, which rustfmt would not keep.
#[rustfmt::skip]
fn domain_head() -> Vec<D> { vec![
    D::new("domain", Utf8, |r| Str(Some(&r.domain))).required()
        .doc("the scanned domain, normalised"),
    D::new("scanned_at", Timestamp, |r| Ts(r.scanned_at)).required()
        .doc("when the row was completed"),
] }

#[rustfmt::skip]
fn soa_contact() -> Vec<D> { vec![
    D::new("soa_rname", Utf8, |r| Str(r.soa_rname.as_deref()))
        .doc("the SOA RNAME of the domain as an e-mail address (first label = local part, `\\.` is a dot in it: `john\\.doe.example.com` -> `john.doe@example.com`, RFC 1035 3.3.13 and 8); null unless the domain is a zone apex (`soa_status` `nodata` otherwise)"),
] }

#[rustfmt::skip]
fn domain_tail() -> Vec<D> { vec![
    D::status("soa_status", |r| Some(r.soa_status.as_str())).required()
        .doc("status of the SOA query at the domain (`nodata` for a name inside a zone; `nxdomain` for a domain that does not exist, inferred without a query)"),
    D::new("dnssec_ad", Boolean, |r| Bool(r.dnssec_ad))
        .doc("with `--dnssec` (DO bit set): the resolver set AD on the domain's MX answer, i.e. it validated it with DNSSEC (only meaningful with a validating resolver); null without `--dnssec` or when the MX query failed"),
    D::status("domain_status", |r| Some(r.domain_status.as_str())).required()
        .doc("`ok`, or `error` when the domain probe itself failed (a panic, a bug in mxray, not an answer from the domain): then every check status says `error` and the other columns are null or empty"),
    D::new("domain_error", Utf8, |r| Str(r.domain_error.as_deref()))
        .doc("with `domain_status` `error`: what failed (`panicked: <message>`)"),
] }

/// A check's part of a host row, when the host was checked: a host skipped or failed (in any
/// stage) has null check columns, whatever an earlier stage found.
fn checked<'a, P>(r: &HostRow, part: &'a Option<P>) -> Option<&'a P> {
    part.as_ref().filter(|_| r.host_status == HostStatus::Ok)
}

/// The hosts table: its own columns around those its checks define over their findings, each
/// in its file in `src/checks/`: reverse DNS (`rdns.rs`), DNSBL (`dnsbl.rs`), ASN (`asn.rs`),
/// SMTP (`smtp.rs`), RPKI (`rpki/`: last, the order the table grew in).
static HOST_COLUMNS: LazyLock<Vec<H>> = LazyLock::new(|| {
    host_head()
        .into_iter()
        .chain(part_or_null(ReverseFindings::columns(), |r: &HostRow| {
            checked(r, &r.reverse)
        }))
        .chain(part_or_null(Listings::ip_columns(), |r: &HostRow| {
            checked(r, &r.dnsbl)
        }))
        .chain(part_or_null(AsnFindings::columns(), |r: &HostRow| {
            checked(r, &r.asn)
        }))
        .chain(host_tail())
        .chain(part_or_null(SmtpFindings::columns(), |r: &HostRow| {
            r.smtp.as_ref()
        }))
        .chain(part_or_null(RouteValidity::columns(), |r: &HostRow| {
            checked(r, &r.rpki)
        }))
        .collect()
});

#[rustfmt::skip]
fn host_head() -> Vec<H> { vec![
    H::new("ip", Utf8, |r| Str(Some(&r.ip))).required()
        .doc("IPv4 or IPv6 address, canonical text form"),
    H::new("scanned_at", Timestamp, |r| Ts(r.scanned_at)).required()
        .doc(""),
    H::status("host_status", |r| Some(r.host_status.as_str())).required()
        .doc("`ok` (checked), `skipped`: the address is on the never-scan list and nothing was checked (the check columns are null), or `error`: the host probe itself failed (a panic, a bug in mxray: the check columns are null and `host_error` says why)"),
    H::new("skip_reason", Utf8, |r| Str(r.skip_reason.as_deref()))
        .doc("`excluded: <reason>` (e.g. `excluded: RFC 1918 private`)"),
] }

#[rustfmt::skip]
fn host_tail() -> Vec<H> { vec![
    H::new("host_error", Utf8, |r| Str(r.host_error.as_deref()))
        .doc("with `host_status` `error`: what failed (`panicked: <message>`)"),
] }

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::TxtPolicy;
    use crate::checks::bimi::{BimiFindings, BimiStatus};
    use crate::checks::dkim::DkimStatus;
    use crate::checks::dmarc::{DmarcSource, DmarcStatus};
    use crate::checks::mta_sts::{
        Mode, StsPolicyFindings, StsPolicyStatus, StsStatus, StsTxtFindings,
    };
    use crate::checks::spf::{Qualifier, SpfStatus};
    use crate::checks::tls_rpt::{TlsRptFindings, TlsRptStatus};
    use crate::columns::{ColType, Value};
    use crate::output::columns::{csv_cell, to_batch};
    use arrow_array::{Array, BooleanArray, ListArray, StringArray, StructArray, UInt16Array};

    fn values<R: Row>(r: &R) -> Vec<Value<'_>> {
        R::columns().iter().map(|c| c.value(r)).collect()
    }

    /// A row of a domain without records: the test stand-in for `Default`.
    fn blank(domain: &str) -> DomainRow {
        DomainRow {
            domain: domain.into(),
            scanned_at: 0,
            mx: Checked::Done(MxFindings {
                status: Status::NoData,
                ..MxFindings::failed()
            }),
            spf: Checked::Done(SpfFindings::nxdomain()),
            dmarc: Checked::Done(DmarcFindings::nxdomain()),
            dnsbl_domain: None,
            dane: None,
            dkim: Checked::Done(DkimFindings::skipped()),
            mta_sts: Checked::Done(StsFindings {
                txt: StsTxtFindings::nxdomain(),
                policy: None,
            }),
            soa_rname: None,
            txt: Checked::Done(TxtPolicies::nxdomain()),
            soa_status: Status::NxDomain,
            dnssec_ad: None,
            domain_status: DomainStatus::Ok,
            domain_error: None,
            dangling: None,
        }
    }

    fn blank_host() -> HostRow {
        HostRow::failed("192.0.2.9".parse().unwrap(), "x", 0)
    }

    fn sample() -> DomainRow {
        DomainRow {
            domain: "example.com".into(),
            scanned_at: 1_700_000_000_123,
            mx: Checked::Done(MxFindings {
                status: Status::Ok,
                records: Some(vec![
                    (10, "mx.example.com".into()),
                    (20, "mx2.example.com".into()),
                ]),
                null: Some(false),
                exchanges: strings(&["mx.example.com", "mx2.example.com"]),
                errors: Vec::new(),
                ips: Some(vec!["127.0.0.1".into(), "::1".into()]),
                ips_status: Some(Status::Ok),
                ipv6: Some(false),
            }),
            spf: Checked::Done(SpfFindings {
                status: SpfStatus::Valid,
                records: Some(vec!["v=spf1 -all".into()]),
                ..SpfFindings::nxdomain()
            }),
            ..blank("example.com")
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn keys() -> Vec<DkimKeyRow> {
        vec![
            DkimKeyRow {
                selector: "google".into(),
                key_type: "rsa".into(),
                bits: Some(2048),
                testing: true,
                revoked: false,
                usable: true,
                errors: vec![],
            },
            DkimKeyRow {
                selector: "s1".into(),
                key_type: "rsa".into(),
                bits: None,
                testing: false,
                revoked: false,
                usable: false,
                errors: strings(&["a: x"]),
            },
        ]
    }

    /// Every `Option` is `Some` and every list is non-empty.
    fn full_domain() -> DomainRow {
        let l = || strings(&["a", "b"]);
        DomainRow {
            domain: "example.com".into(),
            scanned_at: 1_700_000_000_123,
            mx: Checked::Done(MxFindings {
                status: Status::Ok,
                records: Some(vec![(10, "mx.example.com".into())]),
                null: Some(false),
                exchanges: l(),
                errors: l(),
                ips: Some(l()),
                ips_status: Some(Status::Ok),
                ipv6: Some(false),
            }),
            spf: Checked::Done(SpfFindings {
                status: SpfStatus::Valid,
                records: Some(l()),
                all: Some(Qualifier::Fail),
                lookups: Some(3),
                void_lookups: Some(0),
                ipv4_authorized: Some(1 << 32),
                ipv6_prefixes: Some(2),
                errors: l(),
                include_tree: l(),
                flags: l(),
                providers: l(),
                mx_pass: Some(true),
            }),
            dmarc: Checked::Done(DmarcFindings {
                status: DmarcStatus::Valid,
                source: Some(DmarcSource::Domain),
                source_text: Some("domain".into()),
                policy_domain: Some("d.example".into()),
                record: Some("v=DMARC1; p=reject".into()),
                p: Some("reject".into()),
                sp: Some("none".into()),
                np: Some("reject".into()),
                psd: Some("n".into()),
                t: Some(false),
                pct: Some(100),
                adkim: Some("r".into()),
                aspf: Some("s".into()),
                rua: l(),
                ruf: l(),
                errors: l(),
                rua_authorized: Some(l()),
                rua_unauthorized: Some(l()),
                effective_p: Some("reject".into()),
                parsed: None,
                methods_differ: Some(false),
            }),
            dnsbl_domain: Some(Listings {
                listed: l(),
                codes: l(),
                reasons: l(),
                errors: l(),
            }),
            dane: Some(DaneFindings {
                status: Status::Ok,
                tlsa: l(),
                all_mx: Some(true),
                authentic: Some(false),
            }),
            dkim: Checked::Done(DkimFindings {
                status: DkimStatus::Valid,
                selectors: Some(l()),
                keys: Some(keys()),
                errors: l(),
            }),
            mta_sts: Checked::Done(StsFindings {
                txt: StsTxtFindings {
                    status: StsStatus::Valid,
                    record: Some("v=STSv1; id=1".into()),
                    id: Some("1".into()),
                    errors: l(),
                },
                policy: Some(StsPolicyFindings {
                    status: StsPolicyStatus::Valid,
                    mode: Some(Mode::Enforce),
                    max_age: Some(86400),
                    mx: Some(l()),
                    mx_uncovered: Some(l()),
                    errors: l(),
                }),
            }),
            soa_rname: Some("hostmaster@example.com".into()),
            txt: Checked::Done(TxtPolicies {
                tls_rpt: TlsRptFindings {
                    status: TlsRptStatus::Valid,
                    record: Some("v=TLSRPTv1; rua=mailto:a@b".into()),
                    rua: vec!["mailto:a@b".into()],
                    errors: l(),
                },
                bimi: BimiFindings {
                    status: BimiStatus::Declined,
                    record: Some("v=BIMI1; l=".into()),
                    l: Some(String::new()),
                    a: None,
                    errors: l(),
                    dmarc_not_enforcing: Some(false),
                },
            }),
            soa_status: Status::Ok,
            dnssec_ad: Some(true),
            domain_status: DomainStatus::Error,
            domain_error: Some("panicked: x".into()),
            dangling: Some(DanglingFindings {
                names: Some(vec!["spf-include:_spf.gone.example".into()]),
                status: Status::Ok,
            }),
        }
    }

    /// Every `Option` is `Some` and every list is non-empty.
    fn full_host(host_status: HostStatus) -> HostRow {
        let l = || strings(&["a", "b"]);
        HostRow {
            ip: "192.0.2.1".into(),
            scanned_at: 1_700_000_000_123,
            host_status,
            skip_reason: Some("excluded: test".into()),
            reverse: Some(ReverseFindings::full()),
            dnsbl: Some(Listings {
                listed: l(),
                codes: l(),
                reasons: l(),
                errors: l(),
            }),
            asn: Some(AsnFindings {
                asn: 64500,
                range: "192.0.2.0-192.0.2.255".into(),
                country: Some("ZZ".into()),
                name: Some("TEST".into()),
            }),
            host_error: Some("panicked: x".into()),
            smtp: Some(SmtpFindings::full()),
            rpki: Some(RouteValidity::Invalid),
        }
    }

    fn domain_rows() -> Vec<DomainRow> {
        vec![blank("blank.example"), sample(), full_domain()]
    }

    fn host_rows() -> Vec<HostRow> {
        let ok = full_host(HostStatus::Ok);
        let ip = "10.0.0.1".parse().unwrap();
        let skipped = HostRow::skipped(ip, "excluded: RFC 1918 private".into(), 0);
        vec![
            blank_host(),
            ok,
            skipped,
            full_host(HostStatus::Skipped),
            full_host(HostStatus::Error),
        ]
    }

    /// The value fits the declared type, also inside struct items; a required column is never null.
    fn check_value(what: &str, ty: ColType, nullable: bool, v: Value) {
        assert!(
            ty.admits(&v),
            "{what}: declared {ty}, the accessor gave {v:?}"
        );
        assert!(
            nullable || !v.is_null(),
            "{what}: required, the accessor gave null"
        );
        if let (ListStruct(fields), StructList(Some(items))) = (ty, v) {
            assert_eq!(items.fields(), fields, "{what}: struct fields");
            for i in 0..items.len() {
                for (j, f) in fields.iter().enumerate() {
                    let what = format!("{what}[{i}].{}", f.name);
                    check_value(&what, f.ty, f.nullable, items.field(i, j));
                }
            }
        }
    }

    fn check_table<R: Row>(rows: &[R]) {
        for (n, r) in rows.iter().enumerate() {
            for c in R::columns() {
                check_value(&format!("row {n} {}", c.name), c.ty, c.nullable, c.value(r));
            }
        }
        to_batch(rows).expect("the rows make a batch");
    }

    #[test]
    fn accessors_give_their_declared_types() {
        check_table(&domain_rows());
        check_table(&host_rows());
    }

    #[test]
    fn full_rows_fill_every_column() {
        // So that the type test above sees every accessor's non-null variant too.
        let d = full_domain();
        for c in DomainRow::columns() {
            assert!(
                !c.value(&d).is_null(),
                "{} is null in full_domain()",
                c.name
            );
        }
        let h = full_host(HostStatus::Ok);
        for c in HostRow::columns() {
            assert!(!c.value(&h).is_null(), "{} is null in full_host()", c.name);
        }
    }

    #[test]
    fn a_host_not_checked_has_null_check_columns() {
        // Whatever an earlier stage found (the SMTP stage keeps the host stage's findings in a
        // row whose probe then panicked), as host_status says.
        let checks: Vec<&str> = ReverseFindings::columns()
            .iter()
            .map(|c| c.name)
            .chain(Listings::ip_columns().iter().map(|c| c.name))
            .chain(AsnFindings::columns().iter().map(|c| c.name))
            .chain(RouteValidity::columns().iter().map(|c| c.name))
            .collect();
        assert!(checks.contains(&"ptr_status") && checks.contains(&"asn"));
        for status in [HostStatus::Skipped, HostStatus::Error] {
            let h = full_host(status);
            for c in HostRow::columns() {
                assert_eq!(
                    c.value(&h).is_null(),
                    checks.contains(&c.name),
                    "{} host, {}",
                    status.as_str(),
                    c.name
                );
            }
        }
    }

    #[test]
    fn a_failed_domain_row_says_error_in_every_status_and_measures_nothing() {
        let r = DomainRow::failed("x.example", "panicked: x", 0);
        let statuses: Vec<_> = r.statuses().collect();
        assert_eq!(statuses.len(), 10, "{statuses:?}");
        for (name, v) in statuses {
            assert_eq!(v, Some("error"), "{name}");
        }
        // The TXT policies' own columns come through their part of the row, which is missing.
        for c in TxtPolicies::columns() {
            let v = DomainRow::columns()
                .iter()
                .find(|d| d.name == c.name)
                .unwrap_or_else(|| panic!("{} is not in the domain table", c.name))
                .value(&r);
            assert_eq!(v.is_null(), !c.name.ends_with("_status"), "{}", c.name);
        }
    }

    #[test]
    fn the_exchanges_lookup_statuses_count_for_the_last_pass() {
        // A live domain whose exchange's A query timed out says so only in mx_ips_status, which
        // is not a status column of its own: the last pass must still see it (issue 37 soak).
        let mut d = full_domain();
        d.domain_status = DomainStatus::Ok;
        let failing = |d: &DomainRow| crate::pipeline::last_pass::failing(d.all_statuses());
        assert!(!failing(&d));
        if let Checked::Done(m) = &mut d.mx {
            m.ips_status = Some(Status::Timeout);
        }
        assert!(failing(&d));
        assert!(!crate::pipeline::last_pass::failing(d.statuses()));
    }

    #[test]
    fn names_are_unique() {
        fn unique<R: Row>() {
            let mut names: Vec<_> = R::columns().iter().map(|c| c.name).collect();
            names.sort();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n);
        }
        unique::<DomainRow>();
        unique::<HostRow>();
    }

    #[test]
    fn the_status_columns_are_the_statuses_a_row_reports() {
        fn names<R: Row>(r: &R) -> Vec<&'static str> {
            r.statuses().map(|(n, _)| n).collect()
        }
        assert_eq!(
            names(&full_domain()),
            [
                "mx_status",
                "spf_status",
                "dmarc_status",
                "dkim_status",
                "mta_sts_status",
                "tls_rpt_status",
                "bimi_status",
                "soa_status",
                "domain_status",
                "dangling_status",
            ]
        );
        let ok = full_host(HostStatus::Ok);
        assert_eq!(
            names(&ok),
            ["host_status", "ptr_status", "smtp_status", "rpki_status"]
        );
        assert_eq!(ok.status("ptr_status"), Some("ok"));
        assert_eq!(ok.status("rpki_status"), Some("invalid"));
        // A host not checked has no PTR status, whatever its findings; the SMTP stage's own
        // status stays (`skipped` for an excluded address).
        let skipped = full_host(HostStatus::Skipped);
        assert_eq!(skipped.status("ptr_status"), None);
        assert_eq!(skipped.status("rpki_status"), None);
        assert_eq!(skipped.status("smtp_status"), Some("ok"));
        // Without SMTP findings (no --smtp), no SMTP status.
        assert_eq!(blank_host().status("smtp_status"), None);
    }

    #[test]
    fn values_follow_the_schema() {
        let n = DomainRow::schema().fields().len();
        assert_eq!(sample().csv_record().count(), n);
        assert_eq!(
            blank_host().csv_record().count(),
            HostRow::schema().fields().len()
        );
    }

    #[test]
    fn batch_holds_lists_structs_and_nulls() {
        let failed = DomainRow {
            mx: Checked::Done(MxFindings {
                status: Status::Timeout,
                ..MxFindings::failed()
            }),
            spf: Checked::Done(SpfFindings::temperror("x")),
            dmarc: Checked::Done(DmarcFindings::temperror("x")),
            ..blank("failed.example")
        };
        let b = to_batch(&[sample(), failed]).unwrap();
        assert_eq!(b.num_rows(), 2);
        let mx = b
            .column_by_name("mx")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert!(mx.is_null(1), "unknown MX is null, not empty");
        let first = mx.value(0);
        let s = first.as_any().downcast_ref::<StructArray>().unwrap();
        let prefs = s.column(0).as_any().downcast_ref::<UInt16Array>().unwrap();
        let exch = s.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((prefs.value(1), exch.value(1)), (20, "mx2.example.com"));
        let null = b.column_by_name("mx_null").unwrap();
        let null = null.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(!null.value(0) && null.is_null(1));
    }

    #[test]
    fn dkim_keys_are_a_list_of_structs() {
        let mut r = sample();
        let mut dkim = DkimFindings::skipped();
        dkim.keys = Some(vec![
            DkimKeyRow {
                selector: "google".into(),
                key_type: "rsa".into(),
                bits: Some(2048),
                testing: true,
                revoked: false,
                usable: true,
                errors: vec![],
            },
            DkimKeyRow {
                selector: "s1".into(),
                key_type: "rsa".into(),
                bits: None,
                testing: false,
                revoked: true,
                usable: false,
                errors: vec!["a: x".into(), "b: y".into()],
            },
        ]);
        r.dkim = Checked::Done(dkim);
        let b = to_batch(&[r.clone(), blank("blank.example")]).unwrap();
        let col = b.column_by_name("dkim_keys").unwrap();
        let keys = col.as_any().downcast_ref::<ListArray>().unwrap();
        assert!(keys.is_null(1));
        let first = keys.value(0);
        let s = first.as_any().downcast_ref::<StructArray>().unwrap();
        let bits = s
            .column_by_name("bits")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::UInt32Array>()
            .unwrap();
        assert_eq!((bits.value(0), bits.is_null(1)), (2048, true));
        let errs = s
            .column_by_name("errors")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!((errs.value(0).len(), errs.value(1).len()), (0, 2));
        let i = DomainRow::schema().index_of("dkim_keys").unwrap();
        assert_eq!(
            csv_cell(&values(&r)[i]),
            "google rsa 2048 true false true ;s1 rsa  false true false a: x,b: y"
        );
    }

    #[test]
    fn csv_cells() {
        let r = sample();
        let v = values(&r);
        assert_eq!(csv_cell(&v[1]), "2023-11-14T22:13:20.123Z");
        assert_eq!(csv_cell(&v[3]), "10 mx.example.com;20 mx2.example.com");
        assert_eq!(csv_cell(&v[5]), "127.0.0.1;::1");
        assert_eq!(csv_cell(&Value::Bool(None)), "");
    }
}
