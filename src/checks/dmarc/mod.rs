//! DMARC policy records (RFC 9989, which obsoletes RFC 7489 and RFC 9091; RFC 7489's PSL method
//! one option away): record selection at `_dmarc.<domain>`, tag parsing, the Organizational
//! Domain, the discovery plan, and external report destinations (RFC 7489 7.1).
//!
//! The parts: [`record`] (the record and its tags, RFC 9989 4.7-4.8, RFC 7489 6.3-6.4),
//! [`discovery`] (RFC 9989 4.10 DNS Tree Walk and RFC 7489 6.6.3), [`psl`] (the Public Suffix
//! List and RFC 7489's Organizational Domain, 3.2), [`report`] (external report destinations,
//! RFC 7489 7.1). Their items are re-exported here.
//!
//! Pure: the scanner queries the names this module plans and passes the TXT answers back in (each
//! record's character-strings joined, RFC 7489 6.6.3 step 2 / RFC 7208 3.3).
//!
//! `dmarc_source` values ([`DmarcSource`]): `domain` (the record is at `_dmarc.<domain>`),
//! `organizational` (found at `_dmarc.<Organizational Domain>`: RFC 9989 4.10.2 by the Tree
//! Walk, RFC 7489 6.6.3 step 3 by the PSL), `public-suffix` (RFC 9989 4.10.1: the `psd=y`
//! record of the Public Suffix Domain); `dmarc_policy_domain` names where.

pub mod discovery;
pub mod psl;
pub mod record;
pub mod report;

pub use discovery::{
    DiscoveryMode, DmarcSource, discover, discover_for, discovery_names, discovery_names_with,
    next_query,
};
pub use psl::{SuffixList, organizational_domain, organizational_domain_with};
pub use record::{Alignment, DmarcRecord, Policy, Psd, ReportUri, is_dmarc_record, parse};
pub use report::{Authorization, authorization, authorizes, external_destinations};

use super::{Lookup, TxtPolicy};
use crate::checks::problem::{Code, problem};
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;

/// The scan outcome for one domain's DMARC lookup. `Invalid`: a record was found but no policy
/// applies (no valid `p`, an invalid `sp`, or several records: RFC 7489 6.6.3 steps 5-6).
pub type DmarcStatus = super::RecordStatus;

/// The DMARC columns of a scan row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcFindings {
    pub status: DmarcStatus,
    /// Where the record was found, when one was.
    pub source: Option<DmarcSource>,
    /// `source` as `dmarc_source` writes it (`domain`, `organizational`, `public-suffix`).
    pub source_text: Option<String>,
    /// The name whose `_dmarc` record gives `effective_p`; None when no record applies.
    pub policy_domain: Option<String>,
    /// The record used (or, when several, the first), raw.
    pub record: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    /// RFC 9989 `psd` and `t`, as published.
    pub psd: Option<String>,
    pub t: Option<bool>,
    pub pct: Option<u8>,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub errors: Vec<String>,
    /// External report destinations (RFC 7489 7.1) that publish the authorisation record, and
    /// those that do not: set from [`authorization`]; None without a record to read them from.
    pub rua_authorized: Option<Vec<String>>,
    pub rua_unauthorized: Option<Vec<String>>,
    /// The policy a receiver applies to the domain (see [`DmarcFindings::effective_p`]).
    pub effective_p: Option<String>,
    /// The parsed record, for follow-up checks such as [`external_destinations`]; None when no
    /// record is used (none, several, invalid).
    pub parsed: Option<DmarcRecord>,
    /// The other discovery method judges the domain differently: another effective policy or
    /// policy domain (set by the scan, which computes both; None when not computed).
    pub methods_differ: Option<bool>,
}

impl DmarcFindings {
    /// Adds the external destinations' authorisation (RFC 7489 7.1); the lookups that failed
    /// join the errors.
    pub fn authorized(mut self, auth: Authorization) -> DmarcFindings {
        self.errors.extend(auth.errors);
        self.rua_authorized = Some(auth.authorized);
        self.rua_unauthorized = Some(auth.unauthorized);
        self
    }

    fn empty(status: DmarcStatus) -> DmarcFindings {
        DmarcFindings {
            status,
            source: None,
            source_text: None,
            policy_domain: None,
            record: None,
            p: None,
            sp: None,
            np: None,
            psd: None,
            t: None,
            pct: None,
            adkim: None,
            aspf: None,
            rua: Vec::new(),
            ruf: Vec::new(),
            errors: Vec::new(),
            rua_authorized: None,
            rua_unauthorized: None,
            effective_p: None,
            parsed: None,
            methods_differ: None,
        }
    }

    /// The findings of the one record found. The tag columns come only from a record that is
    /// used: an invalid record (no valid `p`, an invalid `sp` or, by RFC 9989, `np`: RFC 9989
    /// 4.10.1, RFC 7489 6.6.3 step 6) keeps its raw text and its errors, and what a receiver
    /// does with it goes in `effective_p`.
    fn from_record(raw: &str, r: DmarcRecord, mode: DiscoveryMode) -> DmarcFindings {
        let valid = match mode {
            DiscoveryMode::Rfc9989 => r.valid,
            DiscoveryMode::Rfc7489 => r.valid_rfc7489(),
        };
        if !valid {
            let mut f = DmarcFindings::empty(DmarcStatus::Invalid);
            f.record = Some(raw.to_string());
            f.errors = r.errors.clone();
            // RFC 9989 4.10.1, RFC 7489 6.6.3 step 6: with a syntactically valid rua, act as
            // if `p=none` was published. RFC 9989 4.7 (`p`) goes further: "If this tag is not
            // present in an otherwise syntactically valid DMARC Policy Record, then the record is
            // treated as if it included p=none". The status stays `invalid` (RFC 7489 6.3: `p` is
            // REQUIRED, so such readers ignore the record); the policy a receiver applies is
            // RFC 9989's.
            let absent_p = mode == DiscoveryMode::Rfc9989
                && r.p.is_none()
                && !r.invalid_p
                && !r.invalid_sp
                && !r.invalid_np;
            if r.version_ok && (!r.rua.is_empty() || absent_p) {
                f.effective_p = Some("none".into());
            }
            return f;
        }
        DmarcFindings {
            status: DmarcStatus::Valid,
            source: None,
            source_text: None,
            policy_domain: None,
            record: Some(raw.to_string()),
            p: r.p.map(|p| p.as_str().to_string()),
            sp: r.sp.map(|p| p.as_str().to_string()),
            np: r.np.map(|p| p.as_str().to_string()),
            psd: r.psd.map(|p| p.as_str().to_string()),
            t: r.t,
            pct: r.pct,
            adkim: r.adkim.map(|a| a.as_str().to_string()),
            aspf: r.aspf.map(|a| a.as_str().to_string()),
            rua: r.rua_raw.clone(),
            ruf: r.ruf_raw.clone(),
            errors: r.errors.clone(),
            rua_authorized: None,
            rua_unauthorized: None,
            effective_p: r.p.map(|p| p.as_str().to_string()),
            parsed: Some(r),
            methods_differ: None,
        }
    }

    /// Sets where the record was found (at `_dmarc.<name>`), and so the policy that applies to
    /// the domain: a record found at the domain itself applies `p`; one found above it (the
    /// Organizational or Public Suffix Domain) applies, to a domain that exists, `sp` else `p`
    /// (RFC 9989 4.10.1, RFC 7489 6.3 `sp`), and, with `np_applies` (the domain does not
    /// exist, and the method is RFC 9989's), `np`, else `sp`, else `p` (RFC 9989 4.7 `np`,
    /// 4.10.1).
    pub fn found_at(mut self, source: DmarcSource, name: &str, np_applies: bool) -> DmarcFindings {
        if let Some(r) = &self.parsed
            && source != DmarcSource::Domain
        {
            let np = if np_applies { r.np } else { None };
            if let Some(p) = np.or(r.sp).or(r.p) {
                self.effective_p = Some(p.as_str().to_string());
            }
        }
        if self.effective_p.is_some() {
            self.policy_domain = Some(name.to_string());
        }
        self.source_text = Some(source.to_string());
        self.source = Some(source);
        self
    }

    /// The record's tag lists only when it is used (RFC 7489 7.1: no reports from another).
    fn used<'a>(&self, list: &'a [String]) -> Option<&'a [String]> {
        (self.status == DmarcStatus::Valid).then_some(list)
    }

    /// The domain row's DMARC columns, in two runs: these (the record and its RFC 7489 tags)
    /// after SPF's, and [`DmarcFindings::later_columns`] after the DKIM selectors. The table
    /// grew in that order and keeps it for readers that select by position. Each `doc` is the
    /// column's row in docs/SCHEMA.md (`MXRAY_BLESS=1 cargo test --lib schema_doc`).
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<DmarcFindings>> {
        type C = Column<DmarcFindings>;
        vec![
            C::status("dmarc_status", |f| Some(f.status.as_str())).required()
                .doc("`none`, `valid`, `invalid` (no or bad `p=`, bad `sp=` or `np=`, several records), `temperror` (a `_dmarc` query of the discovery failed). Discovery (default `--dmarc-discovery rfc9989`, RFC 9989 4.10.1): `_dmarc.<domain>`, then, if it holds no record, the DNS Tree Walk (4.10: each parent up to the TLD, at most 8 queries, stopping at a `psd=n` or `psd=y` record) and the record of the Organizational Domain it finds (4.10.2), else of the Public Suffix Domain. `--dmarc-discovery rfc7489`: `_dmarc.<domain>`, then `_dmarc.<Organizational Domain>` (the registrable domain by the Public Suffix List: mxray's built-in copy, or `--psl FILE`; RFC 7489 6.6.3). A domain that does not exist (MX nxdomain) is not asked for its own record (RFC 8020) but discovery goes on above it, where `np` applies"),
            C::new("dmarc_record", Utf8, |f| Str(f.record.as_deref()))
                .doc("the record used (the first when several), raw"),
            C::new("dmarc_source", Utf8, |f| Str(f.source_text.as_deref()))
                .doc("`domain` (found at `_dmarc.<domain>`), `organizational` (found at the Organizational Domain: by the Tree Walk, RFC 9989 4.10.2, or by the PSL with `--dmarc-discovery rfc7489`), `public-suffix` (RFC 9989: the `psd=y` record of the Public Suffix Domain, when the Organizational Domain below it has none); null when no record"),
            C::new("dmarc_p", Utf8, |f| Str(f.p.as_deref()))
                .doc("`none`, `quarantine`, `reject` as published in the record used (for an `organizational` record, the policy of the domain itself is its `sp`, else `p`); null when no valid record"),
            C::new("dmarc_sp", Utf8, |f| Str(f.sp.as_deref()))
                .doc("subdomain policy as published"),
            C::new("dmarc_pct", UInt8, |f| U8(f.pct))
                .doc("as published (null when absent or out of range); RFC 9989 removed `pct`: a record with it also has a `removed-tag` warning"),
            C::new("dmarc_rua", ListUtf8, |f| StrList(f.used(&f.rua)))
                .doc("aggregate report URIs of the record used, as written; null when no valid record"),
            C::new("dmarc_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("`missing-p`, `invalid-p`, `invalid-sp`, `invalid-np`, `invalid-pct`, `invalid-rua`, `multiple-records`, `duplicate-tag`, `syntax`, ... (full tag validation, RFC 9989 4.7-4.8 and RFC 7489 6.3), warnings that leave the record valid: `unknown-tag` (RFC 9989 4.7: ignored), `removed-tag` (`pct`, `rf`, `ri`: removed by RFC 9989, their values still in their columns); `rua-authorization-temperror` (an external destination's authorisation query failed: it is in neither list below), `dns-temperror`"),
        ]
    }

    /// The DMARCbis tags, the effective policy and the report destinations' authorisation
    /// (see [`DmarcFindings::columns`]).
    #[rustfmt::skip]
    pub fn later_columns() -> Vec<Column<DmarcFindings>> {
        type C = Column<DmarcFindings>;
        vec![
            C::new("dmarc_np", Utf8, |f| Str(f.np.as_deref()))
                .doc("RFC 9989 `np` (policy for non-existent subdomains) as published in the record used, null when absent"),
            C::new("dmarc_adkim", Utf8, |f| Str(f.adkim.as_deref()))
                .doc("`r` or `s` as published"),
            C::new("dmarc_aspf", Utf8, |f| Str(f.aspf.as_deref()))
                .doc("`r` or `s` as published"),
            C::new("dmarc_ruf", ListUtf8, |f| StrList(f.used(&f.ruf)))
                .doc("failure report URIs of the record used, as written; null when no valid record"),
            C::new("dmarc_effective_p", Utf8, |f| Str(f.effective_p.as_deref()))
                .doc("the policy a receiver applies to the domain: `p` of a record found at the domain; of one found above it, `sp` (else `p`) for a domain that exists, `np` (else `sp`, else `p`) for one that does not (RFC 9989 4.10.1 and 4.7; RFC 7489 has no `np`); `none` for an invalid record with a valid `rua` (RFC 9989 4.10.1, RFC 7489 6.6.3 step 6: act as if `p=none`) and, by RFC 9989 4.7, for one whose only fault is a missing `p`; null when no record applies (none, several, temperror, invalid without `rua`)"),
            C::new("dmarc_rua_authorized", ListUtf8, |f| StrList(f.rua_authorized.as_deref()))
                .doc("`rua` and `ruf` destination domains outside the record's Organizational Domain that authorise the reports: a `v=DMARC1` TXT record at `<record domain>._report._dmarc.<destination>` (RFC 7489 7.1); null without a record"),
            C::new("dmarc_rua_unauthorized", ListUtf8, |f| StrList(f.rua_unauthorized.as_deref()))
                .doc("external `rua` and `ruf` destinations without that record (receivers will not send them reports)"),
            C::new("dmarc_policy_domain", Utf8, |f| Str(f.policy_domain.as_deref()))
                .doc("the name whose `_dmarc` record gives `dmarc_effective_p` (the domain itself, or the Organizational or Public Suffix Domain found by discovery), null when no record applies"),
            C::new("dmarc_psd", Utf8, |f| Str(f.psd.as_deref()))
                .doc("RFC 9989 `psd` as published in the record used (`y`, `n`, `u`), null when absent"),
            C::new("dmarc_t", Boolean, |f| Bool(f.t))
                .doc("RFC 9989 `t` (testing mode) of the record used: `t=y` true, `t=n` false, null when absent"),
            C::new("dmarc_methods_differ", Boolean, |f| Bool(f.methods_differ))
                .doc("the other discovery method (RFC 7489's PSL when the default RFC 9989 Tree Walk is used, and the reverse) gives another `dmarc_effective_p` or `dmarc_policy_domain`; null when the domain's DMARC was not asked (a failed probe, or its zone did not answer)"),
        ]
    }
}

pub use crate::checks::Selection;

/// The records at one `_dmarc` name after discarding non-DMARC ones (RFC 7489 6.6.3 step 4);
/// several mean none applies (step 5).
pub fn select(answer: &Lookup<String>) -> Selection {
    super::select_records(answer, is_dmarc_record)
}

/// One `_dmarc` name's findings, without discovery (that is [`discover`]).
impl TxtPolicy for DmarcFindings {
    fn is_record(txt: &str) -> bool {
        is_dmarc_record(txt)
    }

    fn none() -> DmarcFindings {
        DmarcFindings::empty(DmarcStatus::None)
    }

    /// A row for a lookup that failed transiently; `reason` is the resolver's account of it.
    fn temperror(reason: &str) -> DmarcFindings {
        let mut f = DmarcFindings::empty(DmarcStatus::TempError);
        f.errors.push(problem(Code::DnsTempError, reason));
        f
    }

    fn one(record: String) -> DmarcFindings {
        let parsed = parse(&record);
        DmarcFindings::from_record(&record, parsed, DiscoveryMode::Rfc9989)
    }

    fn multiple(records: Vec<String>) -> DmarcFindings {
        multiple(&records)
    }
}

fn multiple(rs: &[String]) -> DmarcFindings {
    // Report the first raw so the row shows what was published, but no policy applies (step 5:
    // DMARC processing is not applied), so no tag of any of them is reported.
    let mut f = DmarcFindings::empty(DmarcStatus::Invalid);
    f.record = Some(rs[0].clone());
    f.errors.push(problem(
        Code::MultipleRecords,
        format_args!(
            "{} v=DMARC1 records (RFC 7489 6.6.3: none is used)",
            rs.len()
        ),
    ));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn findings(records: &[String]) -> DmarcFindings {
        DmarcFindings::from_lookup("_dmarc.x", &Lookup::Records(records.to_vec()))
    }

    /// RFC 7489 6.6.3: tags come only from a record that is used; `effective_p` is what a
    /// receiver applies.
    #[test]
    fn only_a_record_that_is_used_gives_tags() {
        // (records, source, status, p, effective)
        type Case = (
            &'static [&'static str],
            DmarcSource,
            DmarcStatus,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (
                &["v=DMARC1; p=quarantine; sp=block; rua=mailto:a@x.example"],
                DmarcSource::Domain,
                DmarcStatus::Invalid,
                None,
                Some("none"),
            ),
            (
                &["v=DMARC1; p=quarantine; sp=block"],
                DmarcSource::Domain,
                DmarcStatus::Invalid,
                None,
                None,
            ),
            (
                &["v=DMARC1; p=bogus; rua=mailto:a@x.example"],
                DmarcSource::Domain,
                DmarcStatus::Invalid,
                None,
                Some("none"),
            ),
            (
                &["v=DMARC1; p=none", "v=DMARC1; p=reject"],
                DmarcSource::Domain,
                DmarcStatus::Invalid,
                None,
                None,
            ),
            (
                &["v=DMARC1; p=reject; sp=none"],
                DmarcSource::Domain,
                DmarcStatus::Valid,
                Some("reject"),
                Some("reject"),
            ),
            (
                &["v=DMARC1; p=reject; sp=none"],
                DmarcSource::Organizational,
                DmarcStatus::Valid,
                Some("reject"),
                Some("none"),
            ),
            (
                &["v=DMARC1; p=quarantine"],
                DmarcSource::Organizational,
                DmarcStatus::Valid,
                Some("quarantine"),
                Some("quarantine"),
            ),
        ];
        for (records, source, status, p, effective) in cases {
            let f = findings(&s(records)).found_at(source.clone(), "x.example", false);
            assert_eq!(f.status, *status, "{records:?}");
            assert_eq!(f.p.as_deref(), *p, "{records:?}");
            assert_eq!(f.effective_p.as_deref(), *effective, "{records:?}");
            if *status != DmarcStatus::Valid {
                assert_eq!(
                    (f.sp, f.pct, f.rua.len(), f.parsed.is_some()),
                    (None, None, 0, false)
                );
                assert!(f.record.is_some(), "the raw record is kept");
            }
        }
    }

    #[test]
    fn findings_table() {
        let f = findings(&s(&[
            "v=spf1 -all",
            "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:a@x.example,mailto:b@x.example",
        ]));
        assert_eq!(f.status, DmarcStatus::Valid);
        assert_eq!(
            (f.p.as_deref(), f.sp.as_deref(), f.pct),
            (Some("reject"), Some("quarantine"), Some(50))
        );
        assert_eq!(f.rua, ["mailto:a@x.example", "mailto:b@x.example"]);

        let f = findings(&s(&["v=DMARC1; rua=mailto:x@example.com"]));
        assert_eq!((f.status, f.p.as_deref()), (DmarcStatus::Invalid, None));
        assert!(
            f.record.is_some(),
            "an invalid record is still reported raw"
        );

        let f = findings(&s(&["v=DMARC1; p=none", "v=DMARC1; p=reject"]));
        assert_eq!((f.status, f.p.as_deref()), (DmarcStatus::Invalid, None));
        assert!(f.errors[0].starts_with("multiple-records: 2"));
        assert_eq!(f.record.as_deref(), Some("v=DMARC1; p=none"));

        assert_eq!(findings(&s(&["other"])).status, DmarcStatus::None);
        assert_eq!(findings(&[]).status, DmarcStatus::None);
        assert_eq!(
            DmarcFindings::temperror("timeout").status.as_str(),
            "temperror"
        );
    }

    #[test]
    fn select_table() {
        let r = |v: &[&str]| Lookup::Records(s(v));
        assert_eq!(select(&r(&["x"])), Selection::None);
        assert_eq!(
            select(&r(&["x", "v=DMARC1; p=none"])),
            Selection::One("v=DMARC1; p=none".into())
        );
        assert!(matches!(
            select(&r(&["v=DMARC1; p=none", "v=DMARC1"])),
            Selection::Multiple(v) if v.len() == 2
        ));
        assert_eq!(select(&Lookup::NoData), Selection::None);
        assert_eq!(select(&Lookup::NxDomain), Selection::NxDomain);
        assert_eq!(
            select(&Lookup::TempError("timeout".into())),
            Selection::TempError("timeout".into())
        );
    }
}
