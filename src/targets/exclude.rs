//! Never-scan lists: address blocks and domains, each with the reason it is excluded.
//!
//! Addresses are kept as CIDR blocks. Any two CIDR blocks are either nested or disjoint, so the
//! list compiles to disjoint sorted segments where the innermost block's reason wins, and a
//! lookup is one binary search. Domains exclude themselves and every name under them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::ips::{Family, IpRange, IpTargets, ip_value, parse_range, strip_comment};

/// Why an address or a domain is excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// What the block is, e.g. "RFC 1918 private"; for file lines, the line's `#` comment.
    pub text: String,
    /// Where the entry came from: "built-in" or "path:line".
    pub source: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text, self.source)
    }
}

/// Where the built-in entries say they come from.
pub const BUILTIN_SOURCE: &str = "built-in";

/// The built-in never-scan blocks: the IANA IPv4 and IPv6 Special-Purpose Address Registries
/// (RFC 6890 and its updates), multicast and the reserved class E, less the blocks the registries
/// mark globally reachable that a mail scan could meaningfully reach (e.g. AS112, RFC 7534/7535,
/// and AMT, RFC 7450). `true` marks loopback, which `allow_loopback` lets through.
///
/// `::/96` (deprecated IPv4-compatible, RFC 4291 2.5.5.1) is not listed: it would contain `::1`,
/// which must stay reachable when loopback is allowed, and nothing answers there anyway.
pub const DEFAULT_BLOCKS: &[(&str, &str, bool)] = &[
    ("0.0.0.0/8", "\"this network\" (RFC 791, RFC 6890)", false),
    ("10.0.0.0/8", "RFC 1918 private", false),
    (
        "100.64.0.0/10",
        "shared address space, carrier-grade NAT (RFC 6598)",
        false,
    ),
    ("127.0.0.0/8", "loopback (RFC 1122)", true),
    ("169.254.0.0/16", "link-local (RFC 3927)", false),
    ("172.16.0.0/12", "RFC 1918 private", false),
    (
        "192.0.0.0/24",
        "IETF protocol assignments (RFC 6890)",
        false,
    ),
    (
        "192.0.2.0/24",
        "documentation, TEST-NET-1 (RFC 5737)",
        false,
    ),
    (
        "192.88.99.0/24",
        "deprecated 6to4 relay anycast (RFC 7526)",
        false,
    ),
    ("192.168.0.0/16", "RFC 1918 private", false),
    ("198.18.0.0/15", "benchmarking (RFC 2544)", false),
    (
        "198.51.100.0/24",
        "documentation, TEST-NET-2 (RFC 5737)",
        false,
    ),
    (
        "203.0.113.0/24",
        "documentation, TEST-NET-3 (RFC 5737)",
        false,
    ),
    ("224.0.0.0/4", "multicast (RFC 5771)", false),
    ("240.0.0.0/4", "reserved (RFC 1112)", false),
    (
        "255.255.255.255/32",
        "limited broadcast (RFC 919, RFC 8190)",
        false,
    ),
    ("::/128", "unspecified address (RFC 4291)", false),
    ("::1/128", "loopback (RFC 4291)", true),
    (
        "::ffff:0:0/96",
        "IPv4-mapped (RFC 4291); scan the IPv4 address instead",
        false,
    ),
    (
        "64:ff9b::/96",
        "NAT64 well-known prefix (RFC 6052); would reach IPv4 hosts past the IPv4 exclusions",
        false,
    ),
    (
        "64:ff9b:1::/48",
        "local-use IPv4/IPv6 translation (RFC 8215)",
        false,
    ),
    ("100::/64", "discard-only (RFC 6666)", false),
    ("2001::/23", "IETF protocol assignments (RFC 2928)", false),
    ("2001:db8::/32", "documentation (RFC 3849)", false),
    (
        "2002::/16",
        "6to4 (RFC 3056); embeds an IPv4 address",
        false,
    ),
    ("3fff::/20", "documentation (RFC 9637)", false),
    ("5f00::/16", "SRv6 SIDs (RFC 9602)", false),
    ("fc00::/7", "unique local (RFC 4193)", false),
    ("fe80::/10", "link-local (RFC 4291)", false),
    ("fec0::/10", "deprecated site-local (RFC 3879)", false),
    ("ff00::/8", "multicast (RFC 4291)", false),
];

/// A disjoint piece of the compiled address list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    range: IpRange,
    reason: u32,
}

/// Address blocks and domains not to scan.
#[derive(Debug, Clone, Default)]
pub struct ExcludeList {
    reasons: Vec<Reason>,
    /// CIDR blocks in insertion order.
    blocks: Vec<(IpRange, u32)>,
    /// Disjoint, sorted by (family, start); rebuilt after every change.
    segments: Vec<Segment>,
    /// Normalised domain -> reason.
    domains: HashMap<String, u32>,
}

/// Failure to load an exclusion file. Unlike target lists, one bad line fails the whole file:
/// silently skipping a mistyped exclusion would scan what the operator meant to protect.
#[derive(Debug)]
pub enum ExcludeError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Line {
        /// File name (or whatever the caller named the reader).
        source: String,
        line: u64,
        text: String,
        reason: String,
    },
}

impl fmt::Display for ExcludeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExcludeError::Io { path, source } => {
                write!(f, "reading exclusions from {}: {source}", path.display())
            }
            ExcludeError::Line {
                source,
                line,
                text,
                reason,
            } => write!(f, "{source}:{line}: {reason}: {text:?}"),
        }
    }
}

impl std::error::Error for ExcludeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExcludeError::Io { source, .. } => Some(source),
            ExcludeError::Line { .. } => None,
        }
    }
}

impl ExcludeList {
    /// An empty list: excludes nothing.
    pub fn empty() -> ExcludeList {
        ExcludeList::default()
    }

    /// The built-in list ([`DEFAULT_BLOCKS`]); loopback stays excluded unless `allow_loopback`.
    pub fn defaults(allow_loopback: bool) -> ExcludeList {
        Self::builtin(|loopback| !loopback || !allow_loopback)
    }

    /// What stays when the caller replaces the defaults: only loopback, unless allowed. Loopback
    /// is reachable only on purpose (the test fixtures), never because a list was swapped.
    pub fn minimal(allow_loopback: bool) -> ExcludeList {
        Self::builtin(|loopback| loopback && !allow_loopback)
    }

    fn builtin(keep: impl Fn(bool) -> bool) -> ExcludeList {
        let mut list = ExcludeList::default();
        for (cidr, text, loopback) in DEFAULT_BLOCKS {
            if keep(*loopback) {
                let range = parse_range(cidr).expect("built-in block parses").range;
                list.push_block(
                    range,
                    Reason {
                        text: (*text).to_string(),
                        source: BUILTIN_SOURCE.to_string(),
                    },
                );
            }
        }
        list.compile();
        list
    }

    /// Load a file: one CIDR block, address, `a-b` range or domain per line; `#` starts a
    /// comment, and a comment on an entry's line becomes its reason.
    pub fn from_file(path: &Path) -> Result<ExcludeList, ExcludeError> {
        let io_err = |source| ExcludeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        match Self::from_reader(BufReader::new(file), &path.display().to_string()) {
            Err(ExcludeError::Io { source, .. }) => Err(io_err(source)),
            other => other,
        }
    }

    /// [`ExcludeList::from_file`] on any reader; `source` names it in reasons and errors.
    pub fn from_reader<R: BufRead>(
        mut reader: R,
        source: &str,
    ) -> Result<ExcludeList, ExcludeError> {
        let mut list = ExcludeList::default();
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| ExcludeError::Io {
                    path: PathBuf::from(source),
                    source: e,
                })?;
            if n == 0 {
                break;
            }
            line += 1;
            let fail = |text: &str, reason: String| ExcludeError::Line {
                source: source.to_string(),
                line,
                text: text.trim().to_string(),
                reason,
            };
            let text = std::str::from_utf8(&buf)
                .map_err(|_| fail(&String::from_utf8_lossy(&buf), "not valid UTF-8".into()))?;
            let entry = strip_comment(text);
            if entry.is_empty() {
                continue;
            }
            let comment = text.split_once('#').map(|(_, c)| c.trim()).unwrap_or("");
            let reason = Reason {
                text: if comment.is_empty() {
                    "listed in the exclusion file".to_string()
                } else {
                    comment.to_string()
                },
                source: format!("{source}:{line}"),
            };
            match parse_entry(entry).map_err(|r| fail(entry, r))? {
                Entry::Range(range) => {
                    let idx = list.push_reason(reason);
                    for block in range.to_cidrs() {
                        list.blocks.push((block, idx));
                    }
                }
                Entry::Domain(d) => {
                    let idx = list.push_reason(reason);
                    list.domains.insert(d, idx);
                }
            }
        }
        list.compile();
        Ok(list)
    }

    /// Add `other`'s entries. Where both list the same block or domain, `other`'s reason wins;
    /// otherwise the most specific block's reason wins.
    pub fn extend(&mut self, other: ExcludeList) {
        let offset = self.reasons.len() as u32;
        self.reasons.extend(other.reasons);
        self.blocks
            .extend(other.blocks.into_iter().map(|(r, i)| (r, i + offset)));
        self.domains
            .extend(other.domains.into_iter().map(|(d, i)| (d, i + offset)));
        self.compile();
    }

    /// Add one block or `a-b` range (split into CIDR blocks) with a reason.
    pub fn add_range(&mut self, range: IpRange, reason: Reason) {
        let idx = self.push_reason(reason);
        for block in range.to_cidrs() {
            self.blocks.push((block, idx));
        }
        self.compile();
    }

    /// Add a domain (and its subdomains) with a reason; `Err` says why the name is unusable.
    pub fn add_domain(&mut self, domain: &str, reason: Reason) -> Result<(), String> {
        let d = parse_domain(domain)?;
        let idx = self.push_reason(reason);
        self.domains.insert(d, idx);
        Ok(())
    }

    fn push_reason(&mut self, reason: Reason) -> u32 {
        self.reasons.push(reason);
        (self.reasons.len() - 1) as u32
    }

    fn push_block(&mut self, range: IpRange, reason: Reason) {
        let idx = self.push_reason(reason);
        self.blocks.push((range, idx));
    }

    /// Flatten the nested blocks into disjoint segments, innermost reason first.
    fn compile(&mut self) {
        let mut sorted: Vec<(IpRange, u32, usize)> = self
            .blocks
            .iter()
            .enumerate()
            .map(|(n, (r, i))| (*r, *i, n))
            .collect();
        // Outer blocks before the blocks they contain; equal blocks in insertion order, so the
        // later one is pushed on top and wins.
        sorted.sort_by_key(|(r, _, n)| (r.family, r.start, std::cmp::Reverse(r.end), *n));
        let mut out: Vec<Segment> = Vec::new();
        let mut stack: Vec<(IpRange, u32)> = Vec::new();
        // Next value not yet emitted within the innermost open block; None past the family's top.
        let mut cursor: Option<u128> = None;
        let close = |out: &mut Vec<Segment>, cursor: &mut Option<u128>, top: (IpRange, u32)| {
            emit(out, top.0.family, *cursor, top.0.end, top.1);
            *cursor = top.0.end.checked_add(1);
        };
        for (r, reason, _) in sorted {
            while let Some(&top) = stack.last() {
                if top.0.family == r.family && top.0.end >= r.start {
                    break;
                }
                close(&mut out, &mut cursor, top);
                stack.pop();
            }
            if let Some(&(top, treason)) = stack.last()
                && r.start > 0
            {
                emit(&mut out, top.family, cursor, r.start - 1, treason);
            }
            cursor = Some(r.start);
            stack.push((r, reason));
        }
        while let Some(top) = stack.pop() {
            close(&mut out, &mut cursor, top);
        }
        self.segments = out;
    }

    /// The reason `ip` must not be scanned, if any.
    pub fn is_excluded_ip(&self, ip: IpAddr) -> Option<&Reason> {
        let key = ip_value(ip);
        let i = self
            .segments
            .partition_point(|s| (s.range.family, s.range.start) <= key);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        seg.range
            .contains(ip)
            .then(|| &self.reasons[seg.reason as usize])
    }

    /// The reason `domain` must not be scanned, if any: it or a parent domain is listed.
    /// Case-insensitive; a trailing dot is ignored.
    pub fn is_excluded_domain(&self, domain: &str) -> Option<&Reason> {
        if self.domains.is_empty() {
            return None;
        }
        let name = normalise(domain);
        let mut rest: &str = &name;
        loop {
            if let Some(i) = self.domains.get(rest) {
                return Some(&self.reasons[*i as usize]);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// The excluded addresses as disjoint ranges, sorted by (family, start).
    pub fn ip_ranges(&self) -> impl Iterator<Item = IpRange> + '_ {
        self.segments.iter().map(|s| s.range)
    }

    /// Remove every excluded address from `targets`; returns how many were removed. Doing it
    /// up front keeps `targets.len()` (progress, sharding) honest.
    pub fn apply(&self, targets: &mut IpTargets) -> u128 {
        targets.subtract(self.ip_ranges())
    }

    /// Number of address blocks and domains.
    pub fn len(&self) -> usize {
        self.blocks.len() + self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Push `[from, end]` unless empty, merging with the previous segment when it continues it.
fn emit(out: &mut Vec<Segment>, family: Family, from: Option<u128>, end: u128, reason: u32) {
    let Some(start) = from.filter(|s| *s <= end) else {
        return;
    };
    if let Some(last) = out.last_mut()
        && last.reason == reason
        && last.range.family == family
        && last.range.end.checked_add(1) == Some(start)
    {
        last.range.end = end;
        return;
    }
    out.push(Segment {
        range: IpRange { family, start, end },
        reason,
    });
}

enum Entry {
    Range(IpRange),
    Domain(String),
}

/// An address form if it looks like one (so a mistyped address is an error, not a domain),
/// otherwise a domain.
fn parse_entry(text: &str) -> Result<Entry, String> {
    // Domains never hold ':' or '/', and a domain whose '-'-separated parts are all digits and
    // dots would have a numeric TLD, which RFC 3696 2 rules out.
    let looks_numeric = text.contains([':', '/'])
        || text
            .split('-')
            .all(|part| part.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if looks_numeric {
        return parse_range(text)
            .map(|p| Entry::Range(p.range))
            .map_err(|e| e.to_string());
    }
    parse_domain(text).map(Entry::Domain)
}

fn normalise(domain: &str) -> Cow<'_, str> {
    let d = domain.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(d.to_ascii_lowercase())
    } else {
        Cow::Borrowed(d)
    }
}

/// Validate and normalise a domain entry; `*.example.com` means `example.com` (subdomains are
/// excluded anyway).
fn parse_domain(text: &str) -> Result<String, String> {
    let d = normalise(text);
    let d = d.strip_prefix("*.").unwrap_or(&d);
    if d.is_empty() {
        return Err("empty domain".into());
    }
    if !d.is_ascii() {
        return Err("non-ASCII domain; give it in punycode (xn--...)".into());
    }
    // RFC 1035 2.3.4: 255 octets on the wire is 253 characters of text.
    if d.len() > 253 {
        return Err(format!("domain is {} characters, over 253", d.len()));
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("bad label {label:?}: must be 1 to 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("character {c:?} not allowed in a domain"));
        }
    }
    Ok(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_table() {
        let list = ExcludeList::defaults(false);
        let cases: &[(&str, Option<&str>)] = &[
            ("0.1.2.3", Some("\"this network\" (RFC 791, RFC 6890)")),
            ("10.1.2.3", Some("RFC 1918 private")),
            ("172.31.255.255", Some("RFC 1918 private")),
            ("172.32.0.0", None),
            ("192.168.0.1", Some("RFC 1918 private")),
            (
                "100.64.0.1",
                Some("shared address space, carrier-grade NAT (RFC 6598)"),
            ),
            ("100.128.0.0", None),
            ("127.0.0.1", Some("loopback (RFC 1122)")),
            ("127.255.255.255", Some("loopback (RFC 1122)")),
            ("169.254.169.254", Some("link-local (RFC 3927)")),
            ("192.0.2.1", Some("documentation, TEST-NET-1 (RFC 5737)")),
            ("198.19.255.255", Some("benchmarking (RFC 2544)")),
            ("224.0.0.251", Some("multicast (RFC 5771)")),
            ("239.255.255.255", Some("multicast (RFC 5771)")),
            ("240.0.0.1", Some("reserved (RFC 1112)")),
            ("255.255.255.254", Some("reserved (RFC 1112)")),
            (
                "255.255.255.255",
                Some("limited broadcast (RFC 919, RFC 8190)"),
            ),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("223.255.255.255", None),
            ("::", Some("unspecified address (RFC 4291)")),
            ("::1", Some("loopback (RFC 4291)")),
            ("::2", None),
            (
                "::ffff:8.8.8.8",
                Some("IPv4-mapped (RFC 4291); scan the IPv4 address instead"),
            ),
            ("2001:db8::25", Some("documentation (RFC 3849)")),
            ("2001:1ff::1", Some("IETF protocol assignments (RFC 2928)")),
            ("2001:200::1", None),
            ("2001:4860:4860::8888", None),
            ("fd00::1", Some("unique local (RFC 4193)")),
            ("fe80::1", Some("link-local (RFC 4291)")),
            ("ff02::1", Some("multicast (RFC 4291)")),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                Some("multicast (RFC 4291)"),
            ),
        ];
        for (addr, want) in cases {
            let got = list.is_excluded_ip(ip(addr));
            assert_eq!(got.map(|r| r.text.as_str()), *want, "{addr}");
            if let Some(r) = got {
                assert_eq!(r.source, BUILTIN_SOURCE);
            }
        }
    }

    #[test]
    fn loopback_needs_the_flag() {
        // (list, 127.0.0.1 excluded, ::1 excluded, 10.0.0.1 excluded)
        let cases = [
            (ExcludeList::defaults(false), true, true, true),
            (ExcludeList::defaults(true), false, false, true),
            (ExcludeList::minimal(false), true, true, false),
            (ExcludeList::minimal(true), false, false, false),
            (ExcludeList::empty(), false, false, false),
        ];
        for (n, (list, v4, v6, private)) in cases.iter().enumerate() {
            assert_eq!(
                list.is_excluded_ip(ip("127.0.0.1")).is_some(),
                *v4,
                "case {n}"
            );
            assert_eq!(list.is_excluded_ip(ip("::1")).is_some(), *v6, "case {n}");
            assert_eq!(
                list.is_excluded_ip(ip("10.0.0.1")).is_some(),
                *private,
                "case {n}"
            );
        }
    }

    const FILE: &str = "# ops exclusions\n\
        203.0.113.0/24        # customer asked\n\
        198.51.100.7\n\
        \n\
        2001:db8:1::/48 # lab\n\
        192.0.2.10-192.0.2.20 # range\n\
        Example.COM.          # opted out\n\
        *.mail.example.net\n\
        1-800-flowers.com\n";

    #[test]
    fn file_entries_and_reasons() {
        let list = ExcludeList::from_reader(FILE.as_bytes(), "ex.txt").unwrap();
        let ips: &[(&str, Option<(&str, &str)>)] = &[
            ("203.0.113.9", Some(("customer asked", "ex.txt:2"))),
            (
                "198.51.100.7",
                Some(("listed in the exclusion file", "ex.txt:3")),
            ),
            ("198.51.100.8", None),
            ("2001:db8:1:ffff::1", Some(("lab", "ex.txt:5"))),
            ("2001:db8:2::1", None),
            ("192.0.2.9", None),
            ("192.0.2.10", Some(("range", "ex.txt:6"))),
            ("192.0.2.15", Some(("range", "ex.txt:6"))),
            ("192.0.2.20", Some(("range", "ex.txt:6"))),
            ("192.0.2.21", None),
        ];
        for (addr, want) in ips {
            let got = list.is_excluded_ip(ip(addr));
            assert_eq!(
                got.map(|r| (r.text.as_str(), r.source.as_str())),
                *want,
                "{addr}"
            );
        }
        let domains: &[(&str, Option<&str>)] = &[
            ("example.com", Some("opted out")),
            ("EXAMPLE.com.", Some("opted out")),
            ("mx1.example.com", Some("opted out")),
            ("a.b.example.com", Some("opted out")),
            ("notexample.com", None),
            ("example.com.evil", None),
            ("com", None),
            ("mail.example.net", Some("listed in the exclusion file")),
            ("x.mail.example.net", Some("listed in the exclusion file")),
            ("example.net", None),
            (
                "www.1-800-Flowers.com",
                Some("listed in the exclusion file"),
            ),
            ("", None),
        ];
        for (d, want) in domains {
            let got = list.is_excluded_domain(d);
            assert_eq!(got.map(|r| r.text.as_str()), *want, "{d}");
        }
        assert_eq!(list.len(), 1 + 1 + 1 + 4 + 3);
    }

    #[test]
    fn file_errors_name_the_line() {
        let cases: &[(&str, &str)] = &[
            (
                "10.0.0.0/8\n10.0.0.300\n",
                "t:2: not an IP address: \"10.0.0.300\": \"10.0.0.300\"",
            ),
            (
                "a..b\n",
                "t:1: bad label \"\": must be 1 to 63 characters: \"a..b\"",
            ),
            (
                "\n\nhas space.com\n",
                "t:3: character ' ' not allowed in a domain: \"has space.com\"",
            ),
            (
                "bücher.de\n",
                "t:1: non-ASCII domain; give it in punycode (xn--...): \"bücher.de\"",
            ),
            (
                "10.0.0.0/40\n",
                "t:1: bad prefix length \"40\": expected 0 to 32: \"10.0.0.0/40\"",
            ),
            (
                "2001:db8::g\n",
                "t:1: not an IP address: \"2001:db8::g\": \"2001:db8::g\"",
            ),
        ];
        for (input, msg) in cases {
            let e = ExcludeList::from_reader(input.as_bytes(), "t").unwrap_err();
            assert_eq!(e.to_string(), *msg, "{input:?}");
        }
    }

    #[test]
    fn innermost_block_wins_and_extend_overrides() {
        let mut list = ExcludeList::defaults(true);
        let ops = ExcludeList::from_reader(
            "10.1.0.0/16 # lab net\n10.1.2.3 # one host\n0.0.0.0/0 # nothing v4\n".as_bytes(),
            "ops",
        )
        .unwrap();
        list.extend(ops);
        let cases: &[(&str, &str)] = &[
            ("10.1.2.3", "one host"),
            ("10.1.2.4", "lab net"),
            ("10.2.0.0", "RFC 1918 private"),
            ("8.8.8.8", "nothing v4"),
            ("255.255.255.255", "limited broadcast (RFC 919, RFC 8190)"),
            ("127.0.0.1", "nothing v4"),
        ];
        for (addr, want) in cases {
            assert_eq!(
                list.is_excluded_ip(ip(addr)).map(|r| r.text.as_str()),
                Some(*want),
                "{addr}"
            );
        }
        assert!(list.is_excluded_ip(ip("2001:4860::1")).is_none());
        // Same block again: the later reason wins.
        list.add_range(
            parse_range("10.1.2.3").unwrap().range,
            Reason {
                text: "again".into(),
                source: "cli".into(),
            },
        );
        assert_eq!(list.is_excluded_ip(ip("10.1.2.3")).unwrap().text, "again");
    }

    #[test]
    fn segments_are_disjoint_and_sorted() {
        let list = ExcludeList::defaults(false);
        let segs: Vec<IpRange> = list.ip_ranges().collect();
        for w in segs.windows(2) {
            assert!(
                (w[0].family, w[0].end) < (w[1].family, w[1].start),
                "{} {}",
                w[0],
                w[1]
            );
        }
        // 224/4 + 240/4 + the broadcast inside 240/4 stay three reasons, not one merged block.
        assert!(segs.iter().any(|r| r.to_string() == "255.255.255.255"));
    }

    #[test]
    fn apply_removes_excluded_targets() {
        let mut targets = IpTargets::new(
            ["10.0.0.0/30", "8.8.8.0/30", "127.0.0.1", "2001:db8::/126"]
                .iter()
                .map(|s| parse_range(s).unwrap().range),
        );
        assert_eq!(ExcludeList::defaults(true).apply(&mut targets), 4 + 4);
        assert_eq!(targets.len(), 4 + 1);
        assert!(targets.contains(ip("127.0.0.1")));
        assert!(targets.contains(ip("8.8.8.3")));
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = ExcludeList::from_file(Path::new("/nonexistent/ex.txt")).unwrap_err();
        assert!(matches!(e, ExcludeError::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/ex.txt"), "{e}");
    }
}
