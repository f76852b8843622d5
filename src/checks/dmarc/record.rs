//! The DMARC record and its tags (RFC 7489 6.3, 6.4; DMARCbis for `np`, `t`, `psd`).

use super::super::taglist::{self, Part};
use crate::checks::problem::{Code, problem};

/// RFC 7489 6.4: `( "none" / "quarantine" / "reject" )`, for `p`, `sp` and (DMARCbis) `np`.
/// ABNF literals are case-insensitive (RFC 5234 2.3), so `p=Reject` is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    fn parse(v: &str) -> Option<Policy> {
        match v.to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }
}

/// RFC 7489 6.4: `dmarc-adkim = "adkim" *WSP "=" *WSP ( "r" / "s" )` (and `aspf` alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    Relaxed,
    Strict,
}

impl Alignment {
    pub fn as_str(self) -> &'static str {
        match self {
            Alignment::Relaxed => "r",
            Alignment::Strict => "s",
        }
    }
}

/// DMARCbis `psd` tag: `"y"` (the domain is a Public Suffix Domain), `"n"` (it is an
/// Organizational Domain), `"u"` (unspecified, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Psd {
    Yes,
    No,
    Unspecified,
}

impl Psd {
    pub fn as_str(self) -> &'static str {
        match self {
            Psd::Yes => "y",
            Psd::No => "n",
            Psd::Unspecified => "u",
        }
    }
}

/// One reporting URI from `rua` or `ruf`.
///
/// RFC 7489 6.4: `dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]`; 6.2: the units are
/// powers of two ("k" is 2^10 bytes, "m" 2^20, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUri {
    /// The URI without the `!size` suffix, as written.
    pub uri: String,
    /// For `mailto:` URIs (the only scheme RFC 7489 6.2 requires), the percent-decoded address.
    pub address: Option<String>,
    /// The address's domain, lowercased, without a trailing dot.
    pub domain: Option<String>,
    /// The maximum report size the Domain Owner accepts, in bytes.
    pub max_size_bytes: Option<u64>,
}

/// A parsed `v=DMARC1` record. Tag names and keyword values are ABNF literals, hence
/// case-insensitive; they are kept lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DmarcRecord {
    /// The record began with `v=DMARC1` (RFC 7489 6.4 `dmarc-version`).
    pub version_ok: bool,
    /// A policy applies (RFC 9989 4.10.1): `version_ok`, a valid `p`, and no invalid `sp` or
    /// `np`. RFC 7489 6.6.3 step 6 knows no `np`: see [`DmarcRecord::valid_rfc7489`].
    pub valid: bool,
    /// A `p`, `sp` or `np` tag was present with a value that is not a policy.
    pub invalid_p: bool,
    pub invalid_sp: bool,
    pub invalid_np: bool,
    pub p: Option<Policy>,
    pub sp: Option<Policy>,
    pub np: Option<Policy>,
    pub pct: Option<u8>,
    pub adkim: Option<Alignment>,
    pub aspf: Option<Alignment>,
    /// `fo` options, each of `0`, `1`, `d`, `s`.
    pub fo: Vec<char>,
    /// `rf` report formats (`afrf` is the only registered one).
    pub rf: Vec<String>,
    pub ri: Option<u32>,
    pub rua: Vec<ReportUri>,
    pub ruf: Vec<ReportUri>,
    /// The `rua` / `ruf` items as written (with any `!size`), for reporting raw.
    pub rua_raw: Vec<String>,
    pub ruf_raw: Vec<String>,
    /// DMARCbis `t` (testing mode): `y` true, `n` false.
    pub t: Option<bool>,
    pub psd: Option<Psd>,
    /// Tags this parser does not know, as `(name, value)`: RFC 7489 6.3 and RFC 9989 4.7 say they
    /// MUST be ignored, but they are kept (and warned of) so a scan can count typos such as `rue=`.
    pub unknown: Vec<(String, String)>,
    /// Problems, each `code: text`.
    pub errors: Vec<String>,
}

const WSP: [char; 2] = [' ', '\t'];

/// RFC 7489 6.4: `dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31`. The `v` is an
/// ABNF string (case-insensitive) but `DMARC1` is spelled in hex, so exact case; records that do
/// not begin so are discarded (6.6.3 step 4).
pub fn is_dmarc_record(txt: &str) -> bool {
    let Some(rest) = txt.strip_prefix(['v', 'V']) else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches(WSP).strip_prefix('=') else {
        return false;
    };
    match rest.trim_start_matches(WSP).strip_prefix("DMARC1") {
        Some(after) => after.is_empty() || after.starts_with([';', ' ', '\t']),
        None => false,
    }
}

/// Parses one record's tags (RFC 7489 6.3, 6.4; DMARCbis for `np`, `t`, `psd`).
///
/// ```text
/// dmarc-record    = dmarc-version dmarc-sep
///                   [dmarc-request]
///                   [dmarc-sep dmarc-srequest]
///                   [dmarc-sep dmarc-auri]
///                   [dmarc-sep dmarc-furi]
///                   [dmarc-sep dmarc-adkim]
///                   [dmarc-sep dmarc-aspf]
///                   [dmarc-sep dmarc-ainterval]
///                   [dmarc-sep dmarc-fo]
///                   [dmarc-sep dmarc-rfmt]
///                   [dmarc-sep dmarc-percent]
///                   [dmarc-sep]
/// dmarc-request   = "p" *WSP "=" *WSP ( "none" / "quarantine" / "reject" )
/// dmarc-percent   = "pct" *WSP "=" *WSP 1*3DIGIT
/// dmarc-ainterval = "ri" *WSP "=" *WSP 1*DIGIT
/// dmarc-fo        = "fo" *WSP "=" *WSP ( "0" / "1" / "d" / "s" )
///                   *(*WSP ":" *WSP ( "0" / "1" / "d" / "s" ))
/// dmarc-rfmt      = "rf"  *WSP "=" *WSP Keyword *(*WSP ":" Keyword)
/// dmarc-auri      = "rua" *WSP "=" *WSP dmarc-uri *(*WSP "," *WSP dmarc-uri)
/// ```
///
/// RFC 9989 4.8 (`dmarc-record = dmarc-version *(dmarc-sep dmarc-tag) [dmarc-sep]`) takes the
/// tags in any order after `v`, and receivers did so under RFC 7489 too: only `v` is held to its
/// place, and `p` need not be second. The first
/// of duplicated tags wins, as a lenient receiver would do; the duplicate is flagged.
pub fn parse(record: &str) -> DmarcRecord {
    let mut r = DmarcRecord::default();
    for (i, part) in taglist::parse(record, &taglist::DMARC)
        .into_iter()
        .enumerate()
    {
        let t = match part {
            Part::Tag(t) => t,
            Part::NoEquals { .. } => {
                r.errors.extend(part.syntax_error());
                if i == 0 {
                    r.errors.push(problem(
                        Code::MissingVersion,
                        "the record must begin with v=DMARC1 (RFC 7489 6.4)",
                    ));
                }
                continue;
            }
            Part::BadName { .. } => {
                r.errors.extend(part.syntax_error());
                continue;
            }
        };
        let (offset, value) = (t.offset, t.value);
        let tag = t.name.to_ascii_lowercase();
        if i == 0 {
            if tag != "v" {
                r.errors.push(problem(
                    Code::MissingVersion,
                    "the record must begin with v=DMARC1 (RFC 7489 6.4)",
                ));
            } else if value != "DMARC1" {
                r.errors.push(problem(
                    Code::InvalidVersion,
                    format_args!("{value:?} (RFC 7489 6.4: exactly DMARC1)"),
                ));
            } else {
                r.version_ok = true;
            }
        }
        if t.duplicate {
            r.errors.push(problem(
                Code::DuplicateTag,
                format_args!("{tag} again at byte {offset} (the first one is used)"),
            ));
            continue;
        }
        if matches!(tag.as_str(), "pct" | "rf" | "ri") {
            // RFC 9989 removed them (its tag registry marks them historic); RFC 7489 readers may
            // still honour them, so the value is parsed and kept in its column all the same.
            r.errors.push(problem(
                Code::RemovedTag,
                format_args!("{tag}={value} (removed by RFC 9989, RFC 7489 readers may honour it)"),
            ));
        }
        match tag.as_str() {
            "v" if i == 0 => {}
            "v" => r.errors.push(problem(
                Code::Syntax,
                format_args!("byte {offset}: v= must be the first tag (RFC 7489 6.4)"),
            )),
            "p" => match Policy::parse(value) {
                Some(p) => r.p = Some(p),
                None => {
                    r.invalid_p = true;
                    r.errors.push(problem(
                        Code::InvalidP,
                        format_args!("{value:?} (none, quarantine or reject)"),
                    ))
                }
            },
            "sp" => match Policy::parse(value) {
                Some(p) => r.sp = Some(p),
                None => {
                    r.invalid_sp = true;
                    r.errors.push(problem(
                        Code::InvalidSp,
                        format_args!("{value:?} (none, quarantine or reject)"),
                    ));
                }
            },
            "np" => match Policy::parse(value) {
                Some(p) => r.np = Some(p),
                None => {
                    r.invalid_np = true;
                    r.errors.push(problem(
                        Code::InvalidNp,
                        format_args!("{value:?} (none, quarantine or reject)"),
                    ))
                }
            },
            "pct" => match value.parse::<u8>() {
                Ok(n) if n <= 100 && is_digits(value, 3) => r.pct = Some(n),
                _ => r
                    .errors
                    .push(problem(Code::InvalidPct, format_args!("{value:?} (0-100)"))),
            },
            "adkim" | "aspf" => {
                let a = match value.to_ascii_lowercase().as_str() {
                    "r" => Some(Alignment::Relaxed),
                    "s" => Some(Alignment::Strict),
                    _ => None,
                };
                match a {
                    Some(a) if tag == "adkim" => r.adkim = Some(a),
                    Some(a) => r.aspf = Some(a),
                    None => {
                        let code = if tag == "adkim" {
                            Code::InvalidAdkim
                        } else {
                            Code::InvalidAspf
                        };
                        r.errors
                            .push(problem(code, format_args!("{value:?} (r or s)")))
                    }
                }
            }
            "fo" => {
                for opt in value.split(':').map(|o| o.trim_matches(WSP)) {
                    match opt.to_ascii_lowercase().as_str() {
                        o @ ("0" | "1" | "d" | "s") => r.fo.extend(o.chars()),
                        _ => r.errors.push(problem(
                            Code::InvalidFo,
                            format_args!("{opt:?} (colon-separated 0, 1, d, s)"),
                        )),
                    }
                }
            }
            "rf" => {
                for fmt in value.split(':').map(|f| f.trim_matches(WSP)) {
                    let fmt = fmt.to_ascii_lowercase();
                    if fmt != "afrf" {
                        r.errors.push(problem(
                            Code::InvalidRf,
                            format_args!(
                                "{fmt:?} (afrf is the only registered format, RFC 7489 6.3)"
                            ),
                        ));
                    }
                    r.rf.push(fmt);
                }
            }
            "ri" => match value.parse::<u32>() {
                Ok(n) if is_digits(value, 10) => r.ri = Some(n),
                _ => r.errors.push(problem(
                    Code::InvalidRi,
                    format_args!("{value:?} (seconds, 32-bit unsigned)"),
                )),
            },
            "rua" => {
                r.rua_raw = split_uris(value);
                r.rua = parse_uris("rua", &r.rua_raw, &mut r.errors);
            }
            "ruf" => {
                r.ruf_raw = split_uris(value);
                r.ruf = parse_uris("ruf", &r.ruf_raw, &mut r.errors);
            }
            "t" => match value.to_ascii_lowercase().as_str() {
                "y" => r.t = Some(true),
                "n" => r.t = Some(false),
                _ => r
                    .errors
                    .push(problem(Code::InvalidT, format_args!("{value:?} (y or n)"))),
            },
            "psd" => match value.to_ascii_lowercase().as_str() {
                "y" => r.psd = Some(Psd::Yes),
                "n" => r.psd = Some(Psd::No),
                "u" => r.psd = Some(Psd::Unspecified),
                _ => r.errors.push(problem(
                    Code::InvalidPsd,
                    format_args!("{value:?} (y, n or u)"),
                )),
            },
            _ => {
                r.errors.push(problem(Code::UnknownTag, &tag));
                r.unknown.push((tag, value.to_string()));
            }
        }
    }
    if r.p.is_none() && !r.invalid_p {
        r.errors.push(problem(
            Code::MissingP,
            "no p= tag (RFC 7489 6.3: REQUIRED for policy records, RFC 9989 4.7: treated as p=none)",
        ));
    }
    r.valid = r.version_ok && r.p.is_some() && !r.invalid_sp && !r.invalid_np;
    r
}

impl DmarcRecord {
    /// RFC 7489 6.6.3 step 6: a valid `p` and no invalid `sp`; `np` is not an RFC 7489 tag,
    /// so an invalid one is an unknown tag's value, ignored (6.3).
    pub fn valid_rfc7489(&self) -> bool {
        self.version_ok && self.p.is_some() && !self.invalid_sp
    }
}

fn is_digits(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
}

fn split_uris(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|u| u.trim_matches(WSP).to_string())
        .collect()
}

/// Parses `dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]` items. RFC 7489 6.2: a
/// URI's own `!` and `,` must be percent-encoded, so the last `!` starts the size limit.
fn parse_uris(tag: &str, items: &[String], errors: &mut Vec<String>) -> Vec<ReportUri> {
    let mut out = Vec::new();
    for item in items {
        if item.is_empty() {
            errors.push(problem(
                Code::InvalidUri,
                format_args!("empty item in {tag}"),
            ));
            continue;
        }
        let (uri, size) = match item.rsplit_once('!') {
            Some((uri, size)) => match parse_size(size) {
                Some(n) => (uri, Some(n)),
                None => {
                    errors.push(problem(
                        Code::InvalidUriSize,
                        format_args!("{item:?} (!digits with an optional k, m, g or t)"),
                    ));
                    (uri, None)
                }
            },
            None => (item.as_str(), None),
        };
        let Some((scheme, rest)) = uri.split_once(':').filter(|(s, _)| is_scheme(s)) else {
            errors.push(problem(
                Code::InvalidUri,
                format_args!("{item:?} in {tag} has no scheme (RFC 7489 6.4: e.g. mailto:)"),
            ));
            continue;
        };
        let mut parsed = ReportUri {
            uri: uri.to_string(),
            address: None,
            domain: None,
            max_size_bytes: size,
        };
        if scheme.eq_ignore_ascii_case("mailto") {
            // RFC 6068: the address ends where the header part (`?...`) begins.
            let addr = percent_decode(rest.split('?').next().unwrap_or(""));
            match addr.rsplit_once('@') {
                Some((local, domain)) if !local.is_empty() && is_hostname(domain) => {
                    parsed.domain = Some(domain.trim_end_matches('.').to_ascii_lowercase());
                    parsed.address = Some(addr);
                }
                _ => errors.push(problem(
                    Code::InvalidMailto,
                    format_args!("{item:?} in {tag} is not mailto:local@domain"),
                )),
            }
        } else {
            errors.push(problem(
                Code::UnsupportedUriScheme,
                format_args!("{scheme} in {tag} (RFC 7489 6.2 requires only mailto)"),
            ));
        }
        out.push(parsed);
    }
    out
}

/// RFC 7489 6.2: "units are considered to be powers of two".
fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()?.to_ascii_lowercase() {
        b'k' => (&s[..s.len() - 1], 10),
        b'm' => (&s[..s.len() - 1], 20),
        b'g' => (&s[..s.len() - 1], 30),
        b't' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// RFC 3986 3.1: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(a) if a.is_ascii_alphabetic())
        && c.all(|a| a.is_ascii_alphanumeric() || "+-.".contains(a))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_hostname(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b >= 0x80)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn has(errors: &[String], code: &str) -> bool {
        errors.iter().any(|e| e.starts_with(&format!("{code}:")))
    }

    #[test]
    fn version_table() {
        for (t, want) in [
            ("v=DMARC1; p=none", true),
            ("v = DMARC1;p=none", true),
            ("v=DMARC1", true),
            ("V=DMARC1", true),
            ("v=\tDMARC1 ; p=none", true),
            ("v=dmarc1; p=none", false),
            ("v=DMARC10; p=none", false),
            ("p=none; v=DMARC1", false),
            (" v=DMARC1", false),
            ("v=spf1 -all", false),
            ("", false),
        ] {
            assert_eq!(is_dmarc_record(t), want, "{t:?}");
        }
    }

    #[test]
    fn parse_values_table() {
        let r = parse(
            "v=DMARC1; p=Reject; sp=quarantine; np=none; pct=50; adkim=s; aspf=R; fo=0:1:d:s; \
             rf=afrf; ri=3600; t=y; psd=n",
        );
        assert!(r.valid, "{:?}", r.errors);
        // RFC 9989 removed pct, rf and ri: warned of, their values kept.
        assert_eq!(
            r.errors,
            [
                "removed-tag: pct=50 (removed by RFC 9989, RFC 7489 readers may honour it)",
                "removed-tag: rf=afrf (removed by RFC 9989, RFC 7489 readers may honour it)",
                "removed-tag: ri=3600 (removed by RFC 9989, RFC 7489 readers may honour it)",
            ]
        );
        assert_eq!(
            (r.p, r.sp, r.np, r.pct),
            (
                Some(Policy::Reject),
                Some(Policy::Quarantine),
                Some(Policy::None),
                Some(50)
            )
        );
        assert_eq!(
            (r.adkim, r.aspf),
            (Some(Alignment::Strict), Some(Alignment::Relaxed))
        );
        assert_eq!(r.fo, vec!['0', '1', 'd', 's']);
        assert_eq!(
            (r.rf, r.ri, r.t, r.psd),
            (s(&["afrf"]), Some(3600), Some(true), Some(Psd::No))
        );
    }

    #[test]
    fn parse_errors_table() {
        // (record, valid, expected error code or "")
        for (rec, valid, code) in [
            ("v=DMARC1; p=none", true, ""),
            ("v=DMARC1; p=none;", true, ""),
            ("v=DMARC1;p=none;;", true, ""),
            ("v=DMARC1", false, "missing-p"),
            ("v=DMARC1; rua=mailto:a@example.com", false, "missing-p"),
            ("v=DMARC1; p=bogus", false, "invalid-p"),
            ("v=DMARC1; p=none; sp=bogus", false, "invalid-sp"),
            // RFC 9989 4.10.1: an invalid np spoils the record as an invalid sp does.
            ("v=DMARC1; p=none; np=bogus", false, "invalid-np"),
            ("v=DMARC1; np=reject; p=quarantine", true, ""),
            ("v=DMARC1; rua=mailto:a@example.com; p=none", true, ""),
            ("v=DMARC1; p=none; pct=150", true, "invalid-pct"),
            ("v=DMARC1; p=none; pct=-1", true, "invalid-pct"),
            ("v=DMARC1; p=none; pct=0100", true, "invalid-pct"),
            ("v=DMARC1; p=none; pct=100", true, "removed-tag"),
            ("v=DMARC1; p=none; ri=86400", true, "removed-tag"),
            ("v=DMARC1; p=none; adkim=x", true, "invalid-adkim"),
            ("v=DMARC1; p=none; aspf=relaxed", true, "invalid-aspf"),
            ("v=DMARC1; p=none; fo=1:x", true, "invalid-fo"),
            ("v=DMARC1; p=none; rf=iodef", true, "invalid-rf"),
            ("v=DMARC1; p=none; ri=99999999999", true, "invalid-ri"),
            ("v=DMARC1; p=none; ri=1h", true, "invalid-ri"),
            ("v=DMARC1; p=none; t=maybe", true, "invalid-t"),
            ("v=DMARC1; p=none; psd=x", true, "invalid-psd"),
            ("v=DMARC1; p=none; foo=bar", true, "unknown-tag"),
            ("v=DMARC1; p=none; t=y; psd=n", true, ""),
            ("v=DMARC1; p=none; p=reject", true, "duplicate-tag"),
            ("v=DMARC1; p=none; v=DMARC1", true, "duplicate-tag"),
            ("v=DMARC1; p=none; junk", true, "syntax"),
            ("v=DMARC1; p=none; 9x=1", true, "syntax"),
            ("p=none; v=DMARC1", false, "missing-version"),
            ("v=DMARC2; p=none", false, "invalid-version"),
            (
                "v=DMARC1; p=none; rua=example@example.com",
                true,
                "invalid-uri",
            ),
            (
                "v=DMARC1; p=none; rua=mailto:a@example.com!10x",
                true,
                "invalid-uri-size",
            ),
            (
                "v=DMARC1; p=none; rua=mailto:nobody",
                true,
                "invalid-mailto",
            ),
            (
                "v=DMARC1; p=none; rua=mailto:a@example.com,",
                true,
                "invalid-uri",
            ),
            (
                "v=DMARC1; p=none; ruf=https://r.example/x",
                true,
                "unsupported-uri-scheme",
            ),
        ] {
            let r = parse(rec);
            assert_eq!(r.valid, valid, "{rec:?}: {:?}", r.errors);
            // The CSV output joins a list's items with `;`.
            assert!(r.errors.iter().all(|e| !e.contains(';')), "{:?}", r.errors);
            if code.is_empty() {
                assert!(r.errors.is_empty(), "{rec:?}: {:?}", r.errors);
            } else {
                assert!(
                    has(&r.errors, code),
                    "{rec:?}: want {code}, got {:?}",
                    r.errors
                );
            }
        }
    }

    #[test]
    fn syntax_errors_carry_position() {
        let r = parse("v=DMARC1; p=none; junk");
        assert_eq!(r.errors, ["syntax: byte 18: \"junk\" is not tag=value"]);
        let r = parse("v=DMARC1; p=none; p=reject");
        assert_eq!(
            r.errors,
            ["duplicate-tag: p again at byte 18 (the first one is used)"]
        );
        assert_eq!(r.p, Some(Policy::None));
        let r = parse("v=DMARC1; p=none; Foo=bar");
        assert_eq!(r.unknown, vec![("foo".to_string(), "bar".to_string())]);
    }

    #[test]
    fn report_uris_table() {
        // (item, "address domain max_size_bytes" with - for None)
        for (item, want) in [
            ("mailto:d@example.com", "d@example.com example.com -"),
            ("mailto:d@Example.COM.", "d@Example.COM. example.com -"),
            (
                "mailto:d@example.com!10m",
                "d@example.com example.com 10485760",
            ),
            ("mailto:d@example.com!50", "d@example.com example.com 50"),
            ("mailto:d@example.com!1k", "d@example.com example.com 1024"),
            (
                "mailto:d@example.com!2G",
                "d@example.com example.com 2147483648",
            ),
            (
                "mailto:d@example.com!1t",
                "d@example.com example.com 1099511627776",
            ),
            ("MAILTO:a%21b@example.com", "a!b@example.com example.com -"),
            (
                "mailto:d@example.com?subject=x",
                "d@example.com example.com -",
            ),
            ("https://r.example/x", "- - -"),
        ] {
            let r = parse(&format!("v=DMARC1; p=none; rua={item}"));
            assert_eq!(r.rua.len(), 1, "{item}");
            let u = &r.rua[0];
            let got = format!(
                "{} {} {}",
                u.address.as_deref().unwrap_or("-"),
                u.domain.as_deref().unwrap_or("-"),
                u.max_size_bytes.map_or("-".into(), |n| n.to_string())
            );
            assert_eq!(got, want, "{item}");
            assert_eq!(r.rua_raw, [item]);
        }
        let r = parse("v=DMARC1; p=none; rua=mailto:a@x.example , mailto:b@y.example!5k");
        assert_eq!(r.rua_raw, ["mailto:a@x.example", "mailto:b@y.example!5k"]);
        assert_eq!(r.rua[1].uri, "mailto:b@y.example");
        assert!(
            parse("v=DMARC1; p=none; rua=mailto:a@x.example!99999999999t")
                .errors
                .iter()
                .any(|e| e.starts_with("invalid-uri-size:"))
        );
    }
}
