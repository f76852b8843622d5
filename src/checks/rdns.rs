//! Reverse DNS of an address: its PTR names and forward confirmation (FCrDNS): some PTR name
//! resolves (A or AAAA) back to the address, the test receivers apply to a sending host's name
//! (RFC 8601 2.7.3 "iprev"; RFC 1912 2.1 asks every PTR to have a matching A).

use crate::checks::problem::{Code, problem};
use std::net::IpAddr;

use super::Lookup;
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;
use crate::dns::Status;

/// PTR names whose forward addresses are checked (RFC 7208 4.6.4 uses the same bound for ptr).
pub const MAX_PTR_NAMES: usize = 10;

/// The reverse DNS columns of a checked host.
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseFindings {
    /// Of the PTR query.
    pub status: Status,
    /// The PTR names, sorted; None when the PTR query failed.
    pub ptr: Option<Vec<String>>,
    /// See [`fcrdns`].
    pub fcrdns: Option<bool>,
    pub errors: Vec<String>,
}

impl ReverseFindings {
    /// The PTR query's outcome before anything is known from it.
    pub fn new(status: Status) -> ReverseFindings {
        ReverseFindings {
            status,
            ptr: None,
            fcrdns: None,
            errors: Vec::new(),
        }
    }

    /// Every `Option` is `Some` and every list is non-empty: the column tests see each
    /// accessor's non-null value.
    #[cfg(test)]
    pub(crate) fn full() -> ReverseFindings {
        let l = || vec!["a".to_string(), "b".to_string()];
        ReverseFindings {
            status: Status::Ok,
            ptr: Some(l()),
            fcrdns: Some(true),
            errors: l(),
        }
    }

    /// The hosts row's PTR columns, over the address's reverse DNS.
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<ReverseFindings>> {
        type C = Column<ReverseFindings>;
        vec![
            C::status("ptr_status", |f| Some(f.status.as_str())).required()
                .doc("status of the PTR query"),
            C::new("ptr", ListUtf8, |f| StrList(f.ptr.as_deref()))
                .doc("PTR names, sorted; empty when there is none (nxdomain/nodata); null when the query failed"),
            C::new("fcrdns", Boolean, |f| Bool(f.fcrdns))
                .doc("some PTR name (the first 10) resolves back (A or AAAA) to this ip; false without PTR; null when the PTR query or a forward lookup that could have confirmed failed"),
            C::new("ptr_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("`dns-<status>`, `forward-lookup`, `ptr-too-many`"),
        ]
    }
}

/// The PTR names of an answer, sorted and each once, and the ones to confirm (the first
/// [`MAX_PTR_NAMES`]); `None` when the PTR query failed (the names are unknown, not absent).
pub fn ptr_names(ptr: &Lookup<String>) -> Option<(Vec<String>, Vec<String>)> {
    if ptr.is_failure() {
        return None;
    }
    let mut names = ptr.records().to_vec();
    names.sort();
    names.dedup();
    let mut errors = Vec::new();
    if names.len() > MAX_PTR_NAMES {
        errors.push(problem(
            Code::PtrTooMany,
            format_args!("{} names, the first {MAX_PTR_NAMES} checked", names.len()),
        ));
    }
    Some((names, errors))
}

/// FCrDNS from the forward lookups of the PTR names: `Some(true)` when some name has the address,
/// `Some(false)` when none has it and every lookup was answered, `None` when a failed lookup
/// might have confirmed it (unknown, not false). Failed lookups are listed as errors.
pub fn fcrdns(ip: IpAddr, forwards: &[(String, Lookup<IpAddr>)]) -> (Option<bool>, Vec<String>) {
    if forwards.iter().any(|(_, a)| a.records().contains(&ip)) {
        return (Some(true), Vec::new());
    }
    let errors: Vec<String> = forwards
        .iter()
        .filter_map(|(name, a)| match a {
            Lookup::TempError(e) => Some(problem(Code::ForwardLookup, format_args!("{name}: {e}"))),
            _ => None,
        })
        .collect();
    let verdict = if errors.is_empty() { Some(false) } else { None };
    (verdict, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forward_confirmation() {
        use Lookup::*;
        let a = |v: &[&str]| Records(v.iter().map(|s| ip(s)).collect());
        let fail = || TempError("timeout: no answer".into());
        let me = "192.0.2.1";
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, Vec<(&str, Lookup<IpAddr>)>, Option<bool>, usize)] = &[
            ("no PTR names", vec![], Some(false), 0),
            (
                "the name has the address",
                vec![("a", a(&[me]))],
                Some(true),
                0,
            ),
            (
                "another address",
                vec![("a", a(&["192.0.2.9"]))],
                Some(false),
                0,
            ),
            (
                "the name does not exist",
                vec![("a", NxDomain)],
                Some(false),
                0,
            ),
            ("no A record", vec![("a", NoData)], Some(false), 0),
            (
                "a failure could have confirmed",
                vec![("a", NoData), ("b", fail())],
                None,
                1,
            ),
            (
                "one confirms, a failure does not matter",
                vec![("a", fail()), ("b", a(&[me]))],
                Some(true),
                0,
            ),
            (
                "among several addresses",
                vec![("a", a(&["192.0.2.9", me]))],
                Some(true),
                0,
            ),
        ];
        for (what, forwards, want, errors) in cases {
            let f: Vec<(String, Lookup<IpAddr>)> = forwards
                .iter()
                .map(|(n, l)| (n.to_string(), l.clone()))
                .collect();
            let (got, errs) = fcrdns(ip(me), &f);
            assert_eq!(got, *want, "{what}");
            assert_eq!(errs.len(), *errors, "{what}: {errs:?}");
        }
        let (_, errs) = fcrdns(ip(me), &[("mx.example".into(), fail())]);
        assert_eq!(errs, ["forward-lookup: mx.example: timeout: no answer"]);
    }

    #[test]
    fn names_sorted_once_and_bounded() {
        let l = Lookup::Records(vec![
            "b.example".to_string(),
            "a.example".into(),
            "b.example".into(),
        ]);
        let (names, errs) = ptr_names(&l).unwrap();
        assert_eq!(names, ["a.example", "b.example"]);
        assert!(errs.is_empty());
        assert_eq!(ptr_names(&Lookup::NxDomain), Some((vec![], vec![])));
        assert_eq!(ptr_names(&Lookup::TempError("servfail".into())), None);
        let many = Lookup::Records((0..12).map(|i| format!("h{i:02}.example")).collect());
        let (names, errs) = ptr_names(&many).unwrap();
        assert_eq!(names.len(), 12, "all names are reported");
        assert_eq!(errs, ["ptr-too-many: 12 names, the first 10 checked"]);
    }
}
