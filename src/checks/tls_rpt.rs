//! SMTP TLS Reporting (RFC 8460): the `_smtp._tls.<domain>` TXT record (section 3).
//!
//! Pure: the scanner fetches the TXT records and passes them in.

use super::mta_sts::{WSP, field, is_ext_name};
use super::taglist::{self, Part};
use super::{TxtPolicy, TxtPolicyCheck};
use crate::checks::problem::{Code, problem};
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;

/// The scan outcome for one domain's `_smtp._tls` lookup. `Invalid` (RFC 8460 3): "If the number
/// of resulting records is not one, or if the resulting record is syntactically invalid, senders
/// MUST assume the recipient domain does not implement TLSRPT."
pub type TlsRptStatus = super::RecordStatus;

/// A parsed TLSRPT record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsRptRecord {
    /// The `rua` URIs as written.
    pub rua: Vec<String>,
    pub extensions: Vec<(String, String)>,
    pub errors: Vec<String>,
}

impl TlsRptRecord {
    pub fn valid(&self) -> bool {
        !self.rua.is_empty() && self.errors.is_empty()
    }
}

/// The TLS-RPT columns of a scan row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptFindings {
    pub status: TlsRptStatus,
    pub record: Option<String>,
    pub rua: Vec<String>,
    pub errors: Vec<String>,
}

impl TxtPolicy for TlsRptFindings {
    fn is_record(txt: &str) -> bool {
        is_tlsrpt_record(txt)
    }

    fn none() -> TlsRptFindings {
        TlsRptFindings {
            status: TlsRptStatus::None,
            record: None,
            rua: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn temperror(reason: &str) -> TlsRptFindings {
        TlsRptFindings {
            status: TlsRptStatus::TempError,
            errors: vec![problem(Code::DnsTempError, reason)],
            ..TlsRptFindings::none()
        }
    }

    fn one(record: String) -> TlsRptFindings {
        let r = parse(&record);
        TlsRptFindings {
            status: if r.valid() {
                TlsRptStatus::Valid
            } else {
                TlsRptStatus::Invalid
            },
            record: Some(record),
            rua: r.rua,
            errors: r.errors,
        }
    }

    fn multiple(records: Vec<String>) -> TlsRptFindings {
        TlsRptFindings {
            status: TlsRptStatus::Invalid,
            errors: vec![problem(
                Code::MultipleRecords,
                format_args!(
                    "{} v=TLSRPTv1 records (RFC 8460 3: none is used)",
                    records.len()
                ),
            )],
            record: records.into_iter().next(),
            ..TlsRptFindings::none()
        }
    }
}

impl TxtPolicyCheck for TlsRptFindings {
    fn query_name(domain: &str) -> String {
        format!("_smtp._tls.{domain}")
    }

    #[rustfmt::skip]
    fn columns() -> Vec<Column<Self>> {
        type C = Column<TlsRptFindings>;
        vec![
            C::new("tls_rpt", Utf8, |f| Str(f.record.as_deref()))
                .doc("the `v=TLSRPTv1` record at `_smtp._tls.<domain>` (RFC 8460 3), raw; null when absent or failed"),
            C::status("tls_rpt_status", |f| Some(f.status.as_str())).required()
                .doc("`none`, `valid`, `invalid` (not exactly one record, or a syntax error / no usable `rua`: RFC 8460 3), `temperror`"),
            C::new("tls_rpt_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("`invalid-uri-scheme`, `invalid-mailto`, `missing-rua`, `multiple-records`, `dns-temperror`, ..."),
            // Only a record that is used has destinations (RFC 8460 3).
            C::new("tls_rpt_rua", ListUtf8, |f| StrList((f.status == TlsRptStatus::Valid).then_some(f.rua.as_slice())))
                .doc("the `rua` report destinations (`mailto:` or `https:` URIs, RFC 8460 3) of a valid record, in record order; null unless `tls_rpt_status` is `valid`"),
        ]
    }
}

/// RFC 8460 3: records "that do not begin with "v=TLSRPTv1;" are discarded"; WSP before the `;`
/// is allowed by `field-delim`, and a bare version is kept to be reported invalid.
pub fn is_tlsrpt_record(txt: &str) -> bool {
    txt.strip_prefix("v=TLSRPTv1")
        .is_some_and(|r| r.is_empty() || r.starts_with([';', ' ', '\t']))
}

/// Parses a record (RFC 8460 3):
///
/// ```text
/// tlsrpt-record     = tlsrpt-version 1*(field-delim tlsrpt-field)
///                     [field-delim]
/// field-delim       = *WSP ";" *WSP
/// tlsrpt-field      = tlsrpt-rua /        ; Note that the
///                     tlsrpt-extension    ; tlsrpt-rua field is
///                                         ; required.
/// tlsrpt-version    = %s"v=TLSRPTv1"
/// tlsrpt-rua        = %s"rua="
///                     tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
/// tlsrpt-uri        = URI
///                   ; "URI" is imported from [RFC3986];
///                   ; commas (ASCII 0x2C) and exclamation
///                   ; points (ASCII 0x21) MUST be encoded
/// tlsrpt-extension  = tlsrpt-ext-name "=" tlsrpt-ext-value
/// tlsrpt-ext-name   = (ALPHA / DIGIT) *31(ALPHA /
///                     DIGIT / "_" / "-" / ".")
/// tlsrpt-ext-value  = 1*(%x21-3A / %x3C / %x3E-7E)
/// ```
///
/// RFC 8460 3 defines two URI schemes for `rua`: `mailto:` (3.1.1 is silent on others) and
/// `https:`; anything else cannot receive reports and is flagged.
pub fn parse(txt: &str) -> TlsRptRecord {
    let mut r = TlsRptRecord::default();
    if !is_tlsrpt_record(txt) {
        r.errors.push(problem(
            Code::MissingVersion,
            "the record must begin with v=TLSRPTv1 (RFC 8460 3)",
        ));
    }
    let mut seen_rua = false;
    for part in taglist::parse(txt, &taglist::STS) {
        let duplicate = matches!(&part, Part::Tag(t) if t.duplicate);
        let Some((at, name, value)) = field(part, &mut r.errors) else {
            continue;
        };
        if name == "rua" {
            if duplicate {
                r.errors.push(problem(
                    Code::DuplicateRua,
                    format_args!("byte {at} (the first one is used)"),
                ));
                continue;
            }
            seen_rua = true;
            for uri in value.split(',').map(|u| u.trim_matches(WSP)) {
                match check_uri(uri) {
                    Ok(()) => r.rua.push(uri.to_string()),
                    Err(e) => r.errors.push(e),
                }
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
    if !seen_rua {
        r.errors.push(problem(
            Code::MissingRua,
            "no rua= field (RFC 8460 3: required)",
        ));
    }
    r
}

fn check_uri(uri: &str) -> Result<(), String> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(problem(
            Code::InvalidUri,
            format_args!("{uri:?} (RFC 8460 3: a mailto: or https: URI)"),
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "mailto" => {
            let addr = rest.split('?').next().unwrap_or("");
            match addr.rsplit_once('@') {
                Some((local, domain)) if !local.is_empty() && is_host(domain) => Ok(()),
                _ => Err(problem(
                    Code::InvalidMailto,
                    format_args!("{uri:?} is not mailto:local@domain"),
                )),
            }
        }
        "https" => {
            let host = rest
                .strip_prefix("//")
                .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""))
                .map(|h| h.rsplit_once('@').map_or(h, |(_, h)| h))
                .map(|h| h.split(':').next().unwrap_or(""));
            match host {
                Some(h) if is_host(h) => Ok(()),
                _ => Err(problem(
                    Code::InvalidHttps,
                    format_args!("{uri:?} has no host"),
                )),
            }
        }
        _ => Err(problem(
            Code::InvalidUriScheme,
            format_args!("{uri:?} (RFC 8460 3: mailto: or https:)"),
        )),
    }
}

fn is_host(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Lookup;

    fn codes(errors: &[String]) -> String {
        errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn parse_table() {
        // (record, rua count, error codes)
        for (rec, n, want) in [
            ("v=TLSRPTv1; rua=mailto:tlsrpt@example.com", 1, ""),
            (
                "v=TLSRPTv1;rua=mailto:a@example.com,https://r.example.net/v1/report;",
                2,
                "",
            ),
            (
                "v=TLSRPTv1 ; rua=mailto:a@example.com , https://r.example.net:8443/x",
                2,
                "",
            ),
            ("v=TLSRPTv1; rua=mailto:a@example.com; ext=1", 1, ""),
            ("v=TLSRPTv1;", 0, "missing-rua"),
            ("v=TLSRPTv1; rua=a@example.com", 0, "invalid-uri"),
            (
                "v=TLSRPTv1; rua=http://r.example/x",
                0,
                "invalid-uri-scheme",
            ),
            ("v=TLSRPTv1; rua=https:///x", 0, "invalid-https"),
            ("v=TLSRPTv1; rua=mailto:nobody", 0, "invalid-mailto"),
            (
                "v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example",
                1,
                "duplicate-rua",
            ),
            ("v=TLSRPTv1; rua=mailto:a@x.example; junk", 1, "syntax"),
            ("v=TLSRPTv2; rua=mailto:a@x.example", 1, "missing-version"),
        ] {
            let r = parse(rec);
            assert_eq!(r.rua.len(), n, "{rec}: {:?}", r.errors);
            assert_eq!(codes(&r.errors), want, "{rec}: {:?}", r.errors);
        }
    }

    #[test]
    fn findings_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for (recs, status) in [
            (vec!["v=TLSRPTv1; rua=mailto:a@example.com"], "valid"),
            (
                vec!["v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com"],
                "valid",
            ),
            (
                vec![
                    "v=TLSRPTv1; rua=mailto:a@example.com",
                    "v=TLSRPTv1; rua=mailto:b@example.com",
                ],
                "invalid",
            ),
            (vec!["v=TLSRPTv1; rua=ftp://x"], "invalid"),
            (vec!["v=tlsrptv1; rua=mailto:a@example.com"], "none"),
            (vec![], "none"),
        ] {
            let f = TlsRptFindings::from_lookup("_smtp._tls.x", &Lookup::Records(s(&recs)));
            assert_eq!(f.status.as_str(), status, "{recs:?}");
        }
        assert_eq!(
            TlsRptFindings::from_lookup("_smtp._tls.x", &Lookup::TempError("timeout".into()))
                .errors,
            ["dns-temperror: _smtp._tls.x TXT timeout"]
        );
        assert_eq!(
            TlsRptFindings::from_lookup("_smtp._tls.x", &Lookup::NxDomain),
            TlsRptFindings::none()
        );
    }
}
