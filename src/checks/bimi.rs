//! BIMI assertion records (draft-brand-indicators-for-message-identification, "the BIMI
//! draft") at `default._bimi.<domain>`, and BIMI's demand for an enforcing DMARC policy.
//!
//! Pure: the scanner fetches the TXT records and passes them in.

use super::dmarc::{DmarcFindings, DmarcSource, DmarcStatus};
use super::taglist::{self, Part};
use super::{TxtPolicy, TxtPolicyCheck};
use crate::checks::problem::{Code, problem};
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;

/// The scan outcome for one domain's `default._bimi` lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BimiStatus {
    None,
    Valid,
    /// A valid record with empty `l` and `a`: the domain declines to publish an indicator.
    Declined,
    Invalid,
    TempError,
}

impl BimiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BimiStatus::None => "none",
            BimiStatus::Valid => "valid",
            BimiStatus::Declined => "declined",
            BimiStatus::Invalid => "invalid",
            BimiStatus::TempError => "temperror",
        }
    }
}

/// A parsed assertion record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BimiRecord {
    pub version_ok: bool,
    /// `l=`: the location of the SVG indicator; `Some("")` when present but empty.
    pub location: Option<String>,
    /// `a=`: the location of the evidence document (a VMC or CMC, PEM); `Some("")` when empty.
    pub authority: Option<String>,
    /// Tags this parser does not know, `(name, value)`.
    pub unknown: Vec<(String, String)>,
    /// Facts worth counting that do not make the record invalid, each `code: text`.
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

impl BimiRecord {
    pub fn valid(&self) -> bool {
        self.version_ok && self.errors.is_empty()
    }

    /// Both `l` and `a` are empty (or `a` absent): the domain declines to participate.
    pub fn declined(&self) -> bool {
        self.location.as_deref() == Some("") && self.authority.as_deref().unwrap_or("").is_empty()
    }
}

/// The BIMI columns of a scan row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BimiFindings {
    pub status: BimiStatus,
    pub record: Option<String>,
    pub l: Option<String>,
    pub a: Option<String>,
    pub errors: Vec<String>,
    /// `bimi_dmarc_not_enforcing`: set by [`dmarc_not_enforcing`] once the DMARC findings are
    /// known; None where it is not judged.
    pub dmarc_not_enforcing: Option<bool>,
}

impl TxtPolicy for BimiFindings {
    fn is_record(txt: &str) -> bool {
        is_bimi_record(txt)
    }

    fn none() -> BimiFindings {
        BimiFindings {
            status: BimiStatus::None,
            record: None,
            l: None,
            a: None,
            errors: Vec::new(),
            dmarc_not_enforcing: None,
        }
    }

    fn temperror(reason: &str) -> BimiFindings {
        BimiFindings {
            status: BimiStatus::TempError,
            errors: vec![problem(Code::DnsTempError, reason)],
            ..BimiFindings::none()
        }
    }

    fn one(record: String) -> BimiFindings {
        let r = parse(&record);
        let status = match (r.valid(), r.declined()) {
            (false, _) => BimiStatus::Invalid,
            (true, true) => BimiStatus::Declined,
            (true, false) => BimiStatus::Valid,
        };
        let mut errors = r.errors;
        errors.extend(r.notes);
        BimiFindings {
            status,
            record: Some(record),
            l: r.location,
            a: r.authority,
            errors,
            dmarc_not_enforcing: None,
        }
    }

    fn multiple(records: Vec<String>) -> BimiFindings {
        BimiFindings {
            status: BimiStatus::Invalid,
            errors: vec![problem(
                Code::MultipleRecords,
                format_args!("{} v=BIMI1 records (none is used)", records.len()),
            )],
            record: records.into_iter().next(),
            ..BimiFindings::none()
        }
    }
}

impl TxtPolicyCheck for BimiFindings {
    fn query_name(domain: &str) -> String {
        query_name(domain)
    }

    #[rustfmt::skip]
    fn columns() -> Vec<Column<Self>> {
        type C = Column<BimiFindings>;
        vec![
            C::new("bimi", Utf8, |f| Str(f.record.as_deref()))
                .doc("the `v=BIMI1` record at `default._bimi.<domain>`, raw; null when absent or failed"),
            C::status("bimi_status", |f| Some(f.status.as_str())).required()
                .doc("`none`, `valid`, `declined` (empty `l=` and `a=`), `invalid`, `temperror`"),
            C::new("bimi_dmarc_not_enforcing", Boolean, |f| Bool(f.dmarc_not_enforcing))
                .doc("a valid (or declining) BIMI record is published but the DMARC policy that applies to the domain is not at enforcement (`quarantine` with `pct=100`, or `reject`; and, for the domain's own record, `sp` not `none`; a record found at a parent applies its `sp`, else its `p`), so receivers ignore it; null without such a record or when DMARC failed"),
            C::new("bimi_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("`invalid-l`, `invalid-a`, `no-evidence` (no `a=`), `l-not-svg`, `multiple-records`, `dns-temperror`, ..."),
        ]
    }

    fn with_dmarc(&mut self, dmarc: &DmarcFindings) {
        self.dmarc_not_enforcing = dmarc_not_enforcing(self.status, dmarc);
    }
}

/// The BIMI draft: assertion records are at `<selector>._bimi.<domain>`, and receivers look up
/// the selector `default` unless the message names another (`BIMI-Selector` header).
pub fn query_name(domain: &str) -> String {
    format!(
        "default._bimi.{}",
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

const WSP: [char; 2] = [' ', '\t'];

/// `bimi-version = %s"v" *WSP "=" *WSP %s"BIMI" 1DIGIT`; only `BIMI1` is defined. Records not
/// beginning so are discarded.
pub fn is_bimi_record(txt: &str) -> bool {
    let Some(rest) = txt.strip_prefix('v') else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches(WSP).strip_prefix('=') else {
        return false;
    };
    rest.trim_start_matches(WSP)
        .strip_prefix("BIMI1")
        .is_some_and(|r| r.is_empty() || r.starts_with([';', ' ', '\t']))
}

/// Parses an assertion record (the BIMI draft, "Assertion Record Definition"):
///
/// ```text
/// bimi-record     = bimi-version (bimi-sep bimi-location)
///                   (bimi-sep bimi-evidence) [bimi-sep]
/// bimi-version    = %s"v" *WSP "=" *WSP %s"BIMI" 1DIGIT
/// bimi-sep        = *WSP %x3b *WSP
/// bimi-location   = %s"l" *WSP "=" *WSP bimi-uri
/// bimi-evidence   = %s"a" *WSP "=" *WSP bimi-uri
/// bimi-uri        = [FWS URI FWS]
/// ```
///
/// Both URIs must be `https:`. `l` names an SVG Tiny PS image, so an `l` not ending `.svg` is
/// noted (servers may still serve SVG). A missing `a` is noted, not an error: the draft allows
/// it, but major mailbox providers show indicators only with a VMC or CMC.
pub fn parse(txt: &str) -> BimiRecord {
    let mut r = BimiRecord {
        version_ok: is_bimi_record(txt),
        ..BimiRecord::default()
    };
    if !r.version_ok {
        r.errors.push(problem(
            Code::MissingVersion,
            "the record must begin with v=BIMI1",
        ));
    }
    for part in taglist::parse(txt, &taglist::BIMI) {
        let t = match part {
            Part::Tag(t) => t,
            other => {
                r.errors.extend(other.syntax_error());
                continue;
            }
        };
        let slot = match t.name {
            "l" => &mut r.location,
            "a" => &mut r.authority,
            "v" => {
                r.errors.push(problem(
                    Code::DuplicateTag,
                    format_args!("v again at byte {}", t.offset),
                ));
                continue;
            }
            name => {
                r.notes.push(problem(Code::UnknownTag, name));
                r.unknown.push((name.to_string(), t.value.to_string()));
                continue;
            }
        };
        if t.duplicate {
            r.errors.push(problem(
                Code::DuplicateTag,
                format_args!(
                    "{} again at byte {} (the first one is used)",
                    t.name, t.offset
                ),
            ));
            continue;
        }
        *slot = Some(t.value.to_string());
    }
    match r.location.as_deref() {
        None => r.errors.push(problem(
            Code::MissingL,
            "no l= tag (the BIMI draft: required, may be empty)",
        )),
        Some("") => {}
        Some(l) if !is_https(l) => r.errors.push(problem(
            Code::InvalidL,
            format_args!("{l:?} is not an https: URI"),
        )),
        Some(l) if !l.to_ascii_lowercase().ends_with(".svg") => r.notes.push(problem(
            Code::LNotSvg,
            format_args!("{l:?} (an SVG Tiny PS image is expected)"),
        )),
        Some(_) => {}
    }
    match r.authority.as_deref() {
        None | Some("") if !r.declined() => r.notes.push(problem(
            Code::NoEvidence,
            "no a= (no VMC/CMC: major mailbox providers show no logo without one)",
        )),
        Some(a) if !a.is_empty() && !is_https(a) => r.errors.push(problem(
            Code::InvalidA,
            format_args!("{a:?} is not an https: URI"),
        )),
        _ => {}
    }
    r
}

fn is_https(uri: &str) -> bool {
    uri.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        && uri.len() > 8
        && !uri[8..].starts_with('/')
}

/// The BIMI draft requires DMARC at enforcement for the indicator to be shown: `p=quarantine`
/// with `pct=100` (the default when absent) or `p=reject`. True when the given DMARC policy falls
/// short, so a BIMI record would be ignored. The draft's further demand that `sp` not be `none`
/// is left to the caller, which holds the whole DMARC record.
pub fn bimi_without_enforcing_dmarc(dmarc_p: Option<&str>, pct: Option<u8>) -> bool {
    match dmarc_p.map(str::to_ascii_lowercase).as_deref() {
        Some("reject") => false,
        Some("quarantine") => pct.unwrap_or(100) != 100,
        _ => true,
    }
}

/// The BIMI draft: the indicator is shown only under an enforcing DMARC policy (quarantine at
/// pct=100 or reject, and a subdomain policy other than none). Judged where a record is
/// published (valid or declined) and the DMARC lookup did not fail, on the policy that applies
/// to the domain: a record found at a parent applies its `sp` (else `p`) to it (RFC 7489 6.6.3
/// step 6). None where not judged.
pub fn dmarc_not_enforcing(bimi: BimiStatus, dmarc: &DmarcFindings) -> Option<bool> {
    let published = matches!(bimi, BimiStatus::Valid | BimiStatus::Declined);
    if !published || dmarc.status == DmarcStatus::TempError {
        return None;
    }
    let own = matches!(dmarc.source, None | Some(DmarcSource::Domain));
    let applies = if own {
        dmarc.p.as_deref()
    } else {
        dmarc.sp.as_deref().or(dmarc.p.as_deref())
    };
    Some(
        bimi_without_enforcing_dmarc(applies, dmarc.pct)
            || (own && dmarc.sp.as_deref() == Some("none")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Lookup;

    fn codes(v: &[String]) -> String {
        v.iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn parse_table() {
        // (record, valid, declined, error and note codes)
        for (rec, valid, declined, want) in [
            (
                "v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem",
                true,
                false,
                "",
            ),
            (
                "v=BIMI1;l=https://example.com/logo.svg;a=https://example.com/vmc.pem;",
                true,
                false,
                "",
            ),
            (
                "v=BIMI1; l=https://example.com/logo.svg",
                true,
                false,
                "no-evidence",
            ),
            (
                "v=BIMI1; l=https://example.com/logo.svg; a=",
                true,
                false,
                "no-evidence",
            ),
            ("v=BIMI1; l=; a=", true, true, ""),
            ("v=BIMI1; l=", true, true, ""),
            (
                "v=BIMI1; l=https://example.com/logo.png; a=https://x.example/v.pem",
                true,
                false,
                "l-not-svg",
            ),
            (
                "v=BIMI1; l=http://example.com/logo.svg; a=https://x.example/v.pem",
                false,
                false,
                "invalid-l",
            ),
            (
                "v=BIMI1; l=https://example.com/logo.svg; a=http://x.example/v.pem",
                false,
                false,
                "invalid-a",
            ),
            (
                "v=BIMI1; a=https://x.example/v.pem",
                false,
                false,
                "missing-l",
            ),
            (
                "v=BIMI1; l=; l=https://example.com/logo.svg",
                false,
                true,
                "duplicate-tag",
            ),
            ("v=BIMI1; l=; x=1", true, true, "unknown-tag"),
            ("v=BIMI1; l=; junk", false, true, "syntax"),
            ("v=BIMI2; l=", false, true, "missing-version"),
        ] {
            let r = parse(rec);
            let mut all = r.errors.clone();
            all.extend(r.notes.clone());
            assert_eq!(
                (r.valid(), r.declined()),
                (valid, declined),
                "{rec}: {all:?}"
            );
            assert_eq!(codes(&all), want, "{rec}");
        }
    }

    #[test]
    fn findings_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let good = "v=BIMI1; l=https://example.com/l.svg; a=https://example.com/a.pem";
        for (recs, status) in [
            (vec![good], "valid"),
            (vec!["v=BIMI1; l="], "declined"),
            (vec![good, good], "invalid"),
            (vec!["v=BIMI1; l=http://x/"], "invalid"),
            (vec!["v=bimi1; l="], "none"),
            (vec![], "none"),
        ] {
            let f = BimiFindings::from_lookup("default._bimi.x", &Lookup::Records(s(&recs)));
            assert_eq!(f.status.as_str(), status, "{recs:?}");
        }
        assert_eq!(query_name("Example.com."), "default._bimi.example.com");
        let f = BimiFindings::from_lookup("default._bimi.x", &Lookup::TempError("timeout".into()));
        assert_eq!(f.status, BimiStatus::TempError);
        assert_eq!(f.errors, ["dns-temperror: default._bimi.x TXT timeout"]);
    }

    #[test]
    fn dmarc_not_enforcing_table() {
        use BimiStatus::*;
        let dmarc = |rec: &str, source: Option<DmarcSource>| {
            let mut f = if rec.is_empty() {
                DmarcFindings::none()
            } else {
                DmarcFindings::one(rec.to_string())
            };
            f.source = source;
            f
        };
        let (own, org) = (Some(DmarcSource::Domain), Some(DmarcSource::Organizational));
        let walk = Some(DmarcSource::PublicSuffix);
        // (BIMI status, DMARC record ("" = none), where it was found, verdict)
        let cases: Vec<(BimiStatus, &str, Option<DmarcSource>, Option<bool>)> = vec![
            (None, "v=DMARC1; p=none", own.clone(), Option::None),
            (Invalid, "v=DMARC1; p=none", own.clone(), Option::None),
            (TempError, "v=DMARC1; p=none", own.clone(), Option::None),
            (Valid, "v=DMARC1; p=reject", own.clone(), Some(false)),
            (Declined, "v=DMARC1; p=reject", own.clone(), Some(false)),
            (
                Valid,
                "v=DMARC1; p=reject; sp=none",
                own.clone(),
                Some(true),
            ),
            (
                Valid,
                "v=DMARC1; p=quarantine; pct=50",
                own.clone(),
                Some(true),
            ),
            (Valid, "v=DMARC1; p=quarantine", own.clone(), Some(false)),
            (
                Valid,
                "v=DMARC1; p=none; sp=reject",
                own.clone(),
                Some(true),
            ),
            (
                Valid,
                "v=DMARC1; p=reject; sp=none",
                org.clone(),
                Some(true),
            ),
            (
                Valid,
                "v=DMARC1; p=none; sp=reject",
                org.clone(),
                Some(false),
            ),
            (Valid, "v=DMARC1; p=reject", org.clone(), Some(false)),
            (
                Valid,
                "v=DMARC1; p=reject; sp=quarantine",
                walk.clone(),
                Some(false),
            ),
            (Valid, "v=DMARC1; p=reject | two", Option::None, Some(true)),
            (Valid, "", Option::None, Some(true)),
        ];
        for (bimi, rec, source, want) in cases {
            let d = if let Some(first) = rec.strip_suffix(" | two") {
                DmarcFindings::multiple(vec![first.to_string(), first.to_string()])
            } else {
                dmarc(rec, source)
            };
            assert_eq!(
                dmarc_not_enforcing(bimi, &d),
                want,
                "{bimi:?} {rec} {:?}",
                d.source
            );
        }
        let failed = DmarcFindings::temperror("timeout");
        assert_eq!(dmarc_not_enforcing(Valid, &failed), Option::None);
    }

    #[test]
    fn dmarc_enforcement_table() {
        for (p, pct, want) in [
            (Some("reject"), None, false),
            (Some("reject"), Some(10), false),
            (Some("quarantine"), None, false),
            (Some("quarantine"), Some(100), false),
            (Some("quarantine"), Some(50), true),
            (Some("none"), None, true),
            (None, None, true),
        ] {
            assert_eq!(bimi_without_enforcing_dmarc(p, pct), want, "{p:?} {pct:?}");
        }
    }
}
