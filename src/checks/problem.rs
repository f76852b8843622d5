//! The problem codes of the `*_errors` columns: every item there reads `code: text`, the code a
//! closed set named in the RFCs' words, the text free. Checks build items through [`problem`] (or
//! [`Problem`]) and readers take the code back with [`Problem::split`], so a code exists here
//! once, never as a string spelled at a push site and again at a parse site.

use std::fmt;
use std::str::FromStr;

use crate::dns::Status;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// What went wrong, as the first word of an errors-column item. `Display` and
        /// [`Code::as_str`] give the kebab-case text; `FromStr` takes it back.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($(#[$doc])* $name,)*
            /// `dns-<status>`: a query of the row's own (MX, PTR, an MTA-STS policy host) failed
            /// with that [`Status`].
            Dns(Status),
        }

        impl Code {
            /// Every code, the DNS ones once per [`Status`].
            pub const ALL: &'static [Code] = &[
                $(Code::$name,)*
                Code::Dns(Status::Ok),
                Code::Dns(Status::NoData),
                Code::Dns(Status::NxDomain),
                Code::Dns(Status::ServFail),
                Code::Dns(Status::Refused),
                Code::Dns(Status::Timeout),
                Code::Dns(Status::Error),
            ];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)*
                    Code::Dns(s) => match s {
                        Status::Ok => "dns-ok",
                        Status::NoData => "dns-nodata",
                        Status::NxDomain => "dns-nxdomain",
                        Status::ServFail => "dns-servfail",
                        Status::Refused => "dns-refused",
                        Status::Timeout => "dns-timeout",
                        Status::Error => "dns-error",
                    },
                }
            }
        }

        impl FromStr for Code {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Code, UnknownCode> {
                match s {
                    $($text => Ok(Code::$name),)*
                    _ => s
                        .strip_prefix("dns-")
                        .and_then(|st| Status::ALL.into_iter().find(|x| x.as_str() == st))
                        .map(Code::Dns)
                        .ok_or(UnknownCode),
                }
            }
        }
    };
}

codes! {
    // Any query of a policy's walk that did not answer (RFC 7208 2.6.6, RFC 7489 6.6.3).
    DnsTempError = "dns-temperror",
    /// Several records where one is wanted (RFC 7208 4.5, RFC 7489 6.6.3, RFC 8461 3.1, ...).
    MultipleRecords = "multiple-records",
    /// Text that is not the record's grammar.
    Syntax = "syntax",
    UnknownTag = "unknown-tag",
    /// DMARC: a tag RFC 9989 removed (`pct`, `rf`, `ri`), kept for RFC 7489 readers.
    RemovedTag = "removed-tag",
    DuplicateTag = "duplicate-tag",
    DuplicateField = "duplicate-field",
    DuplicateId = "duplicate-id",
    DuplicateRua = "duplicate-rua",
    MissingVersion = "missing-version",
    MissingP = "missing-p",
    MissingId = "missing-id",
    MissingMode = "missing-mode",
    MissingMaxAge = "missing-max-age",
    MissingMx = "missing-mx",
    MissingRua = "missing-rua",
    MissingL = "missing-l",
    InvalidVersion = "invalid-version",
    InvalidP = "invalid-p",
    InvalidSp = "invalid-sp",
    InvalidNp = "invalid-np",
    InvalidPct = "invalid-pct",
    InvalidAdkim = "invalid-adkim",
    InvalidAspf = "invalid-aspf",
    InvalidFo = "invalid-fo",
    InvalidRf = "invalid-rf",
    InvalidRi = "invalid-ri",
    InvalidT = "invalid-t",
    InvalidPsd = "invalid-psd",
    InvalidUri = "invalid-uri",
    InvalidUriSize = "invalid-uri-size",
    InvalidUriScheme = "invalid-uri-scheme",
    InvalidMailto = "invalid-mailto",
    InvalidHttps = "invalid-https",
    InvalidId = "invalid-id",
    InvalidMode = "invalid-mode",
    InvalidMaxAge = "invalid-max-age",
    InvalidMx = "invalid-mx",
    InvalidBase64 = "invalid-base64",
    InvalidKey = "invalid-key",
    InvalidL = "invalid-l",
    InvalidA = "invalid-a",
    InvalidDomain = "invalid-domain",
    UnsupportedUriScheme = "unsupported-uri-scheme",
    /// DMARC: an external report destination's authorization query failed (RFC 7489 7.1).
    RuaAuthorizationTempError = "rua-authorization-temperror",
    // SPF (RFC 7208).
    LookupLimit = "lookup-limit",
    VoidLimit = "void-limit",
    MxLimit = "mx-limit",
    DepthLimit = "depth-limit",
    /// The walk stopped at its own bound, not an RFC limit.
    WalkLimit = "walk-limit",
    IncludeLoop = "include-loop",
    IncludeNone = "include-none",
    IncludeInvalid = "include-invalid",
    RedirectNone = "redirect-none",
    RedirectInvalid = "redirect-invalid",
    NoRecord = "no-record",
    // DKIM (RFC 6376, RFC 8301, RFC 8463).
    UnknownFlag = "unknown-flag",
    ObsoleteTag = "obsolete-tag",
    UnknownKeyType = "unknown-key-type",
    Sha1Only = "sha1-only",
    NotForEmail = "not-for-email",
    Testing = "testing",
    Revoked = "revoked",
    Pkcs1Key = "pkcs1-key",
    WeakKey = "weak-key",
    ShortKey = "short-key",
    LargeKey = "large-key",
    DomainkeysPolicy = "domainkeys-policy",
    // BIMI.
    LNotSvg = "l-not-svg",
    NoEvidence = "no-evidence",
    // MX (RFC 5321, RFC 7505).
    NullMxMixed = "null-mx-mixed",
    NullMxPreference = "null-mx-preference",
    MxIpLiteral = "mx-ip-literal",
    MxCname = "mx-cname",
    MxNoAddress = "mx-no-address",
    MxAddressLookup = "mx-address-lookup",
    MxTooMany = "mx-too-many",
    // Hosts.
    PtrTooMany = "ptr-too-many",
    ForwardLookup = "forward-lookup",
    AsnLookup = "asn-lookup",
    TlsaLookup = "tlsa-lookup",
    // An MTA-STS policy fetch (RFC 8461 3.3); its DNS failure is `Dns(Status::Error)`.
    ConnectError = "connect-error",
    TlsError = "tls-error",
    HttpError = "http-error",
    Timeout = "timeout",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is no [`Code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a problem code")]
pub struct UnknownCode;

/// One item of an errors column: `Display` is exactly `code: text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub text: String,
}

impl Problem {
    pub fn new(code: Code, text: impl fmt::Display) -> Problem {
        Problem {
            code,
            text: text.to_string(),
        }
    }

    /// The code and the text of an item, without copying: `None` when the item does not start
    /// with a known code and `": "` (a DNSBL error starts with its zone instead).
    pub fn split(item: &str) -> Option<(Code, &str)> {
        let (code, text) = item.split_once(": ")?;
        Some((code.parse().ok()?, text))
    }

    pub fn parse(item: &str) -> Option<Problem> {
        Problem::split(item).map(|(code, text)| Problem::new(code, text))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.text)
    }
}

/// The errors-column item `code: text`, formatted once: `text` is usually a `format_args!`.
pub fn problem(code: Code, text: impl fmt::Display) -> String {
    format!("{code}: {text}")
}

/// Test support: panics unless every item is a [`Problem`] of a listed code, and returns the
/// codes seen. The checks' own table tests call it on what they produce.
#[cfg(test)]
pub fn assert_problems<'a>(items: impl IntoIterator<Item = &'a String>) -> Vec<Code> {
    items
        .into_iter()
        .map(|i| match Problem::split(i) {
            Some((code, _)) => code,
            None => panic!("{i:?} is not `code: text` with a code of checks::problem"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{
        Lookup, TxtPolicy, bimi, dane, dkim, dmarc, mta_sts, mx_policy, rdns, tls_rpt,
    };
    use std::collections::{BTreeSet, HashSet};

    #[test]
    fn every_code_round_trips() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in Code::ALL {
            assert_eq!(c.as_str().parse::<Code>(), Ok(c), "{c}");
            assert_eq!(c.to_string(), c.as_str());
            assert!(seen.insert(c.as_str()), "{c} twice");
            // Readers split at the first ": ", so a code must not hold one.
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{c} is not kebab-case"
            );
        }
    }

    #[test]
    fn unknown_words_are_no_code() {
        for w in [
            "",
            "Syntax",
            "dns-",
            "dns-temp",
            "invalid",
            "zen.example",
            "syntax ",
        ] {
            assert_eq!(w.parse::<Code>(), Err(UnknownCode), "{w:?}");
        }
    }

    #[test]
    fn problems_round_trip() {
        let cases = [
            (Code::Syntax, "byte 5: \"junk\" is not tag=value"),
            (Code::Dns(Status::Timeout), "MX query timeout: no answer"),
            (Code::WeakKey, "s1: RSA 512 bits (RFC 8301 3.2: ...)"),
            (Code::Timeout, ""),
        ];
        for (code, text) in cases {
            let p = Problem::new(code, text);
            let s = p.to_string();
            assert_eq!(s, format!("{}: {text}", code.as_str()));
            assert_eq!(s, problem(code, text));
            assert_eq!(Problem::parse(&s), Some(p));
            assert_eq!(Problem::split(&s), Some((code, text)));
        }
    }

    #[test]
    fn items_that_are_no_problem() {
        for item in [
            "syntax",
            "zen.example: 127.255.255.254 answer",
            "lookup-limit:12",
            "Lookup-limit: 12",
        ] {
            assert_eq!(Problem::parse(item), None, "{item}");
        }
    }

    /// What the record checks say about a corpus of broken records: every item parses, and the
    /// corpus reaches the codes it is built to reach (a code renamed at a push site fails here,
    /// or in the checks' own tables, which compare exact strings).
    #[test]
    fn the_checks_speak_only_listed_codes() {
        let mut items: Vec<String> = Vec::new();
        for rec in [
            "v=DMARC1; p=maybe; sp=x; np=y; pct=200; adkim=q; aspf=z; fo=9; rf=xml; ri=-1; t=m; psd=q; rua=; ruf=ftp://x; zz=1; p=none",
            "v=DMARC1; rua=http://x!10q; ruf=mailto:nobody",
            "p=none; v=DMARC1",
            "v=DMARC2",
            "v=DMARC1; rua=mailto:a@b.example!5x; ruf=data:abc",
            "v=DMARC1; junk",
        ] {
            items.extend(dmarc::parse(rec).errors);
        }
        for rec in [
            "v=DKIM1; k=rsa; p=",
            "v=DKIM1; k=dsa; h=sha1; s=tlsrpt; t=y:q; g=*; x=1; p=AAAA",
            "v=DKIM1; p=!!!",
            "k=rsa; v=DKIM1; p=MA==",
            "v=DKIM2",
            "v=DKIM1; v=DKIM1; junk",
            "v=DKIM1; k=ed25519; p=AAAA",
            "v=DKIM1; k=rsa",
        ] {
            let k = dkim::parse_key_record(rec);
            items.extend(k.errors);
            items.extend(k.notes);
        }
        for rec in [
            "v=STSv1; id=x!; junk",
            "v=STSv1; id=1; id=2",
            "id=1",
            "v=STSv1; x",
        ] {
            items.extend(mta_sts::parse_record(rec).errors);
        }
        for text in [
            "version: STSv2\nmode: x\nmode: y\nmax_age: -1\nmx: a.*.b\ngarbage\n9x: 1",
            "version: STSv1\nmode: enforce\nmax_age: 1",
            "",
        ] {
            items.extend(mta_sts::parse_policy(text).errors);
        }
        for rec in [
            "v=TLSRPTv1; rua=ftp://x,mailto:nobody,https://; rua=mailto:a@b; junk",
            "v=TLSRPTv1",
            "rua=mailto:a@b",
        ] {
            items.extend(tls_rpt::parse(rec).errors);
        }
        for rec in [
            "v=BIMI1; v=BIMI1; l=http://x; l=y; a=ftp://z; q=1",
            "v=BIMI1; l=https://x.example/logo.png",
            "v=BIMI1",
            "l=https://x",
        ] {
            let r = bimi::parse(rec);
            items.extend(r.errors);
            items.extend(r.notes);
        }
        let timeout = Lookup::TempError("timeout".to_string());
        let two = |r: &str| Lookup::Records(vec![r.to_string(), r.to_string()]);
        items.extend(dmarc::DmarcFindings::from_lookup("_dmarc.x", &timeout).errors);
        items
            .extend(dmarc::DmarcFindings::from_lookup("_dmarc.x", &two("v=DMARC1; p=none")).errors);
        items.extend(
            mta_sts::StsTxtFindings::from_lookup("_mta-sts.x", &two("v=STSv1; id=1")).errors,
        );
        items.extend(
            tls_rpt::TlsRptFindings::from_lookup(
                "_smtp._tls.x",
                &two("v=TLSRPTv1; rua=mailto:a@b"),
            )
            .errors,
        );
        items
            .extend(bimi::BimiFindings::from_lookup("default._bimi.x", &two("v=BIMI1; l=")).errors);
        items.extend(dkim::DkimFindings::temperror("_domainkey.x TXT timeout").errors);
        items.extend(
            dkim::findings(
                "x.example",
                &Lookup::Records(vec!["o=-".to_string()]),
                &[
                    ("a", Lookup::Records(vec!["v=DKIM1; p=!!".to_string()])),
                    ("b", timeout.clone()),
                    (
                        "c",
                        Lookup::Records(vec!["v=DKIM1; p=".to_string(), "v=DKIM1; p=".to_string()]),
                    ),
                ],
            )
            .errors,
        );
        items.extend(
            dmarc::report::authorization([("d.example", "x._report._dmarc.d.example", &timeout)])
                .errors,
        );
        let mx = [
            (5, String::new()),
            (10, ".".to_string()),
            (10, "192.0.2.1".to_string()),
            (10, "a.example".to_string()),
        ];
        let set = |x: &str| HashSet::from([x.to_string()]);
        items.extend(mx_policy::mx_problems(
            &mx,
            &set("a.example"),
            &set("a.example"),
        ));
        items.extend(dane::lookup_error(&dane::ExchangeTlsa {
            exchange: "mx.example".to_string(),
            tlsa: Lookup::TempError("servfail".to_string()),
            authentic: false,
            status: Status::ServFail,
        }));
        items.extend(
            rdns::fcrdns(
                "192.0.2.1".parse().unwrap(),
                &[(
                    "mx.example".to_string(),
                    Lookup::TempError("timeout".to_string()),
                )],
            )
            .1,
        );
        let many: Vec<String> = (0..20).map(|i| format!("h{i}.example")).collect();
        items.extend(rdns::ptr_names(&Lookup::Records(many)).unwrap().1);

        let seen: BTreeSet<Code> = assert_problems(&items).into_iter().collect();
        let missed: Vec<&str> = [
            "syntax",
            "multiple-records",
            "dns-temperror",
            "unknown-tag",
            "duplicate-tag",
            "duplicate-id",
            "duplicate-field",
            "duplicate-rua",
            "missing-version",
            "missing-p",
            "missing-id",
            "missing-mode",
            "missing-max-age",
            "missing-mx",
            "missing-rua",
            "missing-l",
            "invalid-version",
            "invalid-p",
            "invalid-sp",
            "invalid-np",
            "invalid-pct",
            "invalid-adkim",
            "invalid-aspf",
            "invalid-fo",
            "invalid-rf",
            "invalid-ri",
            "invalid-t",
            "invalid-psd",
            "invalid-uri",
            "invalid-uri-size",
            "invalid-uri-scheme",
            "invalid-mailto",
            "invalid-https",
            "invalid-id",
            "invalid-mode",
            "invalid-max-age",
            "invalid-mx",
            "invalid-base64",
            "invalid-key",
            "invalid-l",
            "invalid-a",
            "unsupported-uri-scheme",
            "rua-authorization-temperror",
            "unknown-flag",
            "obsolete-tag",
            "unknown-key-type",
            "sha1-only",
            "not-for-email",
            "testing",
            "revoked",
            "domainkeys-policy",
            "l-not-svg",
            "no-evidence",
            "null-mx-mixed",
            "null-mx-preference",
            "mx-ip-literal",
            "mx-cname",
            "mx-no-address",
            "ptr-too-many",
            "forward-lookup",
            "tlsa-lookup",
        ]
        .into_iter()
        .filter(|c| !seen.contains(&c.parse::<Code>().unwrap()))
        .collect();
        assert!(
            missed.is_empty(),
            "the corpus no longer reaches {missed:?}; it gave {items:#?}"
        );
    }
}
