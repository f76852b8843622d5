//! Macro strings (RFC 7208 section 7).
//!
//! A [`MacroString`] keeps the validated source text and is re-scanned at
//! expansion time: scanning is a handful of byte comparisons, and keeping one
//! `String` per term instead of a token vector makes parsing (the hot path
//! in a scan of millions of domains) cheaper than expansion (rare).

use std::fmt;
use std::net::IpAddr;

/// Expansion output is bounded so a hostile record or sender cannot make
/// the evaluator allocate without limit. Domain names are cut to 253 anyway
/// (RFC 7208 7.3); explanations longer than this are of no use to anyone.
pub const MAX_EXPANSION: usize = 4096;

/// Why a macro-string was rejected. `at` is the byte offset inside the
/// macro-string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroError {
    pub at: usize,
    pub what: String,
}

impl fmt::Display for MacroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.what, self.at)
    }
}

/// ```text
/// macro-string     = *( macro-expand / macro-literal )
/// macro-expand     = ( "%{" macro-letter transformers *delimiter "}" )
///                    / "%%" / "%_" / "%-"
/// macro-literal    = %x21-24 / %x26-7E
///                    ; visible characters except "%"
/// macro-letter     = "s" / "l" / "o" / "d" / "i" / "p" / "h" /
///                    "c" / "r" / "t" / "v"
/// transformers     = *DIGIT [ "r" ]
/// delimiter        = "." / "-" / "+" / "," / "/" / "_" / "="
/// explain-string   = *( macro-string / SP )
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroString {
    raw: String,
    has_macros: bool,
}

/// What scanning a macro-string learned, beyond "it is valid".
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan {
    pub has_macros: bool,
    /// Offset where the trailing run of literal characters starts (equal to
    /// the length when the string ends with a macro-expand): the
    /// domain-end rule of 7.1 looks only at that run.
    pub tail_literal: usize,
}

/// Which grammar a macro-string follows: `explain-string` also allows SP and
/// the letters c, r and t (RFC 7208 7.1: "only allowed in exp text").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grammar {
    DomainSpec,
    Explain,
    /// unknown-modifier values: any macro-string, letters unrestricted
    /// because they are never expanded.
    Unknown,
}

const DELIMITERS: &[u8] = b".-+,/_=";

pub(super) fn scan(s: &str, grammar: Grammar) -> Result<Scan, MacroError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut has_macros = false;
    let mut tail_literal = 0;
    let err = |at: usize, what: String| Err(MacroError { at, what });
    while i < b.len() {
        let c = b[i];
        if c != b'%' {
            let ok = (0x21..=0x7e).contains(&c) || (c == b' ' && grammar == Grammar::Explain);
            if !ok {
                return err(i, format!("invalid character {}", describe_byte(s, i)));
            }
            i += 1;
            continue;
        }
        let start = i;
        match b.get(i + 1) {
            Some(b'%' | b'_' | b'-') => i += 2,
            Some(b'{') => {
                let letter = match b.get(i + 2) {
                    Some(l) => l.to_ascii_lowercase(),
                    None => return err(start, "unterminated macro".into()),
                };
                let allowed: &[u8] = match grammar {
                    Grammar::DomainSpec => b"slodiphv",
                    Grammar::Explain | Grammar::Unknown => b"slodiphvcrt",
                };
                if !allowed.contains(&letter) {
                    let what = if b"crt".contains(&letter) {
                        format!("macro letter '{}' only allowed in exp text", letter as char)
                    } else {
                        format!("invalid macro letter {}", describe_byte(s, i + 2))
                    };
                    return err(start, what);
                }
                let mut j = i + 3;
                let digits_start = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                // RFC 7208 7.1: "If a DIGIT is specified, the value MUST be
                // at least one."
                if j > digits_start && b[digits_start..j].iter().all(|&d| d == b'0') {
                    return err(start, "macro digit transformer must be at least 1".into());
                }
                if j < b.len() && (b[j] == b'r' || b[j] == b'R') {
                    j += 1;
                }
                while j < b.len() && DELIMITERS.contains(&b[j]) {
                    j += 1;
                }
                if b.get(j) != Some(&b'}') {
                    return err(start, "malformed macro".into());
                }
                i = j + 1;
            }
            _ => return err(start, "'%' not followed by '{', '%', '_' or '-'".into()),
        }
        has_macros = true;
        tail_literal = i;
    }
    Ok(Scan {
        has_macros,
        tail_literal,
    })
}

fn describe_byte(s: &str, i: usize) -> String {
    match s[i..].chars().next() {
        Some(ch) if ch.is_ascii_graphic() => format!("'{ch}'"),
        Some(ch) => format!("U+{:04X}", ch as u32),
        None => "end".into(),
    }
}

/// Values of the macro letters for one evaluation (RFC 7208 7.2).
#[derive(Debug, Clone)]
pub struct MacroVars<'a> {
    /// `s`: `<sender>`, with "postmaster" as local-part when it had none.
    pub sender: &'a str,
    /// `l`
    pub local: &'a str,
    /// `o`
    pub sender_domain: &'a str,
    /// `d`: the `<domain>` of the current check_host() call.
    pub domain: &'a str,
    /// `i`, `c`, `v`: already mapped from IPv4-mapped IPv6 to IPv4.
    pub ip: IpAddr,
    /// `h`
    pub helo: &'a str,
    /// `p`: the validated domain name, computed by the caller only when the
    /// string uses `p` (it costs DNS queries); None expands to "unknown".
    pub validated: Option<&'a str>,
    /// `r`: the receiving host; "unknown" when the checker has no name.
    pub receiver: &'a str,
    /// `t`: seconds since the epoch, injected for reproducibility.
    pub timestamp: u64,
}

impl MacroString {
    /// Validates `s` against the grammar and keeps it.
    pub(super) fn parse(s: &str, grammar: Grammar) -> Result<(Self, Scan), MacroError> {
        let scan = scan(s, grammar)?;
        Ok((
            Self {
                raw: s.to_owned(),
                has_macros: scan.has_macros,
            },
            scan,
        ))
    }

    /// Parses an explanation TXT record (RFC 7208 6.2: explain-string).
    pub fn parse_explain(s: &str) -> Result<Self, MacroError> {
        Self::parse(s, Grammar::Explain).map(|(m, _)| m)
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn has_macros(&self) -> bool {
        self.has_macros
    }

    /// True when the string contains `%{<letter>...}` (either case): the
    /// evaluator uses it to skip the costly `p` validation when not needed.
    pub fn uses_letter(&self, letter: u8) -> bool {
        let b = self.raw.as_bytes();
        b.windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'{' && w[2].eq_ignore_ascii_case(&letter))
    }

    /// Expands every macro (RFC 7208 7.3/7.4). The source was validated at
    /// parse time, so expansion cannot fail. Output is bounded by
    /// [`MAX_EXPANSION`]: for names the left side is dropped (7.3 would
    /// drop it anyway), for text the right side.
    pub fn expand(&self, vars: &MacroVars<'_>, keep_right: bool) -> String {
        let b = self.raw.as_bytes();
        let mut out = String::with_capacity(self.raw.len().min(256));
        let mut i = 0;
        let mut lit_start = 0;
        while i < b.len() {
            if b[i] != b'%' {
                i += 1;
                continue;
            }
            out.push_str(&self.raw[lit_start..i]);
            match b.get(i + 1) {
                Some(b'%') => {
                    out.push('%');
                    i += 2;
                }
                Some(b'_') => {
                    out.push(' ');
                    i += 2;
                }
                Some(b'-') => {
                    out.push_str("%20");
                    i += 2;
                }
                Some(b'{') => {
                    let end = match self.raw[i..].find('}') {
                        Some(e) => i + e,
                        None => break,
                    };
                    expand_one(&self.raw[i + 2..end], vars, &mut out);
                    i = end + 1;
                }
                _ => break,
            }
            lit_start = i;
            bound(&mut out, keep_right);
        }
        if lit_start < b.len() {
            out.push_str(&self.raw[lit_start.min(b.len())..]);
        }
        bound(&mut out, keep_right);
        out
    }
}

fn bound(out: &mut String, keep_right: bool) {
    if out.len() <= MAX_EXPANSION {
        return;
    }
    if keep_right {
        let mut cut = out.len() - MAX_EXPANSION;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.drain(..cut);
    } else {
        let mut cut = MAX_EXPANSION;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
}

/// Expands the inside of one `%{...}`: letter, transformers, delimiters.
fn expand_one(spec: &str, vars: &MacroVars<'_>, out: &mut String) {
    let b = spec.as_bytes();
    let Some(&letter) = b.first() else { return };
    let url_escape = letter.is_ascii_uppercase();
    let mut j = 1;
    let mut digits: Option<usize> = None;
    while j < b.len() && b[j].is_ascii_digit() {
        // Saturate: any count above the number of labels means "all of them".
        let d = usize::from(b[j] - b'0');
        digits = Some(
            digits
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d)
                .min(1000),
        );
        j += 1;
    }
    let reverse = j < b.len() && b[j].eq_ignore_ascii_case(&b'r');
    if reverse {
        j += 1;
    }
    let delims = &b[j..];

    let ip_text;
    let value: &str = match letter.to_ascii_lowercase() {
        b's' => vars.sender,
        b'l' => vars.local,
        b'o' => vars.sender_domain,
        b'd' => vars.domain,
        b'h' => vars.helo,
        b'p' => vars.validated.unwrap_or("unknown"),
        b'r' => vars.receiver,
        b'v' => match vars.ip {
            IpAddr::V4(_) => "in-addr",
            IpAddr::V6(_) => "ip6",
        },
        b'i' => {
            ip_text = dotted_ip(vars.ip);
            &ip_text
        }
        b'c' => {
            // RFC 7208 7.3: c is the "readable" form, for IPv6 RFC 5952's,
            // which is what std's Display produces.
            ip_text = vars.ip.to_string();
            &ip_text
        }
        b't' => {
            ip_text = vars.timestamp.to_string();
            &ip_text
        }
        _ => return,
    };

    let is_delim = |c: char| {
        if delims.is_empty() {
            c == '.'
        } else {
            c.is_ascii() && delims.contains(&(c as u8))
        }
    };
    let expanded: std::borrow::Cow<'_, str> =
        if digits.is_none() && !reverse && (delims.is_empty() || delims == b".") {
            value.into()
        } else {
            let mut parts: Vec<&str> = value.split(is_delim).collect();
            if reverse {
                parts.reverse();
            }
            if let Some(n) = digits
                && n < parts.len()
            {
                parts.drain(..parts.len() - n);
            }
            parts.join(".").into()
        };
    if url_escape {
        // RFC 7208 7.3: uppercase letters are URL-escaped, everything
        // outside RFC 3986 "unreserved" becomes %XX.
        for &c in expanded.as_bytes() {
            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                out.push(c as char);
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
        }
    } else {
        out.push_str(&expanded);
    }
}

/// RFC 7208 7.3: `i` is dotted-quad for IPv4 and dot-separated nibbles
/// (32 of them, lowercase) for IPv6.
fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(63);
            for byte in v6.octets() {
                for nib in [byte >> 4, byte & 0xf] {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push(char::from_digit(u32::from(nib), 16).unwrap_or('0'));
                }
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(ip: &str) -> MacroVars<'static> {
        MacroVars {
            sender: "strong-bad@email.example.com",
            local: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            helo: "mx.example.org",
            validated: None,
            receiver: "unknown",
            timestamp: 1_000_000,
        }
    }

    fn exp(s: &str, ip: &str) -> String {
        let (m, _) = MacroString::parse(s, Grammar::Explain).unwrap();
        m.expand(&vars(ip), true)
    }

    /// The examples of RFC 7208 7.4, verbatim.
    #[test]
    fn rfc_7_4_examples() {
        let cases = [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            (
                "%{ir}.%{v}._spf.%{d2}",
                "3.2.0.192.in-addr._spf.example.com",
            ),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            (
                "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
                "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
            ),
            (
                "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
                "3.2.0.192.in-addr.strong.lp._spf.example.com",
            ),
            (
                "%{d2}.trusted-domains.example.net",
                "example.com.trusted-domains.example.net",
            ),
            ("%%%_%-", "% %20"),
            ("%{L}", "strong-bad"),
            ("%{S}", "strong-bad%40email.example.com"),
            ("%{t}", "1000000"),
            ("%{c}", "192.0.2.3"),
            ("%{p}", "unknown"),
            ("%{d999}", "email.example.com"),
        ];
        for (input, want) in cases {
            assert_eq!(exp(input, "192.0.2.3"), want, "{input}");
        }
        assert_eq!(
            exp("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01"),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
        assert_eq!(exp("%{c}", "2001:DB8::CB01"), "2001:db8::cb01");
    }

    #[test]
    fn grammar_rejections() {
        let bad = [
            ("%", Grammar::DomainSpec),
            ("%{", Grammar::DomainSpec),
            ("%{d", Grammar::DomainSpec),
            ("%{x}", Grammar::DomainSpec),
            ("%{d0}", Grammar::DomainSpec),
            ("%{c}", Grammar::DomainSpec),
            ("%{r}", Grammar::DomainSpec),
            ("%{t}", Grammar::DomainSpec),
            ("%{d2r.x}", Grammar::DomainSpec),
            ("%(ir)", Grammar::DomainSpec),
            ("foo%", Grammar::DomainSpec),
            ("a b", Grammar::DomainSpec),
            ("a\u{e9}", Grammar::Explain),
            ("a\tb", Grammar::Explain),
        ];
        for (s, g) in bad {
            assert!(scan(s, g).is_err(), "{s:?} should be rejected");
        }
        let good = [
            ("%{d2r.-+,/_=}", Grammar::DomainSpec),
            ("%{D}", Grammar::DomainSpec),
            ("a b %{c}", Grammar::Explain),
            ("%{t}", Grammar::Unknown),
            ("", Grammar::DomainSpec),
        ];
        for (s, g) in good {
            assert!(scan(s, g).is_ok(), "{s:?} should be accepted");
        }
    }

    #[test]
    fn tail_literal_offsets() {
        assert_eq!(
            scan("%{d}.com", Grammar::DomainSpec).unwrap().tail_literal,
            4
        );
        assert_eq!(
            scan("foo.%{d}", Grammar::DomainSpec).unwrap().tail_literal,
            8
        );
        assert_eq!(
            scan("foo.com", Grammar::DomainSpec).unwrap().tail_literal,
            0
        );
    }

    #[test]
    fn expansion_is_bounded() {
        let src = "%{s}".repeat(2000);
        let (m, _) = MacroString::parse(&src, Grammar::DomainSpec).unwrap();
        assert!(m.expand(&vars("192.0.2.1"), true).len() <= MAX_EXPANSION);
        assert!(m.expand(&vars("192.0.2.1"), false).len() <= MAX_EXPANSION);
    }
}
