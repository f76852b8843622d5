//! MTA-STS (RFC 8461): the `_mta-sts.<domain>` TXT record (3.1), the policy file served at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` (3.2, 3.3), and MX pattern matching (4.1).
//!
//! Pure: the scanner fetches the TXT records and the policy body and passes them in.

use super::TxtPolicy;
use super::taglist::{self, Part};
use crate::checks::problem::{Code, problem};
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;

/// The scan outcome for one domain's `_mta-sts` lookup. `Invalid` (RFC 8461 3.1): several
/// records, or a syntactically invalid one: "senders MUST assume the recipient domain does not
/// have an available MTA-STS Policy".
pub type StsStatus = super::RecordStatus;

/// A parsed `_mta-sts` TXT record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StsRecord {
    pub id: Option<String>,
    /// `sts-extension` fields, `(name, value)`.
    pub extensions: Vec<(String, String)>,
    pub errors: Vec<String>,
}

impl StsRecord {
    pub fn valid(&self) -> bool {
        self.id.is_some() && self.errors.is_empty()
    }
}

/// The MTA-STS TXT columns of a scan row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsTxtFindings {
    pub status: StsStatus,
    pub record: Option<String>,
    pub id: Option<String>,
    pub errors: Vec<String>,
}

impl TxtPolicy for StsTxtFindings {
    fn is_record(txt: &str) -> bool {
        is_sts_record(txt)
    }

    fn none() -> StsTxtFindings {
        StsTxtFindings {
            status: StsStatus::None,
            record: None,
            id: None,
            errors: Vec::new(),
        }
    }

    fn temperror(reason: &str) -> StsTxtFindings {
        StsTxtFindings {
            status: StsStatus::TempError,
            errors: vec![problem(Code::DnsTempError, reason)],
            ..StsTxtFindings::none()
        }
    }

    fn one(record: String) -> StsTxtFindings {
        let r = parse_record(&record);
        let valid = r.valid();
        StsTxtFindings {
            status: if valid {
                StsStatus::Valid
            } else {
                StsStatus::Invalid
            },
            record: Some(record),
            // A record that is not used has no id to report (RFC 8461 3.1: senders ignore it).
            id: if valid { r.id } else { None },
            errors: r.errors,
        }
    }

    fn multiple(records: Vec<String>) -> StsTxtFindings {
        StsTxtFindings {
            status: StsStatus::Invalid,
            errors: vec![problem(
                Code::MultipleRecords,
                format_args!(
                    "{} v=STSv1 records (RFC 8461 3.1: none is used)",
                    records.len()
                ),
            )],
            record: records.into_iter().next(),
            ..StsTxtFindings::none()
        }
    }
}

/// `mta_sts_policy_status`: what the fetched policy text is, or why none was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsPolicyStatus {
    Valid,
    Invalid,
    DnsError,
    ConnectError,
    TlsError,
    HttpError,
    Timeout,
}

impl StsPolicyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StsPolicyStatus::Valid => "valid",
            StsPolicyStatus::Invalid => "invalid",
            StsPolicyStatus::DnsError => "dns-error",
            StsPolicyStatus::ConnectError => "connect-error",
            StsPolicyStatus::TlsError => "tls-error",
            StsPolicyStatus::HttpError => "http-error",
            StsPolicyStatus::Timeout => "timeout",
        }
    }
}

/// The fetched policy (`--mta-sts-fetch`), or why none was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicyFindings {
    pub status: StsPolicyStatus,
    pub mode: Option<Mode>,
    pub max_age: Option<u32>,
    /// The policy's `mx` patterns; None without a policy.
    pub mx: Option<Vec<String>>,
    /// The domain's MX exchanges no pattern covers ([`uncovered_mx`]): set by the scan, which
    /// has both; None when the MX query failed or without a policy.
    pub mx_uncovered: Option<Vec<String>>,
    /// The policy's problems, or the fetch error.
    pub errors: Vec<String>,
}

impl StsPolicyFindings {
    /// A policy was fetched and parsed.
    pub fn fetched(policy: StsPolicy) -> StsPolicyFindings {
        StsPolicyFindings {
            status: if policy.valid() {
                StsPolicyStatus::Valid
            } else {
                StsPolicyStatus::Invalid
            },
            mode: policy.mode,
            max_age: policy.max_age,
            mx: Some(policy.mx),
            mx_uncovered: None,
            errors: policy.errors,
        }
    }

    /// No policy: the fetch failed (`status` says how, `error` what happened).
    pub fn not_fetched(status: StsPolicyStatus, error: String) -> StsPolicyFindings {
        StsPolicyFindings {
            status,
            mode: None,
            max_age: None,
            mx: None,
            mx_uncovered: None,
            errors: vec![error],
        }
    }
}

/// The MTA-STS columns of a domain row: the `_mta-sts` record and, with `--mta-sts-fetch`, the
/// policy it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsFindings {
    pub txt: StsTxtFindings,
    /// None when not fetched (no `--mta-sts-fetch`, or no valid record).
    pub policy: Option<StsPolicyFindings>,
}

impl StsFindings {
    /// The record, raw: the first run of the MTA-STS columns, after the DKIM selectors (see
    /// [`StsFindings::columns`]).
    #[rustfmt::skip]
    pub fn record_columns() -> Vec<Column<StsFindings>> {
        type C = Column<StsFindings>;
        vec![
            C::new("mta_sts", Utf8, |f| Str(f.txt.record.as_deref()))
                .doc("the `v=STSv1` record at `_mta-sts.<domain>` (RFC 8461 3.1), raw (the first when several); null when absent or the query failed"),
        ]
    }

    /// The domain row's MTA-STS columns after the DKIM ones: the record's verdict and the
    /// policy's. With [`StsFindings::record_columns`] they are two runs, the order the table
    /// grew in, kept for readers that select by position. Each `doc` is the column's row in
    /// docs/SCHEMA.md (`MXRAY_BLESS=1 cargo test --lib schema_doc`).
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<StsFindings>> {
        type C = Column<StsFindings>;
        vec![
            C::status("mta_sts_status", |f| Some(f.txt.status.as_str())).required()
                .doc("`none`, `valid`, `invalid` (several records, no or bad `id`, bad syntax: RFC 8461 3.1 says senders then assume no policy), `temperror`"),
            C::new("mta_sts_id", Utf8, |f| Str(f.txt.id.as_deref()))
                .doc("the `id` of a valid record; null otherwise"),
            C::new("mta_sts_errors", ListUtf8, |f| StrList(Some(&f.txt.errors)))
                .doc("`missing-id`, `invalid-id`, `multiple-records`, `syntax`, `dns-temperror`, ..."),
            C::new("mta_sts_policy_status", Utf8, |f| Str(f.policy.as_ref().map(|p| p.status.as_str())))
                .doc("with `--mta-sts-fetch`, for a domain with a `valid` record: `valid` or `invalid` (the policy text, RFC 8461 3.2), or why no policy was fetched: `dns-error` (no address for `mta-sts.<domain>`, looked up through the scan's resolver), `connect-error`, `tls-error` (handshake or certificate: checked against the Mozilla roots and `--mta-sts-ca`), `http-error` (status other than 200, redirects not followed (RFC 8461 3.3), Content-Type not `text/plain`, body over 64 KiB, bad framing), `timeout` (`--mta-sts-timeout`, default 10 s, for the whole fetch); null when not fetched"),
            C::new("mta_sts_mode", Utf8, |f| Str(f.policy.as_ref().and_then(|p| p.mode).map(Mode::as_str)))
                .doc("the policy's `mode`: `enforce`, `testing`, `none`"),
            C::new("mta_sts_max_age", UInt32, |f| U32(f.policy.as_ref().and_then(|p| p.max_age)))
                .doc("the policy's `max_age`, seconds"),
            C::new("mta_sts_mx", ListUtf8, |f| StrList(f.policy.as_ref().and_then(|p| p.mx.as_deref())))
                .doc("the policy's `mx` patterns"),
            C::new("mta_sts_mx_uncovered", ListUtf8, |f| StrList(f.policy.as_ref().and_then(|p| p.mx_uncovered.as_deref())))
                .doc("the domain's MX exchanges no `mx` pattern matches (RFC 8461 4.1: `*.` covers one leftmost label); null without a fetched policy or when the MX query failed"),
            C::new("mta_sts_policy_errors", ListUtf8, |f| StrList(Some(f.policy.as_ref().map_or(&[], |p| p.errors.as_slice()))))
                .doc("the policy's problems (`missing-mode`, `invalid-max-age`, `missing-mx`, ...) or the fetch error"),
        ]
    }
}

pub(super) const WSP: [char; 2] = [' ', '\t'];

/// RFC 8461 3.1: records "that do not begin with "v=STSv1;" are discarded". The ABNF's
/// `sts-sep = *WSP %x3B *WSP` allows WSP before the `;`, and a bare `v=STSv1` is kept so that
/// it is reported as missing its `id` rather than ignored.
pub fn is_sts_record(txt: &str) -> bool {
    txt.strip_prefix("v=STSv1")
        .is_some_and(|r| r.is_empty() || r.starts_with([';', ' ', '\t']))
}

/// `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`, shared by RFC 8461 3.1 and 3.2 and
/// RFC 8460 3.
pub(super) fn is_ext_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(a) if a.is_ascii_alphanumeric())
        && s.len() <= 32
        && c.all(|a| a.is_ascii_alphanumeric() || "_-.".contains(a))
}

/// A field of an MTA-STS or TLS-RPT record as `(offset, name, value)`; a part without `=` is
/// reported as RFC 8461 3.1's and RFC 8460 3's `name=value` syntax error.
pub(super) fn field<'a>(
    part: Part<'a>,
    errors: &mut Vec<String>,
) -> Option<(usize, &'a str, &'a str)> {
    match part {
        Part::Tag(t) => Some((t.offset, t.name, t.value)),
        Part::NoEquals { offset, text } | Part::BadName { offset, name: text } => {
            errors.push(problem(
                Code::Syntax,
                format_args!("byte {offset}: {text:?} is not name=value"),
            ));
            None
        }
    }
}

/// Parses the TXT record (RFC 8461 3.1):
///
/// ```text
/// sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep]
/// sts-field       = sts-id /                        ; Note that sts-id record
///                   sts-extension                   ; is required.
/// sts-version     = %s"v=STSv1"
/// sts-sep         = *WSP %x3B *WSP                  ; ";"
/// sts-id          = %s"id=" 1*32(ALPHA / DIGIT)     ; id=...
/// sts-extension   = sts-ext-name "=" sts-ext-value  ; name=value
/// sts-ext-name    = (ALPHA / DIGIT)
///                   *31(ALPHA / DIGIT / "_" / "-" / ".")
/// sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
///                   ; chars excluding "=", ";", SP, and control chars
/// ```
pub fn parse_record(txt: &str) -> StsRecord {
    let mut r = StsRecord::default();
    if !is_sts_record(txt) {
        r.errors.push(problem(
            Code::MissingVersion,
            "the record must begin with v=STSv1 (RFC 8461 3.1)",
        ));
    }
    for part in taglist::parse(txt, &taglist::STS) {
        let Some((at, name, value)) = field(part, &mut r.errors) else {
            continue;
        };
        if name == "id" {
            // An invalid first id does not hide a valid later one, so this is not the tag
            // list's duplicate flag.
            if r.id.is_some() {
                r.errors.push(problem(
                    Code::DuplicateId,
                    format_args!("byte {at} (the first one is used)"),
                ));
            } else if !value.is_empty()
                && value.len() <= 32
                && value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                r.id = Some(value.to_string());
            } else {
                r.errors.push(problem(
                    Code::InvalidId,
                    format_args!("{value:?} (1-32 letters or digits)"),
                ));
            }
        } else if is_ext_name(name)
            && !value.is_empty()
            && value
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b';')
        {
            r.extensions.push((name.to_string(), value.to_string()));
        } else {
            r.errors.push(problem(
                Code::Syntax,
                format_args!(
                    "byte {at}: {:?} is not a valid field",
                    format!("{name}={value}")
                ),
            ));
        }
    }
    if r.id.is_none() && !r.errors.iter().any(|e| e.starts_with("invalid-id")) {
        r.errors.push(problem(
            Code::MissingId,
            "no id= field (RFC 8461 3.1: required)",
        ));
    }
    r
}

/// RFC 8461 3.2 `sts-policy-mode-value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// RFC 8461 3.2: "max_age: Max lifetime of the policy (plaintext non-negative integer seconds,
/// maximum value of 31557600)".
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StsPolicy {
    pub version_ok: bool,
    pub mode: Option<Mode>,
    /// `mx` patterns, lowercased, in order.
    pub mx: Vec<String>,
    pub max_age: Option<u32>,
    pub extensions: Vec<(String, String)>,
    pub errors: Vec<String>,
}

impl StsPolicy {
    /// All required fields are present and valid: a sender could apply this policy.
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Parses the policy body (RFC 8461 3.2):
///
/// ```text
/// sts-policy-record        = sts-policy-field *WSP
///                            *(sts-policy-term sts-policy-field *WSP)
///                            [sts-policy-term]
/// sts-policy-field         = sts-policy-version /      ; required once
///                            sts-policy-mode    /      ; required once
///                            sts-policy-max-age /      ; required once
///                            sts-policy-mx /
///                            ; required at least once, except when
///                            ; mode is "none"
///                            sts-policy-extension      ; other fields
/// sts-policy-field-delim   = ":" *WSP
/// sts-policy-version-value = %s"STSv1"
/// sts-policy-mode-value    =  %s"testing" / %s"enforce" / %s"none"
/// sts-policy-mx-value      = ["*."] Domain
/// sts-policy-max-age-value = 1*10(DIGIT)
/// sts-policy-term          = LF / CRLF
/// ```
///
/// Field names and values are `%s` strings: case-sensitive.
pub fn parse_policy(text: &str) -> StsPolicy {
    let mut p = StsPolicy::default();
    let mut seen: Vec<&str> = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let lineno = n + 1;
        if line.trim_matches(WSP).is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            p.errors.push(problem(
                Code::Syntax,
                format_args!("line {lineno}: {line:?} is not name: value"),
            ));
            continue;
        };
        let value = value.trim_matches(WSP);
        if !is_ext_name(name) {
            p.errors.push(problem(
                Code::Syntax,
                format_args!("line {lineno}: {name:?} is not a field name"),
            ));
            continue;
        }
        if name != "mx" && matches!(name, "version" | "mode" | "max_age") {
            if seen.contains(&name) {
                p.errors.push(problem(
                    Code::DuplicateField,
                    format_args!("line {lineno}: {name} (required once, RFC 8461 3.2)"),
                ));
                continue;
            }
            seen.push(name);
        }
        match name {
            "version" if value == "STSv1" => p.version_ok = true,
            "version" => p.errors.push(problem(
                Code::InvalidVersion,
                format_args!("{value:?} (STSv1)"),
            )),
            "mode" => match value {
                "enforce" => p.mode = Some(Mode::Enforce),
                "testing" => p.mode = Some(Mode::Testing),
                "none" => p.mode = Some(Mode::None),
                _ => p.errors.push(problem(
                    Code::InvalidMode,
                    format_args!("{value:?} (enforce, testing or none)"),
                )),
            },
            "max_age" => match value.parse::<u64>() {
                Ok(s)
                    if value.len() <= 10
                        && value.bytes().all(|b| b.is_ascii_digit())
                        && s <= MAX_AGE_LIMIT as u64 =>
                {
                    p.max_age = Some(s as u32)
                }
                _ => p.errors.push(problem(
                    Code::InvalidMaxAge,
                    format_args!("{value:?} (0-{MAX_AGE_LIMIT} seconds)"),
                )),
            },
            "mx" => {
                if is_mx_pattern(value) {
                    p.mx.push(value.trim_end_matches('.').to_ascii_lowercase());
                } else {
                    p.errors.push(problem(
                        Code::InvalidMx,
                        format_args!("line {lineno}: {value:?} (a host name, or *. and a domain)"),
                    ));
                }
            }
            _ => p.extensions.push((name.to_string(), value.to_string())),
        }
    }
    if !seen.contains(&"version") {
        p.errors.push(problem(
            Code::MissingVersion,
            "no version: STSv1 (RFC 8461 3.2)",
        ));
    }
    if !seen.contains(&"mode") {
        p.errors
            .push(problem(Code::MissingMode, "no mode field (RFC 8461 3.2)"));
    }
    if !seen.contains(&"max_age") {
        p.errors.push(problem(
            Code::MissingMaxAge,
            "no max_age field (RFC 8461 3.2)",
        ));
    }
    if p.mx.is_empty() && matches!(p.mode, Some(Mode::Enforce | Mode::Testing)) {
        p.errors.push(problem(
            Code::MissingMx,
            "no mx field (RFC 8461 3.2: required unless mode is none)",
        ));
    }
    p
}

/// `["*."] Domain`, with RFC 5321's `Domain = sub-domain *("." sub-domain)` (LDH labels).
fn is_mx_pattern(v: &str) -> bool {
    let d = v.strip_prefix("*.").unwrap_or(v);
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// RFC 8461 4.1: "MX patterns are either fully specified names ("mail.example.com") or
/// wildcard patterns ... the wildcard character "*" ... matches only the leftmost label", so
/// `*.example.com` matches `mail.example.com` but neither `example.com` nor
/// `foo.mail.example.com`. Case-insensitive; a trailing dot is ignored.
pub fn mx_matches(pattern: &str, exchange: &str) -> bool {
    let (pattern, exchange) = (norm(pattern), norm(exchange));
    match pattern.strip_prefix("*.") {
        Some(parent) => exchange
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => !pattern.is_empty() && pattern == exchange,
    }
}

/// The MX exchanges no policy pattern covers: in `enforce` mode, mail to them would fail MX
/// validation (RFC 8461 4.1). A null MX exchange (empty or `.`) is skipped.
pub fn uncovered_mx(patterns: &[String], exchanges: &[String]) -> Vec<String> {
    exchanges
        .iter()
        .filter(|x| !norm(x).is_empty())
        .filter(|x| !patterns.iter().any(|p| mx_matches(p, x)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Lookup;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn codes(errors: &[String]) -> String {
        errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn txt_record_table() {
        // (record, id, error codes)
        for (rec, id, want) in [
            ("v=STSv1; id=20240101T000000;", Some("20240101T000000"), ""),
            ("v=STSv1;id=abc", Some("abc"), ""),
            ("v=STSv1 ; id=abc ; ext=val", Some("abc"), ""),
            ("v=STSv1;", None, "missing-id"),
            ("v=STSv1; id=", None, "invalid-id"),
            ("v=STSv1; id=2024-01-01", None, "invalid-id"),
            (
                "v=STSv1; id=abcdefghijklmnopqrstuvwxyz0123456",
                None,
                "invalid-id",
            ),
            ("v=STSv1; id=a; id=b", Some("a"), "duplicate-id"),
            ("v=STSv1; id=a; junk", Some("a"), "syntax"),
            ("v=STSv1; id=a; x=a b", Some("a"), "syntax"),
            ("v=STSv2; id=a", Some("a"), "missing-version"),
        ] {
            let r = parse_record(rec);
            assert_eq!(r.id.as_deref(), id, "{rec}");
            assert_eq!(codes(&r.errors), want, "{rec}: {:?}", r.errors);
        }
    }

    #[test]
    fn txt_findings_table() {
        for (recs, status) in [
            (vec!["v=STSv1; id=1"], "valid"),
            (vec!["v=spf1 -all", "v=STSv1; id=1"], "valid"),
            (vec!["v=STSv1; id=1", "v=STSv1; id=2"], "invalid"),
            (vec!["v=STSv1"], "invalid"),
            (vec!["v=stsv1; id=1"], "none"),
            (vec![], "none"),
        ] {
            let f = StsTxtFindings::from_lookup("_mta-sts.x", &Lookup::Records(s(&recs)));
            assert_eq!(f.status.as_str(), status, "{recs:?}");
        }
        let f = StsTxtFindings::from_lookup("_mta-sts.x", &Lookup::TempError("timeout".into()));
        assert_eq!(f.status, StsStatus::TempError);
        assert_eq!(f.errors, ["dns-temperror: _mta-sts.x TXT timeout"]);
        assert_eq!(
            StsTxtFindings::from_lookup("_mta-sts.x", &Lookup::NxDomain),
            StsTxtFindings::none()
        );
    }

    #[test]
    fn policy_table() {
        // (body, mode, mx, max_age, error codes)
        let ok = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n";
        for (body, mode, mx, max_age, want) in [
            (
                ok,
                Some(Mode::Enforce),
                "mail.example.com *.example.net",
                Some(604800),
                "",
            ),
            (
                "version: STSv1\r\nmode: testing\r\nmx: MX.Example.com.\r\nmax_age:86400\r\n",
                Some(Mode::Testing),
                "mx.example.com",
                Some(86400),
                "",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: 0",
                Some(Mode::None),
                "",
                Some(0),
                "",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1",
                Some(Mode::Enforce),
                "",
                Some(1),
                "missing-mx",
            ),
            (
                "mode: enforce\nmx: a.example\nmax_age: 1",
                Some(Mode::Enforce),
                "a.example",
                Some(1),
                "missing-version",
            ),
            (
                "version: STSv2\nmode: none\nmax_age: 1",
                Some(Mode::None),
                "",
                Some(1),
                "invalid-version",
            ),
            (
                "version: STSv1\nmode: Enforce\nmax_age: 1",
                None,
                "",
                Some(1),
                "invalid-mode",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: 31557601",
                Some(Mode::None),
                "",
                None,
                "invalid-max-age",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: -1",
                Some(Mode::None),
                "",
                None,
                "invalid-max-age",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: 12345678901",
                Some(Mode::None),
                "",
                None,
                "invalid-max-age",
            ),
            (
                "version: STSv1\nmode: none",
                Some(Mode::None),
                "",
                None,
                "missing-max-age",
            ),
            (
                "version: STSv1\nmode: none\nmode: enforce\nmax_age: 5",
                Some(Mode::None),
                "",
                Some(5),
                "duplicate-field",
            ),
            (
                "version: STSv1\nmode: testing\nmx: a.*.example\nmx: b.example\nmax_age: 5",
                Some(Mode::Testing),
                "b.example",
                Some(5),
                "invalid-mx",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: 5\ngarbage",
                Some(Mode::None),
                "",
                Some(5),
                "syntax",
            ),
            (
                "version: STSv1\nmode: none\nmax_age: 5\nx-note: hello there",
                Some(Mode::None),
                "",
                Some(5),
                "",
            ),
            (
                "",
                None,
                "",
                None,
                "missing-version,missing-mode,missing-max-age",
            ),
        ] {
            let p = parse_policy(body);
            assert_eq!(p.mode, mode, "{body:?}");
            assert_eq!(p.mx.join(" "), mx, "{body:?}");
            assert_eq!(p.max_age, max_age, "{body:?}");
            assert_eq!(codes(&p.errors), want, "{body:?}: {:?}", p.errors);
            assert_eq!(p.valid(), want.is_empty());
        }
    }

    #[test]
    fn mx_matches_table() {
        for (pattern, exchange, want) in [
            ("mail.example.com", "mail.example.com", true),
            ("mail.example.com", "MAIL.example.com.", true),
            ("mail.example.com", "mail2.example.com", false),
            ("*.example.com", "mx1.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", ".example.com", false),
            ("*.Example.COM.", "mx.example.com", true),
            ("", "", false),
        ] {
            assert_eq!(mx_matches(pattern, exchange), want, "{pattern} {exchange}");
        }
        let patterns = s(&["mail.example.com", "*.backup.example.com"]);
        let exchanges = s(&[
            "mail.example.com.",
            "mx.backup.example.com",
            "other.example.net",
            "",
        ]);
        assert_eq!(uncovered_mx(&patterns, &exchanges), ["other.example.net"]);
    }
}
