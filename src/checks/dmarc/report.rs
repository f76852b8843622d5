//! External report destinations (RFC 7489 7.1): a `rua` or `ruf` address outside the record's
//! Organizational Domain receives reports only if its domain publishes the authorisation record.

use crate::checks::problem::{Code, problem};
use std::collections::HashMap;

use super::Lookup;
use super::psl::{SuffixList, organizational_domain_with, to_ascii_name};
use super::record::{ReportUri, is_dmarc_record};

/// The report destinations outside the record's Organizational Domain, each with the name whose
/// TXT records must authorize it: `(dest_domain, "<record domain>._report._dmarc.<dest domain>")`
/// (RFC 7489 7.1). `record_domain` is the domain whose `_dmarc` record listed the URIs (the
/// findings' `policy_domain`). Each
/// destination domain appears once, in the order first seen.
pub fn external_destinations<'a>(
    record_domain: &str,
    uris: impl IntoIterator<Item = &'a ReportUri>,
    list: Option<&SuffixList>,
) -> Vec<(String, String)> {
    let Some(record) = to_ascii_name(record_domain) else {
        return Vec::new();
    };
    let record_org = organizational_domain_with(&record, list).unwrap_or_else(|| record.clone());
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for dest in uris.into_iter().filter_map(|u| u.domain.as_deref()) {
        let Some(dest) = to_ascii_name(dest) else {
            continue;
        };
        let dest_org = organizational_domain_with(&dest, list).unwrap_or_else(|| dest.clone());
        if dest_org != record_org && seen.insert(dest.clone(), ()).is_none() {
            out.push((dest.clone(), format!("{record}._report._dmarc.{dest}")));
        }
    }
    out
}

/// The external destinations judged: the `dmarc_rua_authorized` / `dmarc_rua_unauthorized`
/// columns, and the lookups that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    pub authorized: Vec<String>,
    pub unauthorized: Vec<String>,
    /// `rua-authorization-temperror: <dest>: <name> TXT <reason>`, for the DMARC errors.
    pub errors: Vec<String>,
}

/// Judges each destination's answer at its authorisation name (the pairs of
/// [`external_destinations`], each with the TXT answer there). A failed lookup leaves the
/// destination in neither list.
pub fn authorization<'a>(
    answers: impl IntoIterator<Item = (&'a str, &'a str, &'a Lookup<String>)>,
) -> Authorization {
    let mut out = Authorization::default();
    for (dest, name, answer) in answers {
        match answer {
            Lookup::TempError(reason) => out.errors.push(problem(
                Code::RuaAuthorizationTempError,
                format_args!("{dest}: {name} TXT {reason}"),
            )),
            _ if authorizes(answer.records()) => out.authorized.push(dest.to_string()),
            _ => out.unauthorized.push(dest.to_string()),
        }
    }
    out
}

/// RFC 7489 7.1 step 3: the destination authorizes the reports when its answer includes a TXT
/// record that begins with `v=DMARC1`.
pub fn authorizes(txt_records: &[String]) -> bool {
    txt_records.iter().any(|t| is_dmarc_record(t))
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn external_destinations_table() {
        let r = parse(
            "v=DMARC1; p=none; rua=mailto:d@example.com,mailto:a@reports.vendor.example,\
             mailto:b@reports.vendor.example; ruf=mailto:f@mail.example.com,mailto:x@other.co.uk,https://h.example/",
        );
        let got = external_destinations("example.com", r.rua.iter().chain(&r.ruf), None);
        assert_eq!(
            got,
            [
                (
                    "reports.vendor.example".to_string(),
                    "example.com._report._dmarc.reports.vendor.example".to_string()
                ),
                (
                    "other.co.uk".to_string(),
                    "example.com._report._dmarc.other.co.uk".to_string()
                ),
            ]
        );
        assert!(external_destinations("sub.example.com", &r.rua[..1], None).is_empty());
    }

    #[test]
    fn authorization_table() {
        let yes = Lookup::Records(s(&["v=DMARC1"]));
        let no = Lookup::Records(s(&["v=spf1 -all"]));
        let failed = Lookup::TempError("timeout".into());
        let got = authorization([
            ("a.example", "x._report._dmarc.a.example", &yes),
            ("b.example", "x._report._dmarc.b.example", &no),
            ("c.example", "x._report._dmarc.c.example", &Lookup::NxDomain),
            ("d.example", "x._report._dmarc.d.example", &failed),
            ("e.example", "x._report._dmarc.e.example", &Lookup::NoData),
        ]);
        assert_eq!(got.authorized, ["a.example"]);
        assert_eq!(got.unauthorized, ["b.example", "c.example", "e.example"]);
        assert_eq!(
            got.errors,
            ["rua-authorization-temperror: d.example: x._report._dmarc.d.example TXT timeout"]
        );
    }

    #[test]
    fn authorizes_table() {
        for (txt, want) in [
            (vec!["v=DMARC1"], true),
            (vec!["v=DMARC1; rua=mailto:x@y.example"], true),
            (vec!["v=spf1 -all"], false),
            (vec![], false),
        ] {
            assert_eq!(authorizes(&s(&txt)), want, "{txt:?}");
        }
    }
}
