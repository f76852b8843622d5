//! Dangling names: a name the domain's mail set-up depends on whose organizational domain does
//! not exist. Whoever registers that domain then controls the name: an SPF include or `a` target
//! there lets them send mail that passes SPF for the domain, an exchange receives its mail, a
//! `rua`/`ruf` or TLS-RPT host its reports, an MTA-STS `mx` pattern makes their server a valid
//! MX under the policy, a BIMI location serves its logo.
//!
//! Pure: the pipeline asks each organizational domain once (NS, through the cache) and hands the
//! answers here. Only NXDOMAIN counts (RFC 8020: nothing exists at or below the name); a failed
//! lookup is a status, never taken for "does not exist", and a name whose organizational domain is
//! the scanned domain's own is never asked (the domain exists: it was scanned).
//!
//! Not covered: CNAME targets on the way to these names (the engine's answers do not keep the
//! chain's names).

use std::collections::HashMap;
use std::fmt;

use super::dmarc::psl::{SuffixList, organizational_domain_with, to_ascii_name};
use super::spf::analyze::SpfTerm;
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;
use crate::dns::Status;

/// What depends on the name: the output's `kind` in `kind:name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    SpfInclude,
    SpfRedirect,
    SpfA,
    SpfMx,
    SpfExists,
    Mx,
    DmarcRua,
    DmarcRuf,
    TlsRpt,
    MtaSts,
    Bimi,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SpfInclude => "spf-include",
            Kind::SpfRedirect => "spf-redirect",
            Kind::SpfA => "spf-a",
            Kind::SpfMx => "spf-mx",
            Kind::SpfExists => "spf-exists",
            Kind::Mx => "mx",
            Kind::DmarcRua => "dmarc-rua",
            Kind::DmarcRuf => "dmarc-ruf",
            Kind::TlsRpt => "tls-rpt",
            Kind::MtaSts => "mta-sts",
            Kind::Bimi => "bimi",
        }
    }

    /// Every kind, in output order (the report counts them in it).
    pub const ALL: [Kind; 11] = [
        Kind::SpfInclude,
        Kind::SpfRedirect,
        Kind::SpfA,
        Kind::SpfMx,
        Kind::SpfExists,
        Kind::Mx,
        Kind::DmarcRua,
        Kind::DmarcRuf,
        Kind::TlsRpt,
        Kind::MtaSts,
        Kind::Bimi,
    ];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<SpfTerm> for Kind {
    fn from(t: SpfTerm) -> Kind {
        match t {
            SpfTerm::Include => Kind::SpfInclude,
            SpfTerm::Redirect => Kind::SpfRedirect,
            SpfTerm::A => Kind::SpfA,
            SpfTerm::Mx => Kind::SpfMx,
            SpfTerm::Exists => Kind::SpfExists,
        }
    }
}

/// The names a domain's mail set-up names, as the stages found them.
#[derive(Debug, Default)]
pub struct MailNames<'a> {
    pub spf: &'a [(SpfTerm, String)],
    pub exchanges: &'a [String],
    /// DMARC report URIs as published (`mailto:reports@example.net!10m`).
    pub rua: &'a [String],
    pub ruf: &'a [String],
    /// TLS-RPT `rua` URIs (`mailto:` or `https:`).
    pub tls_rpt: &'a [String],
    /// The fetched MTA-STS policy's `mx` patterns (`*.example.net` names example.net's hosts).
    pub mta_sts_mx: &'a [String],
    /// BIMI `l=` and `a=` URLs.
    pub bimi: &'a [String],
}

/// The host a report or logo URI names: the domain of a `mailto:` address, the host of an
/// `https:` URL. None for anything else.
pub fn uri_host(uri: &str) -> Option<String> {
    let uri = uri.trim();
    let lower = uri
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let host = if lower.starts_with("mailto:") {
        let addr = &uri[7..];
        let addr = addr.split('!').next()?;
        addr.rsplit_once('@')?.1
    } else if lower.starts_with("https://") {
        let rest = &uri[8..];
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if authority.starts_with('[') {
            return None;
        }
        authority.split(':').next()?
    } else {
        return None;
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Each `(kind, name)` the set-up depends on, once, in the order above.
pub fn dependencies(names: &MailNames) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = Vec::new();
    let mut push = |kind: Kind, name: &str| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        // An address written where a name belongs (an MX `127.0.0.10`, RFC 5321 5.1's misuse,
        // reported as `mx-ip-literal`) names no domain: a top-level label is never all digits
        // (RFC 3696 2).
        let tld = name.rsplit('.').next().unwrap_or_default();
        let literal = tld.bytes().all(|b| b.is_ascii_digit()) || name.contains(':');
        if !name.is_empty() && !literal && !out.iter().any(|(k, n)| *k == kind && *n == name) {
            out.push((kind, name));
        }
    };
    for (term, name) in names.spf {
        push(Kind::from(*term), name);
    }
    for e in names.exchanges {
        push(Kind::Mx, e);
    }
    for (kind, uris) in [
        (Kind::DmarcRua, names.rua),
        (Kind::DmarcRuf, names.ruf),
        (Kind::TlsRpt, names.tls_rpt),
        (Kind::Bimi, names.bimi),
    ] {
        for host in uris.iter().filter_map(|u| uri_host(u)) {
            push(kind, &host);
        }
    }
    for p in names.mta_sts_mx {
        push(Kind::MtaSts, p.trim_start_matches("*."));
    }
    out
}

/// The organizational domain of each dependency, None where it is the scanned domain's own (or
/// the name has none: a public suffix, a malformed name).
pub fn organizations(
    domain: &str,
    deps: &[(Kind, String)],
    list: Option<&SuffixList>,
) -> Vec<Option<String>> {
    let own = to_ascii_name(domain).and_then(|d| organizational_domain_with(&d, list));
    deps.iter()
        .map(|(_, name)| {
            let org = organizational_domain_with(name, list)?;
            (Some(&org) != own.as_ref()).then_some(org)
        })
        .collect()
}

/// The `dangling` column and its status, from the dependencies, their organizational domains
/// ([`organizations`]) and the answer for each of those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingFindings {
    /// `kind:name` for each dependency whose organizational domain is NXDOMAIN; None when the
    /// domain probe failed.
    pub names: Option<Vec<String>>,
    /// `ok` when every organizational domain was answered; else the first failure's DNS status
    /// (the list then holds only what was answered).
    pub status: Status,
}

impl DanglingFindings {
    /// The domain probe failed (a bug in mxray): nothing measured.
    pub fn error() -> DanglingFindings {
        DanglingFindings {
            names: None,
            status: Status::Error,
        }
    }

    /// The domain row's dangling columns. Each `doc` is the column's row in docs/SCHEMA.md.
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<DanglingFindings>> {
        type C = Column<DanglingFindings>;
        vec![
            C::new("dangling", ListUtf8, |f| StrList(f.names.as_deref()))
                .doc("names the domain's mail set-up depends on whose organizational domain (the registrable domain, Public Suffix List) does not exist (NXDOMAIN to its NS query), as `kind:name`; kinds: `spf-include`, `spf-redirect`, `spf-a`, `spf-mx`, `spf-exists` (targets of the SPF tree's terms), `mx` (exchanges), `dmarc-rua`, `dmarc-ruf` (hosts of a valid DMARC record's report addresses), `tls-rpt` (hosts of a valid TLS-RPT record's `rua`), `mta-sts` (`mx` patterns of a valid fetched policy), `bimi` (hosts of the `l=` and `a=` URLs); names in the domain's own organizational domain are not asked. Whoever registers such a domain controls the name. CNAME targets on the way are not followed. Null when the domain was not asked further (NXDOMAIN) or its MX query failed (its exchanges, and so its set-up, are unknown)"),
            C::status("dangling_status", |f| Some(f.status.as_str()))
                .doc("`ok` when every organizational domain asked was answered (with records or NXDOMAIN), else the first failed query's status (`timeout`, `servfail`, ...): then `dangling` lists only what was answered, never a failure taken for NXDOMAIN; `error` when the domain probe failed; null when the domain was not asked further"),
        ]
    }
}

pub fn findings(
    deps: &[(Kind, String)],
    orgs: &[Option<String>],
    answers: &HashMap<String, Status>,
) -> DanglingFindings {
    let mut names = Vec::new();
    let mut status = None;
    for ((kind, name), org) in deps.iter().zip(orgs) {
        let Some(org) = org else { continue };
        match answers.get(org).copied().unwrap_or(Status::Error) {
            Status::NxDomain => names.push(format!("{kind}:{name}")),
            s if s.is_failure() => {
                status.get_or_insert(s);
            }
            _ => {}
        }
    }
    DanglingFindings {
        names: Some(names),
        status: status.unwrap_or(Status::Ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_report_and_logo_uris() {
        let cases = [
            (
                "mailto:agg@reports.example.net",
                Some("reports.example.net"),
            ),
            (
                "mailto:agg@Reports.Example.NET!10m",
                Some("reports.example.net"),
            ),
            (
                "https://tlsrpt.example.org/v1/report",
                Some("tlsrpt.example.org"),
            ),
            (
                "https://user@cdn.example.com:8443/logo.svg",
                Some("cdn.example.com"),
            ),
            ("HTTPS://cdn.example.com", Some("cdn.example.com")),
            ("https://[2001:db8::1]/x", None),
            ("mailto:no-at-sign", None),
            ("ftp://example.com/x", None),
            ("", None),
        ];
        for (uri, want) in cases {
            assert_eq!(uri_host(uri).as_deref(), want, "{uri}");
        }
    }

    #[test]
    fn dependencies_are_listed_once_per_kind_in_order() {
        let spf = [
            (SpfTerm::Include, "_spf.gone.example".to_string()),
            (SpfTerm::A, "web.gone.example".to_string()),
            (SpfTerm::Include, "_spf.gone.example".to_string()),
        ];
        let exchanges = [
            "mx.gone.example".to_string(),
            "127.0.0.10".to_string(),
            "2001:db8::25".to_string(),
        ];
        let rua = [
            "mailto:a@r.example.net".to_string(),
            "mailto:b@r.example.net".to_string(),
        ];
        let sts = ["*.mx.example.org".to_string()];
        let names = MailNames {
            spf: &spf,
            exchanges: &exchanges,
            rua: &rua,
            mta_sts_mx: &sts,
            ..MailNames::default()
        };
        let got: Vec<String> = dependencies(&names)
            .iter()
            .map(|(k, n)| format!("{k}:{n}"))
            .collect();
        assert_eq!(
            got,
            [
                "spf-include:_spf.gone.example",
                "spf-a:web.gone.example",
                "mx:mx.gone.example",
                "dmarc-rua:r.example.net",
                "mta-sts:mx.example.org",
            ]
        );
    }

    #[test]
    fn only_nxdomain_organizations_dangle_and_failures_are_a_status() {
        let deps = vec![
            (Kind::SpfInclude, "_spf.gone.com".to_string()),
            (Kind::Mx, "mx.alive.com".to_string()),
            (Kind::DmarcRua, "reports.slow.com".to_string()),
            (Kind::SpfA, "www.self.com".to_string()),
        ];
        let orgs = organizations("mail.self.com", &deps, None);
        assert_eq!(
            orgs,
            [
                Some("gone.com".to_string()),
                Some("alive.com".to_string()),
                Some("slow.com".to_string()),
                None,
            ]
        );
        let answers = HashMap::from([
            ("gone.com".to_string(), Status::NxDomain),
            ("alive.com".to_string(), Status::Ok),
            ("slow.com".to_string(), Status::Timeout),
        ]);
        let f = findings(&deps, &orgs, &answers);
        assert_eq!(f.names.unwrap(), ["spf-include:_spf.gone.com"]);
        assert_eq!(f.status, Status::Timeout);
        let answered = HashMap::from([
            ("gone.com".to_string(), Status::NxDomain),
            ("alive.com".to_string(), Status::NoData),
            ("slow.com".to_string(), Status::NxDomain),
        ]);
        let f = findings(&deps, &orgs, &answered);
        assert_eq!(
            f.names.unwrap(),
            ["spf-include:_spf.gone.com", "dmarc-rua:reports.slow.com"]
        );
        assert_eq!(f.status, Status::Ok);
    }
}
