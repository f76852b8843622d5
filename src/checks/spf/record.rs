//! SPF record syntax: the ABNF of RFC 7208 sections 4.5, 4.6, 5, 6 and 12
//! as types, and a parser that reports what is wrong and where.
//!
//! The whole record is parsed before evaluation starts because RFC 7208
//! 4.6 says syntax errors anywhere in the record yield "permerror", even
//! past the directive that matches.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{Grammar, MacroError, MacroString};
use crate::checks::problem::Code;

/// ```text
/// qualifier        = "+" / "-" / "?" / "~"
/// ```
/// Named after the result each produces (RFC 7208 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Qualifier {
    /// `+`, the default
    Pass,
    /// `-`
    Fail,
    /// `~`
    SoftFail,
    /// `?`
    Neutral,
}

impl Qualifier {
    pub fn as_str(self) -> &'static str {
        match self {
            Qualifier::Pass => "pass",
            Qualifier::Fail => "fail",
            Qualifier::SoftFail => "softfail",
            Qualifier::Neutral => "neutral",
        }
    }

    pub fn symbol(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ```text
/// domain-spec      = macro-string domain-end
/// domain-end       = ( "." toplabel [ "." ] ) / macro-expand
/// toplabel         = ( *alphanum ALPHA *alphanum ) /
///                    ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
///                    ; LDH rule plus additional TLD restrictions
///                    ; (see Section 2 of [RFC3696] for background)
/// alphanum         = ALPHA / DIGIT
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec(pub MacroString);

impl DomainSpec {
    pub fn parse(s: &str) -> Result<Self, MacroError> {
        if s.is_empty() {
            return Err(MacroError {
                at: 0,
                what: "empty domain-spec".into(),
            });
        }
        let (m, scan) = MacroString::parse(s, Grammar::DomainSpec)?;
        let tail = &s[scan.tail_literal..];
        if !tail.is_empty() {
            let t = tail.strip_suffix('.').unwrap_or(tail);
            let ok = match t.rfind('.') {
                Some(dot) => is_toplabel(&t[dot + 1..]),
                None => false,
            };
            if !ok {
                return Err(MacroError {
                    at: scan.tail_literal,
                    what: format!("domain-spec \"{s}\" does not end in a valid top label"),
                });
            }
        }
        Ok(Self(m))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn has_macros(&self) -> bool {
        self.0.has_macros()
    }
}

impl fmt::Display for DomainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_toplabel(l: &str) -> bool {
    let b = l.as_bytes();
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return false;
    }
    if b.contains(&b'-') {
        // second alternative: no leading or trailing hyphen
        b[0] != b'-' && b[b.len() - 1] != b'-'
    } else {
        // first alternative: at least one letter, so "123" is no TLD
        b.iter().any(u8::is_ascii_alphabetic)
    }
}

/// ```text
/// dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
/// ip4-cidr-length  = "/" ("0" / %x31-39 0*1DIGIT) ; value range 0-32
/// ip6-cidr-length  = "/" ("0" / %x31-39 0*2DIGIT) ; value range 0-128
/// ```
/// Missing lengths mean the whole address (RFC 7208 5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DualCidr {
    pub v4: u8,
    pub v6: u8,
}

impl Default for DualCidr {
    fn default() -> Self {
        Self { v4: 32, v6: 128 }
    }
}

/// ```text
/// mechanism        = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
/// all              = "all"
/// include          = "include"  ":" domain-spec
/// a                = "a"      [ ":" domain-spec ] [ dual-cidr-length ]
/// mx               = "mx"     [ ":" domain-spec ] [ dual-cidr-length ]
/// ptr              = "ptr"    [ ":" domain-spec ]
/// ip4              = "ip4"      ":" ip4-network   [ ip4-cidr-length ]
/// ip6              = "ip6"      ":" ip6-network   [ ip6-cidr-length ]
/// exists           = "exists"   ":" domain-spec
/// ```
/// A `None` domain-spec means `<domain>`, the domain being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(DomainSpec),
    A {
        domain: Option<DomainSpec>,
        cidr: DualCidr,
    },
    Mx {
        domain: Option<DomainSpec>,
        cidr: DualCidr,
    },
    /// RFC 7208 5.5: "This mechanism SHOULD NOT be published."
    Ptr(Option<DomainSpec>),
    Ip4 {
        addr: Ipv4Addr,
        prefix: u8,
    },
    Ip6 {
        addr: Ipv6Addr,
        prefix: u8,
    },
    Exists(DomainSpec),
}

impl Mechanism {
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::All => "all",
            Mechanism::Include(_) => "include",
            Mechanism::A { .. } => "a",
            Mechanism::Mx { .. } => "mx",
            Mechanism::Ptr(_) => "ptr",
            Mechanism::Ip4 { .. } => "ip4",
            Mechanism::Ip6 { .. } => "ip6",
            Mechanism::Exists(_) => "exists",
        }
    }

    /// RFC 7208 4.6.4: the terms that cause DNS queries and count against
    /// the limit of 10 (redirect is the sixth, a modifier).
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }

    /// The domain-spec argument, if the mechanism has one.
    pub fn domain_spec(&self) -> Option<&DomainSpec> {
        match self {
            Mechanism::Include(d) | Mechanism::Exists(d) => Some(d),
            Mechanism::A { domain, .. } | Mechanism::Mx { domain, .. } => domain.as_ref(),
            Mechanism::Ptr(d) => d.as_ref(),
            _ => None,
        }
    }
}

/// ```text
/// directive        = [ qualifier ] mechanism
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
    /// Byte offset of the term in the record, for messages.
    pub at: usize,
}

/// ```text
/// record           = version terms *SP
/// version          = "v=spf1"
/// terms            = *( 1*SP ( directive / modifier ) )
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// In record order; evaluation stops at the first match (RFC 7208 4.6.2).
    pub directives: Vec<Directive>,
    /// ```text
    /// modifier         = redirect / explanation / unknown-modifier
    /// redirect         = "redirect" "=" domain-spec
    /// ```
    /// RFC 7208 6.1. At most one (6: "MUST NOT appear more than once").
    pub redirect: Option<DomainSpec>,
    /// ```text
    /// explanation      = "exp" "=" domain-spec
    /// ```
    /// RFC 7208 6.2. At most one.
    pub exp: Option<DomainSpec>,
    /// ```text
    /// unknown-modifier = name "=" macro-string
    ///                    ; where name is not any known modifier
    /// name             = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    /// ```
    /// Kept as `(name, value)`: RFC 7208 6 says they "MUST be ignored" in
    /// evaluation, but a scanner may want to report them.
    pub unknown_modifiers: Vec<(String, MacroString)>,
}

impl Record {
    /// True when an `all` mechanism is present: RFC 7208 6.1 says any
    /// `redirect` "MUST be ignored" then.
    pub fn has_all(&self) -> bool {
        self.directives
            .iter()
            .any(|d| d.mechanism == Mechanism::All)
    }

    /// The redirect that evaluation can reach (None when `all` is present).
    pub fn effective_redirect(&self) -> Option<&DomainSpec> {
        if self.has_all() {
            None
        } else {
            self.redirect.as_ref()
        }
    }
}

/// What kind of syntax problem a [`ParseError`] is; [`ParseErrorKind::code`]
/// is stable and meant for machine-readable output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// Does not start with `v=spf1` followed by a space or the end.
    NotSpf,
    /// A term that is neither a known mechanism nor `name=value`.
    Syntax,
    UnknownMechanism,
    /// A mechanism without a required argument, or with one it takes none.
    InvalidArgument,
    InvalidCidr,
    InvalidIp,
    InvalidDomain,
    InvalidMacro,
    DuplicateModifier,
    /// RFC 7208 3.1 restricts records to 7-bit ASCII.
    NonAscii,
}

impl ParseErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ParseErrorKind::NotSpf => "not-spf",
            ParseErrorKind::Syntax => "syntax",
            ParseErrorKind::UnknownMechanism => "unknown-mechanism",
            ParseErrorKind::InvalidArgument => "invalid-argument",
            ParseErrorKind::InvalidCidr => "invalid-cidr",
            ParseErrorKind::InvalidIp => "invalid-ip",
            ParseErrorKind::InvalidDomain => "invalid-domain",
            ParseErrorKind::InvalidMacro => "invalid-macro",
            ParseErrorKind::DuplicateModifier => "duplicate-modifier",
            ParseErrorKind::NonAscii => "non-ascii",
        }
    }
}

/// A syntax error: what kind, a human description and the byte offset of
/// the offending term (or character, for non-ASCII and macro errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub what: String,
    pub at: usize,
}

impl ParseError {
    /// Stable machine-readable code, e.g. `unknown-mechanism`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    fn new(kind: ParseErrorKind, what: impl Into<String>, at: usize) -> Self {
        Self {
            kind,
            what: what.into(),
            at,
        }
    }
}

/// Every kind prints as `syntax: <what> at <offset>`: to a reader they are
/// all syntax errors; the precise kind is in [`ParseError::code`].
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} at {}", Code::Syntax, self.what, self.at)
    }
}

impl std::error::Error for ParseError {}

impl std::str::FromStr for Record {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse(s)
    }
}

/// Longest term text quoted in messages, so errors stay bounded.
const QUOTE_MAX: usize = 64;

fn quote(s: &str) -> String {
    let mut end = s.len().min(QUOTE_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < s.len() { "..." } else { "" };
    format!("\"{}{cut}\"", s[..end].escape_default())
}

/// Parses one SPF record (the TXT strings already joined).
pub fn parse(record: &str) -> Result<Record, ParseError> {
    use ParseErrorKind as K;
    if !super::is_spf_record(record) {
        return Err(ParseError::new(
            K::NotSpf,
            "record does not start with \"v=spf1\"",
            0,
        ));
    }
    if let Some(pos) = record.bytes().position(|b| !b.is_ascii()) {
        let ch = record[pos..].chars().next().map_or(0, |c| c as u32);
        return Err(ParseError::new(
            K::NonAscii,
            format!("non-ASCII character U+{ch:04X}"),
            pos,
        ));
    }
    let mut rec = Record::default();
    let mut at = 6;
    for term in record[6..].split(' ') {
        let start = at;
        at += term.len() + 1;
        if term.is_empty() {
            continue;
        }
        parse_term(term, start, &mut rec)?;
    }
    Ok(rec)
}

fn parse_term(term: &str, at: usize, rec: &mut Record) -> Result<(), ParseError> {
    use ParseErrorKind as K;
    let b = term.as_bytes();
    // A modifier is `name "="`; the name charset decides, since a
    // mechanism's argument starts with ':' or '/' and never contains '='
    // before one of those.
    let name_len = if b[0].is_ascii_alphabetic() {
        1 + b[1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
            .count()
    } else {
        0
    };
    if name_len > 0 && b.get(name_len) == Some(&b'=') {
        let name = &term[..name_len];
        let value = &term[name_len + 1..];
        let spec = |v: &str| DomainSpec::parse(v).map_err(|e| macro_err(e, term, at, name_len + 1));
        if name.eq_ignore_ascii_case("redirect") {
            if rec.redirect.is_some() {
                return Err(ParseError::new(
                    K::DuplicateModifier,
                    "redirect= appears more than once",
                    at,
                ));
            }
            rec.redirect = Some(spec(value)?);
        } else if name.eq_ignore_ascii_case("exp") {
            if rec.exp.is_some() {
                return Err(ParseError::new(
                    K::DuplicateModifier,
                    "exp= appears more than once",
                    at,
                ));
            }
            rec.exp = Some(spec(value)?);
        } else {
            let (m, _) = MacroString::parse(value, Grammar::Unknown)
                .map_err(|e| macro_err(e, term, at, name_len + 1))?;
            rec.unknown_modifiers.push((name.to_owned(), m));
        }
        return Ok(());
    }

    let (qualifier, body, off) = match b[0] {
        b'+' => (Qualifier::Pass, &term[1..], 1),
        b'-' => (Qualifier::Fail, &term[1..], 1),
        b'~' => (Qualifier::SoftFail, &term[1..], 1),
        b'?' => (Qualifier::Neutral, &term[1..], 1),
        _ => (Qualifier::Pass, term, 0),
    };
    let name_end = body.find([':', '/']).unwrap_or(body.len());
    let (name, rest) = body.split_at(name_end);
    let arg_at = off + name_end;
    // Names are case-insensitive (RFC 7208 4.6.1); matching against a fixed
    // list avoids allocating a lowercase copy per term.
    let lname = ["all", "include", "exists", "ptr", "a", "mx", "ip4", "ip6"]
        .into_iter()
        .find(|k| name.eq_ignore_ascii_case(k))
        .unwrap_or("");
    let no_arg = |what: &str| {
        if rest.is_empty() {
            Ok(())
        } else {
            Err(ParseError::new(
                K::InvalidArgument,
                format!("{what} takes no argument in {}", quote(term)),
                at,
            ))
        }
    };
    let required = |rest: &str| -> Result<DomainSpec, ParseError> {
        match rest.strip_prefix(':') {
            Some(d) => DomainSpec::parse(d).map_err(|e| macro_err(e, term, at, arg_at + 1)),
            None => Err(ParseError::new(
                K::InvalidArgument,
                format!("{lname} requires \":domain\" in {}", quote(term)),
                at,
            )),
        }
    };
    let mechanism = match lname {
        "all" => {
            no_arg("all")?;
            Mechanism::All
        }
        "include" => Mechanism::Include(required(rest)?),
        "exists" => Mechanism::Exists(required(rest)?),
        "ptr" => Mechanism::Ptr(if rest.is_empty() {
            None
        } else {
            Some(required(rest)?)
        }),
        "a" | "mx" => {
            let (domain, cidr) = if let Some(d) = rest.strip_prefix(':') {
                let (d, c) = split_cidr_suffix(d);
                let cidr = parse_dual_cidr(c).ok_or_else(|| bad_cidr(term, at))?;
                let spec = DomainSpec::parse(d).map_err(|e| macro_err(e, term, at, arg_at + 1))?;
                (Some(spec), cidr)
            } else {
                (
                    None,
                    parse_dual_cidr(rest).ok_or_else(|| bad_cidr(term, at))?,
                )
            };
            if lname == "a" {
                Mechanism::A { domain, cidr }
            } else {
                Mechanism::Mx { domain, cidr }
            }
        }
        "ip4" => {
            let net = rest.strip_prefix(':').ok_or_else(|| {
                ParseError::new(
                    K::InvalidArgument,
                    format!("ip4 requires \":address\" in {}", quote(term)),
                    at,
                )
            })?;
            let (addr, prefix) = match net.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (net, None),
            };
            let addr: Ipv4Addr = addr.parse().map_err(|_| {
                ParseError::new(
                    K::InvalidIp,
                    format!("invalid IPv4 address in {}", quote(term)),
                    at,
                )
            })?;
            let prefix = match prefix {
                Some(p) => parse_cidr(p, 32).ok_or_else(|| bad_cidr(term, at))?,
                None => 32,
            };
            Mechanism::Ip4 { addr, prefix }
        }
        "ip6" => {
            let net = rest.strip_prefix(':').ok_or_else(|| {
                ParseError::new(
                    K::InvalidArgument,
                    format!("ip6 requires \":address\" in {}", quote(term)),
                    at,
                )
            })?;
            let (addr, prefix) = match net.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (net, None),
            };
            let addr: Ipv6Addr = addr.parse().map_err(|_| {
                ParseError::new(
                    K::InvalidIp,
                    format!("invalid IPv6 address in {}", quote(term)),
                    at,
                )
            })?;
            let prefix = match prefix {
                Some(p) => parse_cidr(p, 128).ok_or_else(|| bad_cidr(term, at))?,
                None => 128,
            };
            Mechanism::Ip6 { addr, prefix }
        }
        _ => {
            let kind = if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric()) {
                K::Syntax
            } else {
                K::UnknownMechanism
            };
            let what = if kind == K::Syntax {
                format!("invalid term {}", quote(term))
            } else {
                format!("unknown mechanism {}", quote(name))
            };
            return Err(ParseError::new(kind, what, at));
        }
    };
    rec.directives.push(Directive {
        qualifier,
        mechanism,
        at,
    });
    Ok(())
}

fn bad_cidr(term: &str, at: usize) -> ParseError {
    ParseError::new(
        ParseErrorKind::InvalidCidr,
        format!("invalid CIDR length in {}", quote(term)),
        at,
    )
}

fn macro_err(e: MacroError, term: &str, at: usize, _arg_off: usize) -> ParseError {
    let kind = if e.what.starts_with("domain-spec") || e.what.starts_with("empty") {
        ParseErrorKind::InvalidDomain
    } else {
        ParseErrorKind::InvalidMacro
    };
    ParseError::new(kind, format!("{} in {}", e.what, quote(term)), at)
}

/// Splits `domain[/v4][//v6]` from the right: a domain-spec may itself
/// contain '/' (a macro-literal), so only a trailing run of CIDR lengths
/// is taken as such.
fn split_cidr_suffix(d: &str) -> (&str, &str) {
    let b = d.as_bytes();
    let digits_from = |end: usize| {
        let mut i = end;
        while i > 0 && b[i - 1].is_ascii_digit() {
            i -= 1;
        }
        i
    };
    let mut cut = b.len();
    let i = digits_from(cut);
    if i < cut && i >= 1 && b[i - 1] == b'/' {
        if i >= 2 && b[i - 2] == b'/' {
            cut = i - 2;
            let j = digits_from(cut);
            if j < cut && j >= 1 && b[j - 1] == b'/' {
                cut = j - 1;
            }
        } else {
            cut = i - 1;
        }
    }
    d.split_at(cut)
}

/// Parses a whole dual-cidr-length (possibly empty).
fn parse_dual_cidr(s: &str) -> Option<DualCidr> {
    let mut cidr = DualCidr::default();
    if s.is_empty() {
        return Some(cidr);
    }
    let s = s.strip_prefix('/')?;
    let (v4, v6) = match s.strip_prefix('/') {
        Some(v6) => (None, Some(v6)),
        None => match s.split_once("//") {
            Some((v4, v6)) => (Some(v4), Some(v6)),
            None => (Some(s), None),
        },
    };
    if let Some(v4) = v4 {
        cidr.v4 = parse_cidr(v4, 32)?;
    }
    if let Some(v6) = v6 {
        cidr.v6 = parse_cidr(v6, 128)?;
    }
    Some(cidr)
}

/// `"0" / %x31-39 *DIGIT` within `0..=max`: no leading zeros.
fn parse_cidr(s: &str, max: u8) -> Option<u8> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    let v: u16 = s.parse().ok()?;
    (v <= u16::from(max)).then_some(v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_records() {
        let cases: &[(&str, usize)] = &[
            ("v=spf1", 0),
            ("V=SPF1 -ALL", 1),
            ("v=spf1   a  mx -all ", 3),
            ("v=spf1 a:foo.example.com/24//64 mx//64 a/0 ~all", 4),
            ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ?all", 3),
            ("v=spf1 include:_spf.google.com ~all", 2),
            ("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", 2),
            ("v=spf1 ptr ptr:example.com -all", 3),
            ("v=spf1 a:%{d} mx:foo.example.com. -all", 3),
            ("v=spf1 a:foo:bar/baz.example.com", 1),
            ("v=spf1 a:example.com-x.foo-bar", 1),
            ("v=spf1 redirect=_spf.example.com", 0),
            ("v=spf1 -all exp=explain._spf.%{d} foo.bar-baz_1=%{t}", 1),
        ];
        for (rec, n) in cases {
            let r = parse(rec).unwrap_or_else(|e| panic!("{rec}: {e}"));
            assert_eq!(r.directives.len(), *n, "{rec}");
        }
        let r = parse("v=spf1 a:foo.example.com/24//64 mx//64 -ip4:10.0.0.0/8").unwrap();
        assert_eq!(
            r.directives[0].mechanism,
            Mechanism::A {
                domain: Some(DomainSpec::parse("foo.example.com").unwrap()),
                cidr: DualCidr { v4: 24, v6: 64 }
            }
        );
        assert_eq!(
            r.directives[1].mechanism,
            Mechanism::Mx {
                domain: None,
                cidr: DualCidr { v4: 32, v6: 64 }
            }
        );
        assert_eq!(r.directives[2].qualifier, Qualifier::Fail);
    }

    #[test]
    fn invalid_records() {
        let cases: &[(&str, &str, usize)] = &[
            ("v=spf10", "not-spf", 0),
            ("spf1 -all", "not-spf", 0),
            ("v=spf1 a mx ipv4:1.2.3.4", "unknown-mechanism", 12),
            ("v=spf1 -all foo", "unknown-mechanism", 12),
            ("v=spf1 ip4:1.2.3.4/33", "invalid-cidr", 7),
            ("v=spf1 ip4:1.2.3.4/032", "invalid-cidr", 7),
            ("v=spf1 ip6:::1/129", "invalid-cidr", 7),
            ("v=spf1 a/", "invalid-cidr", 7),
            ("v=spf1 a//", "invalid-cidr", 7),
            ("v=spf1 a:foo.com/33", "invalid-cidr", 7),
            ("v=spf1 ip4:1.2.3", "invalid-ip", 7),
            ("v=spf1 ip4:01.2.3.4", "invalid-ip", 7),
            ("v=spf1 ip6:1.2.3.4", "invalid-ip", 7),
            ("v=spf1 ip4", "invalid-argument", 7),
            ("v=spf1 include", "invalid-argument", 7),
            ("v=spf1 all:foo", "invalid-argument", 7),
            ("v=spf1 ptr/24", "invalid-argument", 7),
            ("v=spf1 include:", "invalid-domain", 7),
            ("v=spf1 a:1.2.3.4", "invalid-domain", 7),
            ("v=spf1 a:foo.-bar", "invalid-domain", 7),
            ("v=spf1 a:foo", "invalid-domain", 7),
            ("v=spf1 redirect=", "invalid-domain", 7),
            ("v=spf1 exists:%{x}.com", "invalid-macro", 7),
            ("v=spf1 exists:%{c}.com", "invalid-macro", 7),
            ("v=spf1 exp=%{r}.com", "invalid-macro", 7),
            (
                "v=spf1 redirect=a.com redirect=b.com",
                "duplicate-modifier",
                22,
            ),
            ("v=spf1 exp=a.com EXP=b.com", "duplicate-modifier", 17),
            ("v=spf1 a:\u{e9}.com", "non-ascii", 9),
            ("v=spf1 a\r\nmx", "syntax", 7),
            ("v=spf1 =all", "syntax", 7),
            ("v=spf1 1foo=bar", "syntax", 7),
            ("v=spf1 foo=%", "invalid-macro", 7),
        ];
        for (rec, code, at) in cases {
            match parse(rec) {
                Ok(r) => panic!("{rec:?} parsed as {r:?}"),
                Err(e) => {
                    assert_eq!((e.code(), e.at), (*code, *at), "{rec:?}: {e}");
                    assert!(e.to_string().starts_with("syntax: "));
                }
            }
        }
        assert_eq!(
            parse("v=spf1 a mx ipv4:1.2.3.4").unwrap_err().to_string(),
            "syntax: unknown mechanism \"ipv4\" at 12"
        );
    }

    #[test]
    fn cidr_suffix_split() {
        assert_eq!(split_cidr_suffix("foo.com/24//64"), ("foo.com", "/24//64"));
        assert_eq!(split_cidr_suffix("foo.com//64"), ("foo.com", "//64"));
        assert_eq!(split_cidr_suffix("foo.com/24"), ("foo.com", "/24"));
        assert_eq!(split_cidr_suffix("foo/bar.com"), ("foo/bar.com", ""));
        assert_eq!(split_cidr_suffix("foo.com"), ("foo.com", ""));
    }
}
