//! The SPF columns of a domain row: what the walk of [`super::analyze`] found, as the output
//! says it (a figure that means nothing without a single walked record is null, not a false 0).
//! The one file of the module that refers to the crate's output types.

use super::analyze::{ProviderRow, SpfAnalysis, SpfStatus, providers};
use super::record::Qualifier;
use crate::checks::problem::{Code, problem};
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;

/// The `spf_*` columns of one domain.
#[derive(Debug, Clone, PartialEq)]
pub struct SpfFindings {
    pub status: SpfStatus,
    /// Null when the domain's own TXT query failed.
    pub records: Option<Vec<String>>,
    pub all: Option<Qualifier>,
    pub lookups: Option<u32>,
    pub void_lookups: Option<u32>,
    pub ipv4_authorized: Option<u64>,
    pub ipv6_prefixes: Option<u32>,
    pub errors: Vec<String>,
    /// Include and redirect targets walked, `depth name`, in walk order.
    pub include_tree: Vec<String>,
    /// Named problems: plus_all, neutral_all, wide_ranges, ptr_used, too_long, redirect_with_all,
    /// loop, spf_type99.
    pub flags: Vec<String>,
    /// Major senders the domain delegates to (datasets/spf_providers.csv).
    pub providers: Vec<String>,
    /// Every MX address of the domain gets `pass` from its own SPF; null without a valid record or
    /// without MX addresses. Set by the domain stage, which evaluates check_host() for them.
    pub mx_pass: Option<bool>,
}

impl SpfFindings {
    /// A domain that does not exist (RFC 8020): no record, nothing to walk.
    pub fn nxdomain() -> SpfFindings {
        SpfFindings {
            records: Some(Vec::new()),
            ..SpfFindings::unmeasured(SpfStatus::None)
        }
    }

    /// Not asked because the domain's zone did not answer: temperror with `reason`.
    pub fn temperror(reason: &str) -> SpfFindings {
        SpfFindings {
            errors: vec![problem(Code::DnsTempError, reason)],
            ..SpfFindings::unmeasured(SpfStatus::TempError)
        }
    }

    fn unmeasured(status: SpfStatus) -> SpfFindings {
        SpfFindings {
            status,
            records: None,
            all: None,
            lookups: None,
            void_lookups: None,
            ipv4_authorized: None,
            ipv6_prefixes: None,
            errors: Vec::new(),
            include_tree: Vec::new(),
            flags: Vec::new(),
            providers: Vec::new(),
            mx_pass: None,
        }
    }

    /// The columns of a walk; `table` names the providers.
    pub fn from_analysis(a: SpfAnalysis, table: &[ProviderRow]) -> SpfFindings {
        // The walk's figures mean something only where a single record was walked; with no
        // record, several, a syntax error, a failed lookup or --no-spf-walk they stay null.
        let walked = a.walked;
        // Unknown only when the domain's own TXT query failed; a failure deeper in the tree
        // leaves the record known.
        let top_failed = a.status == SpfStatus::TempError && a.records.is_empty();
        let mut flags = Vec::new();
        for (on, flag) in [
            (a.plus_all, "plus_all"),
            (a.neutral_all, "neutral_all"),
            (a.wide_ranges, "wide_ranges"),
            (a.ptr_used, "ptr_used"),
            (a.too_long, "too_long"),
            (a.redirect_with_all, "redirect_with_all"),
            (a.loop_detected, "loop"),
        ] {
            if on {
                flags.push(flag.to_string());
            }
        }
        SpfFindings {
            status: a.status,
            records: (!top_failed).then(|| {
                let mut r = a.records.clone();
                // RRset order carries no meaning and varies between answers.
                r.sort();
                r
            }),
            all: a.all.filter(|_| walked),
            lookups: walked.then_some(a.lookups),
            void_lookups: walked.then_some(a.void_lookups),
            ipv4_authorized: a.ipv4_authorized.filter(|_| walked),
            ipv6_prefixes: walked.then_some(a.ipv6_prefixes),
            providers: providers(&a.include_tree, table),
            include_tree: a
                .include_tree
                .iter()
                .filter(|(_, depth)| *depth > 0)
                .map(|(name, depth)| format!("{depth} {name}"))
                .collect(),
            flags,
            errors: a.errors,
            mx_pass: None,
        }
    }

    /// Its columns, over the findings.
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<SpfFindings>> {
        type C = Column<SpfFindings>;
        vec![
            C::status("spf_status", |f| Some(f.status.as_str())).required()
                .doc("`none` (no v=spf1 record), `valid`, `permerror` (syntax error, multiple records, lookup or void limit exceeded, include loop, include without record), `temperror` (a DNS lookup failed: the domain's TXT query, or one in the include/redirect tree that evaluation would reach before ending otherwise, RFC 7208 5.2; the walk goes on and its counts are kept). When evaluation would meet both, the status is the error it meets first"),
            C::new("spf_records", ListUtf8, |f| StrList(f.records.as_deref()))
                .doc("every TXT record at the domain starting with `v=spf1` (strings of one record joined without separator), sorted; null when the domain's own TXT query failed"),
            C::new("spf_all", Utf8, |f| Str(f.all.map(|s| s.as_str())))
                .doc("qualifier (`pass`, `neutral`, `softfail`, `fail`) of the `all` that ends evaluation at the top level after following `redirect=`; null when there is none"),
            C::new("spf_lookups", UInt32, |f| U32(f.lookups))
                .doc("DNS-querying terms (include, a, mx, ptr, exists, redirect) over the whole tree, RFC 7208 4.6.4, counted on past 10 (a tree with 23 shows 23); terms after a record's `all` are never evaluated and not counted; null without a single record to walk"),
            C::new("spf_void_lookups", UInt32, |f| U32(f.void_lookups))
                .doc("lookups in the tree that returned nxdomain or no records"),
            C::new("spf_ipv4_authorized", UInt64, |f| U64(f.ipv4_authorized))
                .doc("distinct IPv4 addresses that get `pass` through ip4/a/mx terms across includes and redirect, in first-match order (an earlier non-pass term shadows a later pass range), overlaps counted once; `+all` = 4294967296; null when the tree uses exists, ptr or macros, or a lookup in it failed. For a permerror tree it is what the published terms authorise (receivers return permerror instead)"),
            C::new("spf_ipv6_prefixes", UInt32, |f| U32(f.ipv6_prefixes))
                .doc("pass-authorised IPv6 prefixes (ip6 terms, AAAA through a/mx)"),
            C::new("spf_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("`syntax`, `unknown-mechanism`, `invalid-*`, `multiple-records`, `lookup-limit`, `void-limit`, `include-loop`, `include-none`, `dns-temperror`, ..."),
            C::new("spf_include_tree", ListUtf8, |f| StrList(Some(&f.include_tree)))
                .doc("include and redirect targets walked, `depth name`, in walk order"),
            C::new("spf_flags", ListUtf8, |f| StrList(Some(&f.flags)))
                .doc("`plus_all`, `neutral_all`, `wide_ranges` (pass ranges shorter than /16, or /32 for IPv6), `ptr_used` (deprecated, RFC 7208 5.5), `too_long` (record over 512 bytes), `redirect_with_all` (the redirect is ignored), `loop`, `spf_type99` (with `--spf-type99`: an obsolete RR type 99 record is still published)"),
            C::new("spf_providers", ListUtf8, |f| StrList(Some(&f.providers)))
                .doc("major senders the domain delegates to, from `datasets/spf_providers.csv` matched against the include tree"),
            C::new("spf_mx_pass", Boolean, |f| Bool(f.mx_pass))
                .doc("each of the domain's MX addresses (the first 4) gets `pass` from check_host() with the domain's own SPF; null without a valid record or without MX addresses"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(status: SpfStatus, records: &[&str], walked: bool) -> SpfAnalysis {
        SpfAnalysis {
            records: records.iter().map(|r| r.to_string()).collect(),
            all: Some(Qualifier::Fail),
            lookups: 12,
            void_lookups: 1,
            ipv4_authorized: Some(256),
            ipv6_prefixes: 0,
            include_tree: vec![("d.example".into(), 0), ("_spf.google.com".into(), 1)],
            plus_all: true,
            loop_detected: true,
            walked,
            ..SpfAnalysis::empty(status)
        }
    }

    #[test]
    fn figures_only_from_a_walked_record_and_records_unless_the_top_query_failed() {
        use SpfStatus::{PermError, TempError};
        let table = super::super::load_providers("name,include\ngoogle,_spf.google.com\n");
        // (case, analysis, records, lookups, all, ipv4)
        let cases = [
            (
                "walked",
                walk(PermError, &["v=spf1 b", "v=spf1 a"], true),
                Some(vec!["v=spf1 a", "v=spf1 b"]),
                Some(12),
                Some(Qualifier::Fail),
                Some(256),
            ),
            (
                "several records: nothing walked",
                walk(PermError, &["v=spf1 a", "v=spf1 b"], false),
                Some(vec!["v=spf1 a", "v=spf1 b"]),
                None,
                None,
                None,
            ),
            (
                "the domain's own TXT failed",
                walk(TempError, &[], false),
                None,
                None,
                None,
                None,
            ),
            (
                "a failure deeper in the tree keeps the record",
                walk(TempError, &["v=spf1 include:x -all"], true),
                Some(vec!["v=spf1 include:x -all"]),
                Some(12),
                Some(Qualifier::Fail),
                Some(256),
            ),
        ];
        for (case, a, records, lookups, all, ipv4) in cases {
            let f = SpfFindings::from_analysis(a, &table);
            let records = records.map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(f.records, records, "{case}");
            assert_eq!(
                (f.lookups, f.all, f.ipv4_authorized),
                (lookups, all, ipv4),
                "{case}"
            );
            assert_eq!(f.void_lookups, lookups.map(|_| 1), "{case}");
            assert_eq!(
                f.include_tree,
                ["1 _spf.google.com"],
                "{case}: depth 0 is the domain"
            );
            assert_eq!(f.flags, ["plus_all", "loop"], "{case}");
            assert_eq!(f.providers, ["google"], "{case}");
            assert_eq!(f.mx_pass, None, "{case}: the stage decides it");
        }
    }

    #[test]
    fn a_domain_that_does_not_exist_has_no_record_and_one_not_asked_is_unknown() {
        let n = SpfFindings::nxdomain();
        assert_eq!((n.status, n.records), (SpfStatus::None, Some(vec![])));
        let t = SpfFindings::temperror("not asked: x");
        assert_eq!((t.status, t.records), (SpfStatus::TempError, None));
        assert_eq!(t.errors, ["dns-temperror: not asked: x"]);
    }
}
