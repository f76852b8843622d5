//! The rows of each table and their column tables: each column's name, type, nullability,
//! meaning and accessor are written once, here, and everything else is derived from them (see
//! `columns`).

use super::columns::ColType::*;
use super::columns::Value::*;
use std::sync::LazyLock;

use super::columns::{Column, Row, StructField, StructItem, Value, part, part_or_null};
use super::status::{Checked, DomainStatus, HostStatus, StsPolicyStatus};
use crate::checks::asn::AsnFindings;
use crate::checks::dane::DaneFindings;
use crate::checks::dkim::DkimStatus;
use crate::checks::dmarc::DmarcStatus;
use crate::checks::dnsbl::Listings;
use crate::checks::mta_sts::{Mode, StsStatus};
use crate::checks::rdns::ReverseFindings;
use crate::checks::smtp::SmtpFindings;
use crate::checks::spf::SpfFindings;
use crate::checks::txt_policies::TxtPolicies;
use crate::dns::Status;

/// A DKIM key record found under a probed selector (RFC 6376 3.6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct DkimKeyRow {
    pub selector: String,
    /// `k=`: `rsa`, `ed25519`, or what was published.
    pub key_type: String,
    /// From the key itself (RSA modulus length; 256 for Ed25519); null when it cannot be read.
    pub bits: Option<u32>,
    /// `t=y`.
    pub testing: bool,
    /// Empty `p=`.
    pub revoked: bool,
    /// A verifier could use it: parsed cleanly, not revoked.
    pub usable: bool,
    pub errors: Vec<String>,
}

/// One row per input domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRow {
    pub domain: String,
    pub scanned_at: i64,
    pub mx_status: Status,
    pub mx: Option<Vec<(u16, String)>>,
    pub mx_null: Option<bool>,
    pub mx_ips: Option<Vec<String>>,
    /// Status of the exchanges' address lookups: `ok` when every A/AAAA query got an answer
    /// (records or none), else the first failure; null without exchanges to look up.
    pub mx_ips_status: Option<Status>,
    pub mx_errors: Vec<String>,
    /// The SPF columns (`checks::spf::SpfFindings::columns`); `ProbeError` when the probe failed.
    pub spf: Checked<SpfFindings>,
    pub dmarc_status: Checked<DmarcStatus>,
    pub dmarc_record: Option<String>,
    /// `domain`, `organizational`, or `tree-walk:<name>` (--dmarc-discovery tree-walk).
    pub dmarc_source: Option<String>,
    pub dmarc_p: Option<String>,
    pub dmarc_sp: Option<String>,
    pub dmarc_pct: Option<u8>,
    pub dmarc_rua: Option<Vec<String>>,
    pub dmarc_errors: Vec<String>,
    /// The RHSBL columns (`Listings::domain_columns`); None when no domain zone was queried.
    pub dnsbl_domain: Option<Listings>,
    /// The DANE columns (`DaneFindings::columns`); None without exchanges to ask for.
    pub dane: Option<DaneFindings>,
    /// Selectors of the probed list with a DKIM key record; null when not probed or unknown.
    pub dkim_selectors: Option<Vec<String>>,
    /// Raw `_mta-sts` record (RFC 8461 3.1).
    pub mta_sts: Option<String>,
    /// SOA RNAME as an e-mail address.
    pub soa_rname: Option<String>,
    pub dmarc_np: Option<String>,
    pub dmarc_adkim: Option<String>,
    pub dmarc_aspf: Option<String>,
    pub dmarc_ruf: Option<Vec<String>>,
    /// The policy a receiver applies to the domain (RFC 7489 6.3, 6.6.3).
    pub dmarc_effective_p: Option<String>,
    /// External report destinations (RFC 7489 7.1) that publish the authorisation record.
    pub dmarc_rua_authorized: Option<Vec<String>>,
    /// External report destinations without it.
    pub dmarc_rua_unauthorized: Option<Vec<String>>,
    pub dkim_status: Checked<DkimStatus>,
    pub dkim_keys: Option<Vec<DkimKeyRow>>,
    pub dkim_errors: Vec<String>,
    pub mta_sts_status: Checked<StsStatus>,
    pub mta_sts_id: Option<String>,
    pub mta_sts_errors: Vec<String>,
    /// With --mta-sts-fetch: `valid`, `invalid`, or why the fetch failed; null when not fetched.
    pub mta_sts_policy_status: Option<StsPolicyStatus>,
    pub mta_sts_mode: Option<Mode>,
    pub mta_sts_max_age: Option<u32>,
    /// The policy's `mx` patterns.
    pub mta_sts_mx: Option<Vec<String>>,
    /// MX exchanges no `mx` pattern covers (RFC 8461 4.1).
    pub mta_sts_mx_uncovered: Option<Vec<String>>,
    pub mta_sts_policy_errors: Vec<String>,
    /// The TXT policies of `txt_policies!` (TLS-RPT, BIMI): their columns are their own
    /// (`TxtPolicyCheck::columns`); `ProbeError` when the probe failed.
    pub txt: Checked<TxtPolicies>,
    pub soa_status: Status,
    pub dnssec_ad: Option<bool>,
    /// `ok`, or `error` when the domain probe itself failed (it panicked: a bug in mxray, not an
    /// answer from the domain); then every check status says `error` and `domain_error` says why.
    pub domain_status: DomainStatus,
    pub domain_error: Option<String>,
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

impl StructItem for (u16, String) {
    const FIELDS: &'static [StructField] = &[
        StructField::new("preference", UInt16, false),
        StructField::new("exchange", Utf8, false),
    ];

    fn field(&self, j: usize) -> Value<'_> {
        match j {
            0 => U16(Some(self.0)),
            1 => Str(Some(&self.1)),
            _ => unreachable!("MX has {} fields", Self::FIELDS.len()),
        }
    }
}

impl StructItem for DkimKeyRow {
    const FIELDS: &'static [StructField] = &[
        StructField::new("selector", Utf8, false),
        StructField::new("type", Utf8, false),
        StructField::new("bits", UInt32, true),
        StructField::new("testing", Boolean, false),
        StructField::new("revoked", Boolean, false),
        StructField::new("usable", Boolean, false),
        StructField::new("errors", ListUtf8, false),
    ];

    fn field(&self, j: usize) -> Value<'_> {
        match j {
            0 => Str(Some(&self.selector)),
            1 => Str(Some(&self.key_type)),
            2 => U32(self.bits),
            3 => Bool(Some(self.testing)),
            4 => Bool(Some(self.revoked)),
            5 => Bool(Some(self.usable)),
            6 => StrList(Some(&self.errors)),
            _ => unreachable!("a DKIM key has {} fields", Self::FIELDS.len()),
        }
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
        .doc("`ok` (the server answered at RCPT: `code`, `text`), `mail-refused` (MAIL FROM was refused, its code and text are given: no recipient could be asked), `budget` (the address's `--smtp-rcpt-budget` was spent: not asked), `excluded` (the address is excluded), `cancelled` (the scan stopped first), or how the session ended before this domain: an `smtp_outcome` such as `timeout`, `refused`, `dropped`, `greeting-rejected`, `deferred`"),
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

/// The domains table: its own columns around those its checks define over their findings (SPF,
/// the domain blocklists, DANE and the TXT policies, each in its file in `src/checks/`).
static DOMAIN_COLUMNS: LazyLock<Vec<D>> = LazyLock::new(|| {
    domain_head()
        .into_iter()
        .chain(part(SpfFindings::columns(), |r: &DomainRow| r.spf.done()))
        .chain(domain_mid())
        .chain(part(Listings::domain_columns(), |r: &DomainRow| {
            r.dnsbl_domain.as_ref()
        }))
        .chain(part(DaneFindings::columns(), |r: &DomainRow| {
            r.dane.as_ref()
        }))
        .chain(domain_mid2())
        .chain(part(TxtPolicies::columns(), |r: &DomainRow| r.txt.done()))
        .chain(domain_tail())
        .collect()
});

// The files' columns, in this order. Each `doc` is the column's row in docs/SCHEMA.md: after an
// edit, `MXRAY_BLESS=1 cargo test --lib schema_doc` rewrites the file. One column a line pair
// reads as a table, which rustfmt would not keep.
#[rustfmt::skip]
fn domain_head() -> Vec<D> { vec![
    D::new("domain", Utf8, |r| Str(Some(&r.domain))).required()
        .doc("the scanned domain, normalised"),
    D::new("scanned_at", Timestamp, |r| Ts(r.scanned_at)).required()
        .doc("when the row was completed"),
    D::status("mx_status", |r| Some(r.mx_status.as_str())).required()
        .doc("status of the MX query"),
    D::new("mx", ListStruct(<(u16, String)>::FIELDS), |r| Value::structs(r.mx.as_ref()))
        .doc("MX records as published, sorted by (preference, exchange); null when the query failed"),
    D::new("mx_null", Boolean, |r| Bool(r.mx_null))
        .doc("the domain publishes a null MX (RFC 7505: a single `0 .`); null when the MX query failed"),
    D::new("mx_ips", ListUtf8, |r| StrList(r.mx_ips.as_deref()))
        .doc("A and AAAA addresses of the exchanges (at most 16 exchanges), in preference order, each once; each also has a row in hosts"),
    D::new("mx_ips_status", Utf8, |r| Str(r.mx_ips_status.map(|s| s.as_str())))
        .doc("`ok` when every A/AAAA query of the exchanges was answered (with records or without), else the first failure status; null without exchanges"),
    D::new("mx_errors", ListUtf8, |r| StrList(Some(&r.mx_errors)))
        .doc("`null-mx-mixed`, `null-mx-preference`, `mx-ip-literal` (an exchange written as an address, RFC 5321 5.1), `mx-cname` (an exchange that is an alias, RFC 2181 10.3: found by a CNAME query per exchange), `mx-no-address`, `mx-address-lookup`, `mx-too-many`, `dns-<status>`"),
] }

#[rustfmt::skip]
fn domain_mid() -> Vec<D> { vec![
    D::status("dmarc_status", |r| Some(r.dmarc_status.as_str())).required()
        .doc("`none`, `valid`, `invalid` (no or bad `p=`, bad `sp=`, several records), `temperror` (a `_dmarc` query of the discovery failed). Discovery (RFC 7489 6.6.3): `_dmarc.<domain>`, then, if it holds no record, `_dmarc.<Organizational Domain>` (the registrable domain by the Public Suffix List: mxray's built-in copy, or `--psl FILE`). `--dmarc-discovery tree-walk`: the DMARCbis DNS Tree Walk (each parent up to the TLD, at most 8 queries). A domain that does not exist (MX nxdomain) is `none` without any query (RFC 8020)"),
    D::new("dmarc_record", Utf8, |r| Str(r.dmarc_record.as_deref()))
        .doc("the record used (the first when several), raw"),
    D::new("dmarc_source", Utf8, |r| Str(r.dmarc_source.as_deref()))
        .doc("`domain` (found at `_dmarc.<domain>`), `organizational` (found at the Organizational Domain), `tree-walk:<name>` (found at `_dmarc.<name>` by the tree walk); null when no record"),
    D::new("dmarc_p", Utf8, |r| Str(r.dmarc_p.as_deref()))
        .doc("`none`, `quarantine`, `reject` as published in the record used (for an `organizational` record, the policy of the domain itself is its `sp`, else `p`); null when no valid record"),
    D::new("dmarc_sp", Utf8, |r| Str(r.dmarc_sp.as_deref()))
        .doc("subdomain policy as published"),
    D::new("dmarc_pct", UInt8, |r| U8(r.dmarc_pct))
        .doc("as published (null when absent or out of range)"),
    D::new("dmarc_rua", ListUtf8, |r| StrList(r.dmarc_rua.as_deref()))
        .doc("aggregate report URIs of the record used, as written; null when no valid record"),
    D::new("dmarc_errors", ListUtf8, |r| StrList(Some(&r.dmarc_errors)))
        .doc("`missing-p`, `invalid-p`, `invalid-sp`, `invalid-pct`, `invalid-rua`, `multiple-records`, `duplicate-tag`, `unknown-tag`, `tag-order`, `syntax`, ... (full tag validation, RFC 7489 6.3 and DMARCbis), `rua-authorization-temperror` (an external destination's authorisation query failed: it is in neither list below), `dns-temperror`"),
] }

#[rustfmt::skip]
fn domain_mid2() -> Vec<D> { vec![
    D::new("dkim_selectors", ListUtf8, |r| StrList(r.dkim_selectors.as_deref()))
        .doc("selectors of the domain's probe plan with a DKIM key record at `<selector>._domainkey.<domain>` (RFC 6376 3.6.2.1), in plan order. The default plan is the selectors of the providers the domain's SPF tree and MX hosts name (`datasets/dkim-providers.csv`), then 8 common ones; `--dkim-selectors full` probes the 40 of `datasets/dkim-selectors.txt`, `--dkim-selectors FILE` a list of one's own. `_domainkey.<domain>` is asked first: NXDOMAIN means nothing exists below it (RFC 8020), no selector is probed and the list is empty. Null with `--no-dkim` or when `_domainkey.<domain>` failed; on `temperror` from a selector's query, the list holds what the others found"),
    D::new("mta_sts", Utf8, |r| Str(r.mta_sts.as_deref()))
        .doc("the `v=STSv1` record at `_mta-sts.<domain>` (RFC 8461 3.1), raw (the first when several); null when absent or the query failed"),
    D::new("soa_rname", Utf8, |r| Str(r.soa_rname.as_deref()))
        .doc("the SOA RNAME of the domain as an e-mail address (first label = local part, `\\.` is a dot in it: `john\\.doe.example.com` -> `john.doe@example.com`, RFC 1035 3.3.13 and 8); null unless the domain is a zone apex (`soa_status` `nodata` otherwise)"),
    D::new("dmarc_np", Utf8, |r| Str(r.dmarc_np.as_deref()))
        .doc("DMARCbis `np` (policy for non-existent subdomains), as published"),
    D::new("dmarc_adkim", Utf8, |r| Str(r.dmarc_adkim.as_deref()))
        .doc("`r` or `s` as published"),
    D::new("dmarc_aspf", Utf8, |r| Str(r.dmarc_aspf.as_deref()))
        .doc("`r` or `s` as published"),
    D::new("dmarc_ruf", ListUtf8, |r| StrList(r.dmarc_ruf.as_deref()))
        .doc("failure report URIs of the record used, as written; null when no valid record"),
    D::new("dmarc_effective_p", Utf8, |r| Str(r.dmarc_effective_p.as_deref()))
        .doc("the policy a receiver applies to the domain: `p` of a record found at the domain, `sp` (else `p`) of one found at the Organizational Domain or a parent; `none` for an invalid record with a valid `rua` (RFC 7489 6.6.3 step 6: act as if `p=none`); null when no record applies (none, several, temperror, invalid without `rua`)"),
    D::new("dmarc_rua_authorized", ListUtf8, |r| StrList(r.dmarc_rua_authorized.as_deref()))
        .doc("`rua` and `ruf` destination domains outside the record's Organizational Domain that authorise the reports: a `v=DMARC1` TXT record at `<record domain>._report._dmarc.<destination>` (RFC 7489 7.1); null without a record"),
    D::new("dmarc_rua_unauthorized", ListUtf8, |r| StrList(r.dmarc_rua_unauthorized.as_deref()))
        .doc("external `rua` and `ruf` destinations without that record (receivers will not send them reports)"),
    D::status("dkim_status", |r| Some(r.dkim_status.as_str())).required()
        .doc("`none` (no key record under any probed selector), `valid` (at least one usable key), `invalid` (key records, none usable: revoked or broken), `temperror` (`_domainkey.<domain>` or a selector query failed), `skipped` (`--no-dkim`)"),
    D::new("dkim_keys", ListStruct(DkimKeyRow::FIELDS), |r| Value::structs(r.dkim_keys.as_ref()))
        .doc("one per key record found: `k=` (`rsa` by default, `ed25519`), the key size read from the key (RSA modulus bits, 256 for Ed25519; null when there is no readable key), `t=y`, empty `p=` (revoked), usable by a verifier, and the record's problems. CSV: fields joined with a space, `errors` with `,`"),
    D::new("dkim_errors", ListUtf8, |r| StrList(Some(&r.dkim_errors)))
        .doc("the keys' problems as `code: selector: text` (`invalid-base64`, `weak-key`, `multiple-records`, ...), `domainkeys-policy` (an obsolete RFC 4870 record at `_domainkey`), `dns-temperror`"),
    D::status("mta_sts_status", |r| Some(r.mta_sts_status.as_str())).required()
        .doc("`none`, `valid`, `invalid` (several records, no or bad `id`, bad syntax: RFC 8461 3.1 says senders then assume no policy), `temperror`"),
    D::new("mta_sts_id", Utf8, |r| Str(r.mta_sts_id.as_deref()))
        .doc("the `id` of a valid record; null otherwise"),
    D::new("mta_sts_errors", ListUtf8, |r| StrList(Some(&r.mta_sts_errors)))
        .doc("`missing-id`, `invalid-id`, `multiple-records`, `syntax`, `dns-temperror`, ..."),
    D::new("mta_sts_policy_status", Utf8, |r| Str(r.mta_sts_policy_status.map(|s| s.as_str())))
        .doc("with `--mta-sts-fetch`, for a domain with a `valid` record: `valid` or `invalid` (the policy text, RFC 8461 3.2), or why no policy was fetched: `dns-error` (no address for `mta-sts.<domain>`, looked up through the scan's resolver), `connect-error`, `tls-error` (handshake or certificate: checked against the Mozilla roots and `--mta-sts-ca`), `http-error` (status other than 200, redirects not followed (RFC 8461 3.3), Content-Type not `text/plain`, body over 64 KiB, bad framing), `timeout` (`--mta-sts-timeout`, default 10 s, for the whole fetch); null when not fetched"),
    D::new("mta_sts_mode", Utf8, |r| Str(r.mta_sts_mode.map(|s| s.as_str())))
        .doc("the policy's `mode`: `enforce`, `testing`, `none`"),
    D::new("mta_sts_max_age", UInt32, |r| U32(r.mta_sts_max_age))
        .doc("the policy's `max_age`, seconds"),
    D::new("mta_sts_mx", ListUtf8, |r| StrList(r.mta_sts_mx.as_deref()))
        .doc("the policy's `mx` patterns"),
    D::new("mta_sts_mx_uncovered", ListUtf8, |r| StrList(r.mta_sts_mx_uncovered.as_deref()))
        .doc("the domain's MX exchanges no `mx` pattern matches (RFC 8461 4.1: `*.` covers one leftmost label); null without a fetched policy or when the MX query failed"),
    D::new("mta_sts_policy_errors", ListUtf8, |r| StrList(Some(&r.mta_sts_policy_errors)))
        .doc("the policy's problems (`missing-mode`, `invalid-max-age`, `missing-mx`, ...) or the fetch error"),
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
/// SMTP (`smtp.rs`).
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
    use crate::checks::bimi::{BimiFindings, BimiStatus};
    use crate::checks::spf::{Qualifier, SpfStatus};
    use crate::checks::tls_rpt::{TlsRptFindings, TlsRptStatus};
    use crate::output::columns::{ColType, csv_cell, to_batch};
    use arrow_array::{Array, BooleanArray, ListArray, StringArray, StructArray, UInt16Array};

    fn values<R: Row>(r: &R) -> Vec<Value<'_>> {
        R::columns().iter().map(|c| c.value(r)).collect()
    }

    /// A row of a domain without records: the test stand-in for `Default`.
    fn blank(domain: &str) -> DomainRow {
        let opts = crate::pipeline::PolicyOptions {
            dkim: false,
            ..Default::default()
        };
        let p = crate::pipeline::policies::Policies::nxdomain(&opts);
        DomainRow::new(
            domain,
            Status::NoData,
            &Default::default(),
            None,
            SpfFindings::nxdomain(),
            p,
        )
    }

    fn blank_host() -> HostRow {
        HostRow::failed("192.0.2.9".parse().unwrap(), "x", 0)
    }

    fn sample() -> DomainRow {
        DomainRow {
            domain: "example.com".into(),
            scanned_at: 1_700_000_000_123,
            mx_status: Status::Ok,
            mx: Some(vec![
                (10, "mx.example.com".into()),
                (20, "mx2.example.com".into()),
            ]),
            mx_null: Some(false),
            mx_ips: Some(vec!["127.0.0.1".into(), "::1".into()]),
            mx_ips_status: Some(Status::Ok),
            spf: Checked::Done(SpfFindings {
                status: SpfStatus::Valid,
                records: Some(vec!["v=spf1 -all".into()]),
                ..SpfFindings::nxdomain()
            }),
            dmarc_status: DmarcStatus::None.into(),
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
            mx_status: Status::Ok,
            mx: Some(vec![(10, "mx.example.com".into())]),
            mx_null: Some(false),
            mx_ips: Some(l()),
            mx_ips_status: Some(Status::Ok),
            mx_errors: l(),
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
            dmarc_status: DmarcStatus::Valid.into(),
            dmarc_record: Some("v=DMARC1; p=reject".into()),
            dmarc_source: Some("domain".into()),
            dmarc_p: Some("reject".into()),
            dmarc_sp: Some("none".into()),
            dmarc_pct: Some(100),
            dmarc_rua: Some(l()),
            dmarc_errors: l(),
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
            dkim_selectors: Some(l()),
            mta_sts: Some("v=STSv1; id=1".into()),
            soa_rname: Some("hostmaster@example.com".into()),
            dmarc_np: Some("reject".into()),
            dmarc_adkim: Some("r".into()),
            dmarc_aspf: Some("s".into()),
            dmarc_ruf: Some(l()),
            dmarc_effective_p: Some("reject".into()),
            dmarc_rua_authorized: Some(l()),
            dmarc_rua_unauthorized: Some(l()),
            dkim_status: DkimStatus::Valid.into(),
            dkim_keys: Some(keys()),
            dkim_errors: l(),
            mta_sts_status: StsStatus::Valid.into(),
            mta_sts_id: Some("1".into()),
            mta_sts_errors: l(),
            mta_sts_policy_status: Some(StsPolicyStatus::Valid),
            mta_sts_mode: Some(Mode::Enforce),
            mta_sts_max_age: Some(86400),
            mta_sts_mx: Some(l()),
            mta_sts_mx_uncovered: Some(l()),
            mta_sts_policy_errors: l(),
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
            reverse: Some(ReverseFindings {
                status: Status::Ok,
                ptr: Some(l()),
                fcrdns: Some(true),
                errors: l(),
            }),
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
            .collect();
        assert_eq!(checks.len(), 12);
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
        assert_eq!(statuses.len(), 9, "{statuses:?}");
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
    fn status_counts_come_from_the_status_columns() {
        let stats = crate::pipeline::ScanStats::default();
        stats.record_domain(&full_domain());
        let hosts = [
            full_host(HostStatus::Ok),
            full_host(HostStatus::Skipped),
            HostRow {
                reverse: Some(ReverseFindings {
                    status: Status::Timeout,
                    ptr: None,
                    fcrdns: None,
                    errors: Vec::new(),
                }),
                ..blank_host()
            },
        ];
        for h in &hosts {
            stats.record_host(h);
        }
        let m = stats.by_status();
        let cols: Vec<_> = m.keys().copied().collect();
        assert_eq!(
            cols,
            [
                "bimi_status",
                "dkim_status",
                "dmarc_status",
                "domain_status",
                "host_status",
                "mta_sts_status",
                "mx_status",
                "ptr_status",
                "smtp_status",
                "soa_status",
                "spf_status",
                "tls_rpt_status",
            ]
        );
        // The error host has no SMTP findings: it counts under its own status (a checked host
        // without them, no --smtp, would not count at all); the other two carry theirs.
        let smtp: Vec<_> = m["smtp_status"].iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(smtp, [("error", 1), ("ok", 2)]);
        assert_eq!(m["mx_status"]["ok"], 1);
        assert_eq!(m["domain_status"]["error"], 1);
        // A host that was not checked counts its PTR status as its own status.
        let ptr: Vec<_> = m["ptr_status"].iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(ptr, [("error", 1), ("ok", 1), ("skipped", 1)]);
        assert_eq!(m["host_status"].values().sum::<u64>(), 3);
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
            mx_status: Status::Timeout,
            mx: None,
            mx_null: None,
            spf: Checked::Done(SpfFindings::temperror("x")),
            dmarc_status: DmarcStatus::TempError.into(),
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
        r.dkim_keys = Some(vec![
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
