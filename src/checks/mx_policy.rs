//! Problems in a domain's MX RRset: null MX misuse (RFC 7505), exchanges that are IP literals,
//! aliases, or have no address (RFC 5321 5.1, RFC 2181 10.3).
//!
//! Pure: the scanner passes the MX records and what it learnt resolving each exchange.

use crate::checks::problem::{Code, problem};
use std::collections::HashSet;

/// Lowercased, without the trailing dot; the root (`.` or ``) becomes ``.
fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// RFC 7505 3: a null MX is a single MX RR "with a RDATA section consisting of preference number
/// 0 and a zero-length label, written in master files as "."".
fn is_null(exchange: &str) -> bool {
    norm(exchange).is_empty()
}

/// An exchange written as an address: `[192.0.2.1]`, `[IPv6:...]`, or a name that is a dotted
/// quad. RFC 1035 3.3.9 makes EXCHANGE a domain-name, and RFC 5321 5.1 resolves it as a host
/// name; an address there resolves only if someone published a name that looks like one.
fn is_ip_literal(exchange: &str) -> bool {
    let x = exchange.trim_end_matches('.');
    if x.starts_with('[') && x.ends_with(']') {
        return true;
    }
    let parts: Vec<&str> = x.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// The problems with an MX RRset, each `code: text`:
///
/// - `null-mx-mixed`: RFC 7505 3: "A domain that advertises a null MX MUST NOT advertise any
///   other MX RR."
/// - `null-mx-preference`: RFC 7505 3: the null MX has preference 0.
/// - `mx-ip-literal`: RFC 5321 5.1 / RFC 7505 2 (and RFC 1035 3.3.9): the exchange must be a
///   host name, not an address.
/// - `mx-cname`: RFC 2181 10.3 / RFC 5321 5.1: the exchange must not be an alias.
/// - `mx-no-address`: RFC 5321 5.1: an exchange with no A or AAAA record cannot be reached.
///
/// `mx` is `(preference, exchange)` with `""` (or `"."`) for the root. `cname_exchanges` holds
/// the exchanges whose address lookup met a CNAME; `addressless` those that had neither A nor
/// AAAA. Names compare case-insensitively, trailing dot ignored. Each exchange is reported once
/// per code.
pub fn mx_problems(
    mx: &[(u16, String)],
    cname_exchanges: &HashSet<String>,
    addressless: &HashSet<String>,
) -> Vec<String> {
    let mut out = rrset_problems(mx);
    out.extend(exchange_problems(mx, cname_exchanges, addressless));
    out
}

/// The problems visible in the MX RRset alone: `null-mx-mixed`, `null-mx-preference`,
/// `mx-ip-literal` (see [`mx_problems`]). [`crate::checks::mx::mx_findings`] reports these.
pub fn rrset_problems(mx: &[(u16, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let nulls: Vec<u16> = mx
        .iter()
        .filter(|(_, x)| is_null(x))
        .map(|(p, _)| *p)
        .collect();
    if !nulls.is_empty() && mx.len() > nulls.len() {
        out.push(problem(
            Code::NullMxMixed,
            format_args!(
                "a null MX among {} other MX records (RFC 7505 3: MUST NOT)",
                mx.len() - nulls.len()
            ),
        ));
    }
    if nulls.len() > 1 {
        out.push(problem(
            Code::NullMxMixed,
            format_args!("{} null MX records (RFC 7505 3: a single one)", nulls.len()),
        ));
    }
    for p in nulls.iter().filter(|&&p| p != 0) {
        out.push(problem(
            Code::NullMxPreference,
            format_args!("null MX with preference {p} (RFC 7505 3: 0)"),
        ));
    }
    for x in distinct_exchanges(mx) {
        if is_ip_literal(&x) {
            out.push(problem(
                Code::MxIpLiteral,
                format_args!("{x} (RFC 5321 5.1: the exchange must be a host name)"),
            ));
        }
    }
    out
}

/// The problems found resolving the exchanges: `mx-cname`, `mx-no-address` (see
/// [`mx_problems`]). The pipeline reports these once the address lookups are done.
pub fn exchange_problems(
    mx: &[(u16, String)],
    cname_exchanges: &HashSet<String>,
    addressless: &HashSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let cnames: HashSet<String> = cname_exchanges.iter().map(|x| norm(x)).collect();
    let no_addr: HashSet<String> = addressless.iter().map(|x| norm(x)).collect();
    for x in distinct_exchanges(mx) {
        if cnames.contains(&x) {
            out.push(problem(
                Code::MxCname,
                format_args!("{x} is an alias (RFC 2181 10.3: MUST NOT)"),
            ));
        }
        if no_addr.contains(&x) {
            out.push(problem(
                Code::MxNoAddress,
                format_args!("{x} has no A or AAAA record (RFC 5321 5.1)"),
            ));
        }
    }
    out
}

/// The non-root exchanges, normalised, each once, in RRset order.
fn distinct_exchanges(mx: &[(u16, String)]) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::new();
    mx.iter()
        .map(|(_, x)| norm(x))
        .filter(|x| !x.is_empty() && seen.insert(x.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> HashSet<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn codes(v: &[String]) -> String {
        v.iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn problems_table() {
        // (mx, cname set, addressless set, codes)
        type Case<'a> = (&'a [(u16, &'a str)], &'a [&'a str], &'a [&'a str], &'a str);
        let cases: &[Case] = &[
            (
                &[(10, "mx1.example.com"), (20, "mx2.example.com.")],
                &[],
                &[],
                "",
            ),
            (&[(0, "")], &[], &[], ""),
            (&[(0, ".")], &[], &[], ""),
            (&[(10, ".")], &[], &[], "null-mx-preference"),
            (
                &[(0, ""), (10, "mx.example.com")],
                &[],
                &[],
                "null-mx-mixed",
            ),
            (&[(0, ""), (0, ".")], &[], &[], "null-mx-mixed"),
            (&[(10, "[192.0.2.1]")], &[], &[], "mx-ip-literal"),
            (&[(10, "192.0.2.1")], &[], &[], "mx-ip-literal"),
            (&[(10, "192.0.2.1.")], &[], &[], "mx-ip-literal"),
            (&[(10, "192.0.2.256")], &[], &[], ""),
            (&[(10, "1.2.3.example.com")], &[], &[], ""),
            (
                &[(10, "Alias.Example.com.")],
                &["alias.example.com"],
                &[],
                "mx-cname",
            ),
            (
                &[(10, "mx.example.com"), (20, "MX.example.com")],
                &[],
                &["mx.example.com."],
                "mx-no-address",
            ),
            (
                &[(10, "a.example.com")],
                &["a.example.com"],
                &["a.example.com"],
                "mx-cname,mx-no-address",
            ),
            (&[], &[], &[], ""),
        ];
        for (mx, cn, na, want) in cases {
            let mx: Vec<(u16, String)> = mx.iter().map(|(p, x)| (*p, x.to_string())).collect();
            let got = mx_problems(&mx, &set(cn), &set(na));
            assert_eq!(codes(&got), *want, "{mx:?}: {got:?}");
        }
    }
}
