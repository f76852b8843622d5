//! DMARC policy records (RFC 7489; draft-ietf-dmarc-dmarcbis, "DMARCbis", for `np`, `t`, `psd`
//! and the DNS Tree Walk): record selection at `_dmarc.<domain>`, tag parsing, the Organizational
//! Domain, the discovery plan, and external report destinations (RFC 7489 7.1).
//!
//! Pure: the scanner queries the names this module plans and passes the TXT answers back in (each
//! record's character-strings joined, RFC 7489 6.6.3 step 2 / RFC 7208 3.3).
//!
//! `dmarc_source` values ([`DmarcSource`]): `domain` (the record is at `_dmarc.<domain>`),
//! `organizational` (RFC 7489 6.6.3 step 3: found at `_dmarc.<Organizational Domain>`), and
//! `tree-walk:<name>` (DMARCbis DNS Tree Walk: found at `_dmarc.<name>`, a parent of the domain).

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::taglist::{self, Part};
use super::{Lookup, TxtPolicy};

/// The scan outcome for one domain's DMARC lookup. `Invalid`: a record was found but no policy
/// applies (no valid `p`, an invalid `sp`, or several records: RFC 7489 6.6.3 steps 5-6).
pub type DmarcStatus = super::RecordStatus;

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
    /// A policy applies: `version_ok`, a valid `p`, and no invalid `sp` (RFC 7489 6.6.3 step 6).
    pub valid: bool,
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
    /// Tags this parser does not know, as `(name, value)`: RFC 7489 6.3 says they MUST be ignored,
    /// but they are kept so a scan can count typos such as `rue=`.
    pub unknown: Vec<(String, String)>,
    /// Problems, each `code: text`.
    pub errors: Vec<String>,
}

/// The DMARC columns of a scan row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcFindings {
    pub status: DmarcStatus,
    /// Where the record was found, when one was.
    pub source: Option<DmarcSource>,
    /// The record used (or, when several, the first), raw.
    pub record: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    pub pct: Option<u8>,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub errors: Vec<String>,
    /// The parsed record, for follow-up checks such as [`external_destinations`].
    pub parsed: Option<DmarcRecord>,
}

impl DmarcFindings {
    fn empty(status: DmarcStatus) -> DmarcFindings {
        DmarcFindings {
            status,
            source: None,
            record: None,
            p: None,
            sp: None,
            np: None,
            pct: None,
            adkim: None,
            aspf: None,
            rua: Vec::new(),
            ruf: Vec::new(),
            errors: Vec::new(),
            parsed: None,
        }
    }

    fn from_record(raw: &str, r: DmarcRecord) -> DmarcFindings {
        DmarcFindings {
            status: if r.valid {
                DmarcStatus::Valid
            } else {
                DmarcStatus::Invalid
            },
            source: None,
            record: Some(raw.to_string()),
            p: r.p.map(|p| p.as_str().to_string()),
            sp: r.sp.map(|p| p.as_str().to_string()),
            np: r.np.map(|p| p.as_str().to_string()),
            pct: r.pct,
            adkim: r.adkim.map(|a| a.as_str().to_string()),
            aspf: r.aspf.map(|a| a.as_str().to_string()),
            rua: r.rua_raw.clone(),
            ruf: r.ruf_raw.clone(),
            errors: r.errors.clone(),
            parsed: Some(r),
        }
    }
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
/// Receivers accept the tags in any order after `v`, so only `v` is held to its place. The first
/// of duplicated tags wins, as a lenient receiver would do; the duplicate is flagged.
pub fn parse(record: &str) -> DmarcRecord {
    let mut r = DmarcRecord::default();
    let mut bad_sp = false;
    for (i, part) in taglist::parse(record, &taglist::DMARC)
        .into_iter()
        .enumerate()
    {
        let t = match part {
            Part::Tag(t) => t,
            Part::NoEquals { .. } => {
                r.errors.extend(part.syntax_error());
                if i == 0 {
                    r.errors.push(
                        "missing-version: the record must begin with v=DMARC1 (RFC 7489 6.4)"
                            .into(),
                    );
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
                r.errors.push(
                    "missing-version: the record must begin with v=DMARC1 (RFC 7489 6.4)".into(),
                );
            } else if value != "DMARC1" {
                r.errors.push(format!(
                    "invalid-version: {value:?} (RFC 7489 6.4: exactly DMARC1)"
                ));
            } else {
                r.version_ok = true;
            }
        }
        if t.duplicate {
            r.errors.push(format!(
                "duplicate-tag: {tag} again at byte {offset} (the first one is used)"
            ));
            continue;
        }
        match tag.as_str() {
            "v" if i == 0 => {}
            "v" => r.errors.push(format!(
                "syntax: byte {offset}: v= must be the first tag (RFC 7489 6.4)"
            )),
            "p" => match Policy::parse(value) {
                Some(p) => r.p = Some(p),
                None => r
                    .errors
                    .push(format!("invalid-p: {value:?} (none, quarantine or reject)")),
            },
            "sp" => match Policy::parse(value) {
                Some(p) => r.sp = Some(p),
                None => {
                    bad_sp = true;
                    r.errors.push(format!(
                        "invalid-sp: {value:?} (none, quarantine or reject)"
                    ));
                }
            },
            "np" => match Policy::parse(value) {
                Some(p) => r.np = Some(p),
                None => r.errors.push(format!(
                    "invalid-np: {value:?} (none, quarantine or reject)"
                )),
            },
            "pct" => match value.parse::<u8>() {
                Ok(n) if n <= 100 && is_digits(value, 3) => r.pct = Some(n),
                _ => r.errors.push(format!("invalid-pct: {value:?} (0-100)")),
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
                    None => r.errors.push(format!("invalid-{tag}: {value:?} (r or s)")),
                }
            }
            "fo" => {
                for opt in value.split(':').map(|o| o.trim_matches(WSP)) {
                    match opt.to_ascii_lowercase().as_str() {
                        o @ ("0" | "1" | "d" | "s") => r.fo.extend(o.chars()),
                        _ => r
                            .errors
                            .push(format!("invalid-fo: {opt:?} (colon-separated 0, 1, d, s)")),
                    }
                }
            }
            "rf" => {
                for fmt in value.split(':').map(|f| f.trim_matches(WSP)) {
                    let fmt = fmt.to_ascii_lowercase();
                    if fmt != "afrf" {
                        r.errors.push(format!(
                            "invalid-rf: {fmt:?} (afrf is the only registered format, RFC 7489 6.3)"
                        ));
                    }
                    r.rf.push(fmt);
                }
            }
            "ri" => match value.parse::<u32>() {
                Ok(n) if is_digits(value, 10) => r.ri = Some(n),
                _ => r
                    .errors
                    .push(format!("invalid-ri: {value:?} (seconds, 32-bit unsigned)")),
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
                _ => r.errors.push(format!("invalid-t: {value:?} (y or n)")),
            },
            "psd" => match value.to_ascii_lowercase().as_str() {
                "y" => r.psd = Some(Psd::Yes),
                "n" => r.psd = Some(Psd::No),
                "u" => r.psd = Some(Psd::Unspecified),
                _ => r.errors.push(format!("invalid-psd: {value:?} (y, n or u)")),
            },
            _ => {
                r.errors.push(format!("unknown-tag: {tag}"));
                r.unknown.push((tag, value.to_string()));
            }
        }
    }
    if r.p.is_none() && !r.errors.iter().any(|e| e.starts_with("invalid-p:")) {
        r.errors
            .push("missing-p: no p= tag (RFC 7489 6.3: REQUIRED for policy records)".into());
    }
    r.valid = r.version_ok && r.p.is_some() && !bad_sp;
    r
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
            errors.push(format!("invalid-uri: empty item in {tag}"));
            continue;
        }
        let (uri, size) = match item.rsplit_once('!') {
            Some((uri, size)) => match parse_size(size) {
                Some(n) => (uri, Some(n)),
                None => {
                    errors.push(format!(
                        "invalid-uri-size: {item:?} (!digits with an optional k, m, g or t)"
                    ));
                    (uri, None)
                }
            },
            None => (item.as_str(), None),
        };
        let Some((scheme, rest)) = uri.split_once(':').filter(|(s, _)| is_scheme(s)) else {
            errors.push(format!(
                "invalid-uri: {item:?} in {tag} has no scheme (RFC 7489 6.4: e.g. mailto:)"
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
                _ => errors.push(format!(
                    "invalid-mailto: {item:?} in {tag} is not mailto:local@domain"
                )),
            }
        } else {
            errors.push(format!(
                "unsupported-uri-scheme: {scheme} in {tag} (RFC 7489 6.2 requires only mailto)"
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

pub use super::Selection;

/// The records at one `_dmarc` name after discarding non-DMARC ones (RFC 7489 6.6.3 step 4);
/// several mean none applies (step 5).
pub fn select(answer: &Lookup<String>) -> Selection {
    super::select_records(answer, is_dmarc_record)
}

/// One `_dmarc` name's findings, without discovery (that is [`discover`]).
impl TxtPolicy for DmarcFindings {
    fn is_record(txt: &str) -> bool {
        is_dmarc_record(txt)
    }

    fn none() -> DmarcFindings {
        DmarcFindings::empty(DmarcStatus::None)
    }

    /// A row for a lookup that failed transiently; `reason` is the resolver's account of it.
    fn temperror(reason: &str) -> DmarcFindings {
        let mut f = DmarcFindings::empty(DmarcStatus::TempError);
        f.errors.push(format!("dns-temperror: {reason}"));
        f
    }

    fn one(record: String) -> DmarcFindings {
        let parsed = parse(&record);
        DmarcFindings::from_record(&record, parsed)
    }

    fn multiple(records: Vec<String>) -> DmarcFindings {
        multiple(&records)
    }
}

fn multiple(rs: &[String]) -> DmarcFindings {
    // Report the first raw so the row shows what was published, but no policy applies.
    let mut f = DmarcFindings::from_record(&rs[0], parse(&rs[0]));
    f.status = DmarcStatus::Invalid;
    f.p = None;
    f.errors.insert(
        0,
        format!(
            "multiple-records: {} v=DMARC1 records (RFC 7489 6.6.3: none is used)",
            rs.len()
        ),
    );
    f
}

// ---------------------------------------------------------------------------------------------
// Organizational Domain and the Public Suffix List

/// A Public Suffix List read from a `public_suffix_list.dat` text (the `--psl FILE` option), used
/// instead of the list built into the `psl` crate.
///
/// Rules follow <https://publicsuffix.org/list/> "Format": one rule per line, the rule being the
/// line's first whitespace-delimited token; `//` starts a comment line; `*.` marks a wildcard
/// and `!` an exception. Unicode rules are stored punycoded (RFC 3492) so that A-label names match.
#[derive(Debug, Clone, Default)]
pub struct SuffixList {
    rules: HashSet<String>,
    /// `*.x` stored as `x`.
    wildcards: HashSet<String>,
    /// `!x` stored as `x`.
    exceptions: HashSet<String>,
}

impl SuffixList {
    pub fn parse(text: &str) -> Result<SuffixList, String> {
        let mut list = SuffixList::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let rule = line.split_whitespace().next().unwrap_or("");
            let (set, body) = if let Some(r) = rule.strip_prefix('!') {
                (&mut list.exceptions, r)
            } else if let Some(r) = rule.strip_prefix("*.") {
                (&mut list.wildcards, r)
            } else {
                (&mut list.rules, rule)
            };
            let Some(ascii) = to_ascii_name(body) else {
                return Err(format!("psl-syntax: line {}: {rule:?}", n + 1));
            };
            set.insert(ascii);
        }
        if list.is_empty() {
            return Err("psl-empty: no rules in the list".into());
        }
        Ok(list)
    }

    pub fn len(&self) -> usize {
        self.rules.len() + self.wildcards.len() + self.exceptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of the rightmost labels form the public suffix, by the algorithm at
    /// <https://publicsuffix.org/list/>: an exception rule prevails and loses its leftmost label;
    /// otherwise the matching rule with the most labels; otherwise the implicit rule `*`.
    fn suffix_labels(&self, labels: &[&str]) -> usize {
        let n = labels.len();
        let tail = |k: usize| labels[n - k..].join(".");
        for k in (1..=n).rev() {
            if self.exceptions.contains(&tail(k)) {
                return k - 1;
            }
        }
        for k in (1..=n).rev() {
            if self.rules.contains(&tail(k)) || (k >= 2 && self.wildcards.contains(&tail(k - 1))) {
                return k;
            }
        }
        1
    }

    /// The registrable domain: the public suffix plus one label, if the name has one more.
    pub fn registrable_domain(&self, domain: &str) -> Option<String> {
        let name = to_ascii_name(domain)?;
        let labels: Vec<&str> = name.split('.').collect();
        let k = self.suffix_labels(&labels);
        (labels.len() > k).then(|| labels[labels.len() - k - 1..].join("."))
    }
}

/// Lowercases, drops a trailing dot and punycodes non-ASCII labels; None for an empty name or an
/// empty label.
fn to_ascii_name(domain: &str) -> Option<String> {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    if d.is_empty() {
        return None;
    }
    let labels: Option<Vec<String>> = d.split('.').map(to_ascii_label).collect();
    Some(labels?.join("."))
}

fn to_ascii_label(label: &str) -> Option<String> {
    if label.is_empty() {
        return None;
    }
    if label.is_ascii() {
        return Some(label.to_ascii_lowercase());
    }
    punycode(&label.to_lowercase()).map(|p| format!("xn--{p}"))
}

/// RFC 3492 6.3 encoding, with the parameters of 5 (base 36, tmin 1, tmax 26, skew 38, damp 700,
/// initial_bias 72, initial_n 128).
fn punycode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    fn adapt(mut delta: u32, numpoints: u32, first: bool) -> u32 {
        delta /= if first { 700 } else { 2 };
        delta += delta / numpoints;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + 38)
    }
    fn digit(d: u32) -> char {
        (if d < 26 {
            b'a' + d as u8
        } else {
            b'0' + (d - 26) as u8
        }) as char
    }
    let cps: Vec<u32> = input.chars().map(|c| c as u32).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let b = out.len() as u32;
    if b > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut h) = (128u32, 0u32, 72u32, b);
    while (h as usize) < cps.len() {
        let m = *cps.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in &cps {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, h + 1, h == b);
                delta = 0;
                h += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
}

/// RFC 7489 3.2: the Organizational Domain is the public suffix of the domain plus one label (the
/// registrable domain), using the `psl` crate's built-in list. None for a public suffix itself,
/// an empty name or an empty label.
pub fn organizational_domain(domain: &str) -> Option<String> {
    organizational_domain_with(domain, None)
}

/// As [`organizational_domain`], with a loaded list (`--psl FILE`) taking the built-in's place.
pub fn organizational_domain_with(domain: &str, list: Option<&SuffixList>) -> Option<String> {
    match list {
        Some(l) => l.registrable_domain(domain),
        None => {
            let name = to_ascii_name(domain)?;
            psl::domain_str(&name).map(str::to_string)
        }
    }
}

/// How to find the policy for a domain that has no record of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// RFC 7489 6.6.3: the domain, then its Organizational Domain (from the PSL).
    Rfc7489,
    /// DMARCbis DNS Tree Walk: the domain, then successively shorter parents.
    TreeWalk,
}

/// Where a policy record was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmarcSource {
    Domain,
    Organizational,
    /// Found at `_dmarc.<name>` by the DMARCbis DNS Tree Walk.
    TreeWalk(String),
}

impl fmt::Display for DmarcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmarcSource::Domain => f.write_str("domain"),
            DmarcSource::Organizational => f.write_str("organizational"),
            DmarcSource::TreeWalk(name) => write!(f, "tree-walk:{name}"),
        }
    }
}

/// The DMARCbis DNS Tree Walk bound: at most 8 queries, so a name with 8 or more labels jumps to
/// its last 7 after the first query.
const TREE_WALK_MAX_LABELS: usize = 7;

/// The domains (without `_dmarc.`) the plan queries, in order.
fn discovery_domains(domain: &str, mode: DiscoveryMode, list: Option<&SuffixList>) -> Vec<String> {
    let Some(name) = to_ascii_name(domain) else {
        return Vec::new();
    };
    match mode {
        DiscoveryMode::Rfc7489 => {
            let mut v = vec![name.clone()];
            if let Some(org) = organizational_domain_with(&name, list)
                && org != name
            {
                v.push(org);
            }
            v
        }
        DiscoveryMode::TreeWalk => {
            // DMARCbis 4.10 (DNS Tree Walk), steps 4-5 and 8: number the labels from the right;
            // with x labels, "If x < 8, remove the left-most (highest-numbered) label from the
            // subject domain. If x >= 8, remove the left-most (highest-numbered) labels from the
            // subject domain until 7 labels remain", then one label at a time "until there are no
            // more labels remaining". So at most 1 + 7 = 8 queries.
            let labels: Vec<&str> = name.split('.').collect();
            let n = labels.len();
            let mut v = vec![name.clone()];
            let mut k = if n > TREE_WALK_MAX_LABELS {
                TREE_WALK_MAX_LABELS
            } else {
                n - 1
            };
            while k >= 1 {
                v.push(labels[n - k..].join("."));
                k -= 1;
            }
            v
        }
    }
}

/// The `_dmarc` names to query for `domain`, in order, with the built-in PSL.
pub fn discovery_names(domain: &str, mode: DiscoveryMode) -> Vec<String> {
    discovery_names_with(domain, mode, None)
}

/// As [`discovery_names`], with an optional loaded list (`--psl FILE`).
pub fn discovery_names_with(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
) -> Vec<String> {
    discovery_domains(domain, mode, list)
        .into_iter()
        .map(|d| format!("_dmarc.{d}"))
        .collect()
}

/// The next `_dmarc` name to query given the answers so far (in plan order), or None when
/// discovery is complete. Drive it as `while let Some(q) = next_query(..) { answers.push(fetch(q)) }`
/// and then call [`discover`] with the same answers.
pub fn next_query(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    answers: &[Lookup<String>],
) -> Option<String> {
    let plan = discovery_domains(domain, mode, list);
    if answers.len() >= plan.len() || walk(&plan, mode, answers).done {
        return None;
    }
    Some(format!("_dmarc.{}", plan[answers.len()]))
}

struct Walk {
    done: bool,
    findings: DmarcFindings,
}

fn walk(plan: &[String], mode: DiscoveryMode, answers: &[Lookup<String>]) -> Walk {
    let mut discarded: Vec<String> = Vec::new();
    for (i, answer) in answers.iter().enumerate().take(plan.len()) {
        let source = match (i, mode) {
            (0, _) => DmarcSource::Domain,
            (_, DiscoveryMode::Rfc7489) => DmarcSource::Organizational,
            (_, DiscoveryMode::TreeWalk) => DmarcSource::TreeWalk(plan[i].clone()),
        };
        let mut f = match select(answer) {
            Selection::TempError(reason) => {
                return Walk {
                    done: true,
                    findings: DmarcFindings::temperror(&format!(
                        "_dmarc.{}: TXT {reason}",
                        plan[i]
                    )),
                };
            }
            // RFC 7489 6.6.3 step 3 and the Tree Walk go on past a name that does not exist.
            Selection::None | Selection::NxDomain => continue,
            Selection::One(r) => DmarcFindings::one(r),
            // DMARCbis 4.10 steps 2 and 7: "If multiple DMARC records are returned, they are all
            // discarded", and the walk goes on.
            Selection::Multiple(rs) if mode == DiscoveryMode::TreeWalk => {
                discarded.push(format!(
                    "multiple-records: {} v=DMARC1 records at _dmarc.{} (DMARCbis 4.10: all discarded)",
                    rs.len(),
                    plan[i]
                ));
                continue;
            }
            // RFC 7489 6.6.3 step 5: several records end discovery, with no fallback.
            Selection::Multiple(rs) => multiple(&rs),
        };
        f.source = Some(source);
        f.errors.splice(0..0, discarded);
        return Walk {
            done: true,
            findings: f,
        };
    }
    let mut f = if discarded.is_empty() {
        DmarcFindings::empty(DmarcStatus::None)
    } else {
        DmarcFindings::empty(DmarcStatus::Invalid)
    };
    f.errors = discarded;
    Walk {
        done: false,
        findings: f,
    }
}

/// The policy that applies to `domain` given the answers to the plan's queries, in order (a
/// prefix of the plan is fine: what was not asked is taken as not found).
///
/// RFC 7489 6.6.3: the record at the domain, else the one at the Organizational Domain.
/// DMARCbis (policy discovery): the record at the domain, else the first found by the DNS Tree
/// Walk. The Tree Walk's Organizational Domain (the `psd` rules) is not derived here: a scan of
/// policies needs the applicable record, and stopping at it saves queries.
pub fn discover(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    answers: &[Lookup<String>],
) -> DmarcFindings {
    walk(&discovery_domains(domain, mode, list), mode, answers).findings
}

// ---------------------------------------------------------------------------------------------
// External report destinations (RFC 7489 7.1)

/// The report destinations outside the record's Organizational Domain, each with the name whose
/// TXT records must authorize it: `(dest_domain, "<record domain>._report._dmarc.<dest domain>")`
/// (RFC 7489 7.1). `record_domain` is the domain whose `_dmarc` record listed the URIs. Each
/// destination domain appears once, in the order first seen.
pub fn external_destinations<'a>(
    record_domain: &str,
    uris: impl IntoIterator<Item = &'a ReportUri>,
    list: Option<&SuffixList>,
) -> Vec<(String, String)> {
    let Some(record) = to_ascii_name(record_domain) else {
        return Vec::new();
    };
    let record_org = organizational_domain_with(&record, list).unwrap_or_else(|| record.clone());
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for dest in uris.into_iter().filter_map(|u| u.domain.as_deref()) {
        let Some(dest) = to_ascii_name(dest) else {
            continue;
        };
        let dest_org = organizational_domain_with(&dest, list).unwrap_or_else(|| dest.clone());
        if dest_org != record_org && seen.insert(dest.clone(), ()).is_none() {
            out.push((dest.clone(), format!("{record}._report._dmarc.{dest}")));
        }
    }
    out
}

/// RFC 7489 7.1 step 3: the destination authorizes the reports when its answer includes a TXT
/// record that begins with `v=DMARC1`.
pub fn authorizes(txt_records: &[String]) -> bool {
    txt_records.iter().any(|t| is_dmarc_record(t))
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

    fn findings(records: &[String]) -> DmarcFindings {
        DmarcFindings::from_lookup("_dmarc.x", &Lookup::Records(records.to_vec()))
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
        assert!(r.valid && r.errors.is_empty(), "{:?}", r.errors);
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
            ("v=DMARC1; p=none; np=bogus", true, "invalid-np"),
            ("v=DMARC1; p=none; pct=150", true, "invalid-pct"),
            ("v=DMARC1; p=none; pct=-1", true, "invalid-pct"),
            ("v=DMARC1; p=none; pct=0100", true, "invalid-pct"),
            ("v=DMARC1; p=none; pct=100", true, ""),
            ("v=DMARC1; p=none; adkim=x", true, "invalid-adkim"),
            ("v=DMARC1; p=none; aspf=relaxed", true, "invalid-aspf"),
            ("v=DMARC1; p=none; fo=1:x", true, "invalid-fo"),
            ("v=DMARC1; p=none; rf=iodef", true, "invalid-rf"),
            ("v=DMARC1; p=none; ri=99999999999", true, "invalid-ri"),
            ("v=DMARC1; p=none; ri=1h", true, "invalid-ri"),
            ("v=DMARC1; p=none; t=maybe", true, "invalid-t"),
            ("v=DMARC1; p=none; psd=x", true, "invalid-psd"),
            ("v=DMARC1; p=none; foo=bar", true, "unknown-tag"),
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

    #[test]
    fn findings_table() {
        let f = findings(&s(&[
            "v=spf1 -all",
            "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:a@x.example,mailto:b@x.example",
        ]));
        assert_eq!(f.status, DmarcStatus::Valid);
        assert_eq!(
            (f.p.as_deref(), f.sp.as_deref(), f.pct),
            (Some("reject"), Some("quarantine"), Some(50))
        );
        assert_eq!(f.rua, ["mailto:a@x.example", "mailto:b@x.example"]);

        let f = findings(&s(&["v=DMARC1; rua=mailto:x@example.com"]));
        assert_eq!((f.status, f.p.as_deref()), (DmarcStatus::Invalid, None));
        assert!(
            f.record.is_some(),
            "an invalid record is still reported raw"
        );

        let f = findings(&s(&["v=DMARC1; p=none", "v=DMARC1; p=reject"]));
        assert_eq!((f.status, f.p.as_deref()), (DmarcStatus::Invalid, None));
        assert!(f.errors[0].starts_with("multiple-records: 2"));
        assert_eq!(f.record.as_deref(), Some("v=DMARC1; p=none"));

        assert_eq!(findings(&s(&["other"])).status, DmarcStatus::None);
        assert_eq!(findings(&[]).status, DmarcStatus::None);
        assert_eq!(
            DmarcFindings::temperror("timeout").status.as_str(),
            "temperror"
        );
    }

    #[test]
    fn select_table() {
        let r = |v: &[&str]| Lookup::Records(s(v));
        assert_eq!(select(&r(&["x"])), Selection::None);
        assert_eq!(
            select(&r(&["x", "v=DMARC1; p=none"])),
            Selection::One("v=DMARC1; p=none".into())
        );
        assert!(matches!(
            select(&r(&["v=DMARC1; p=none", "v=DMARC1"])),
            Selection::Multiple(v) if v.len() == 2
        ));
        assert_eq!(select(&Lookup::NoData), Selection::None);
        assert_eq!(select(&Lookup::NxDomain), Selection::NxDomain);
        assert_eq!(
            select(&Lookup::TempError("timeout".into())),
            Selection::TempError("timeout".into())
        );
    }

    #[test]
    fn organizational_domain_table() {
        for (d, want) in [
            ("example.com", Some("example.com")),
            ("a.b.example.com", Some("example.com")),
            ("Mail.Example.COM.", Some("example.com")),
            ("a.example.co.uk", Some("example.co.uk")),
            ("com", None),
            ("co.uk", None),
            ("", None),
            ("a..com", None),
            ("www.xn--85x722f.xn--fiqs8s", Some("xn--85x722f.xn--fiqs8s")),
            ("www.食狮.中国", Some("xn--85x722f.xn--fiqs8s")),
        ] {
            assert_eq!(organizational_domain(d).as_deref(), want, "{d:?}");
        }
    }

    const PSL_TEXT: &str = "// comment\n\
        com\n\
        uk\n\
        co.uk\n\
        // wildcard and exception\n\
        *.ck\n\
        !www.ck\n\
        jp\n\
        *.kobe.jp\n\
        !city.kobe.jp\n\
        中国\n\
        blogspot.com  trailing text is ignored\n";

    #[test]
    fn suffix_list_table() {
        let l = SuffixList::parse(PSL_TEXT).unwrap();
        assert_eq!(l.len(), 10);
        for (d, want) in [
            ("example.com", Some("example.com")),
            ("a.b.example.com", Some("example.com")),
            ("com", None),
            ("x.blogspot.com", Some("x.blogspot.com")),
            ("a.example.co.uk", Some("example.co.uk")),
            ("co.uk", None),
            ("example.ck", None),
            ("a.example.ck", Some("a.example.ck")),
            ("www.ck", Some("www.ck")),
            ("a.www.ck", Some("www.ck")),
            ("a.b.c.kobe.jp", Some("b.c.kobe.jp")),
            ("city.kobe.jp", Some("city.kobe.jp")),
            ("a.city.kobe.jp", Some("city.kobe.jp")),
            ("example.unknowntld", Some("example.unknowntld")),
            ("unknowntld", None),
            ("a.食狮.中国", Some("xn--85x722f.xn--fiqs8s")),
            ("A.EXAMPLE.COM.", Some("example.com")),
        ] {
            assert_eq!(l.registrable_domain(d).as_deref(), want, "{d:?}");
            assert_eq!(
                organizational_domain_with(d, Some(&l)).as_deref(),
                want,
                "{d:?}"
            );
        }
        assert!(
            SuffixList::parse("// only comments\n\n")
                .unwrap_err()
                .starts_with("psl-empty:")
        );
        assert!(
            SuffixList::parse("a..b\n")
                .unwrap_err()
                .starts_with("psl-syntax:")
        );
    }

    #[test]
    fn punycode_table() {
        // RFC 3492 7.1 and well-known A-labels.
        for (u, a) in [
            ("bücher", "bcher-kva"),
            ("食狮", "85x722f"),
            ("中国", "fiqs8s"),
            ("ü", "tda"),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
        ] {
            assert_eq!(punycode(u).as_deref(), Some(a), "{u}");
        }
    }

    #[test]
    fn discovery_names_table() {
        use DiscoveryMode::*;
        let j = |v: Vec<String>| v.join(" ");
        for (d, mode, want) in [
            ("example.com", Rfc7489, "_dmarc.example.com"),
            (
                "mail.example.com",
                Rfc7489,
                "_dmarc.mail.example.com _dmarc.example.com",
            ),
            (
                "a.b.example.co.uk.",
                Rfc7489,
                "_dmarc.a.b.example.co.uk _dmarc.example.co.uk",
            ),
            ("com", Rfc7489, "_dmarc.com"),
            ("", Rfc7489, ""),
            ("com", TreeWalk, "_dmarc.com"),
            (
                "a.mail.example.com",
                TreeWalk,
                "_dmarc.a.mail.example.com _dmarc.mail.example.com _dmarc.example.com _dmarc.com",
            ),
            // 7 labels: one at a time, 7 queries.
            (
                "a.b.c.d.e.example.com",
                TreeWalk,
                "_dmarc.a.b.c.d.e.example.com _dmarc.b.c.d.e.example.com _dmarc.c.d.e.example.com \
              _dmarc.d.e.example.com _dmarc.e.example.com _dmarc.example.com _dmarc.com",
            ),
            // 10 labels: the name, then straight to the last 7: 8 queries.
            (
                "x.y.z.a.b.c.d.e.example.com",
                TreeWalk,
                "_dmarc.x.y.z.a.b.c.d.e.example.com _dmarc.a.b.c.d.e.example.com _dmarc.b.c.d.e.example.com _dmarc.c.d.e.example.com \
              _dmarc.d.e.example.com _dmarc.e.example.com _dmarc.example.com _dmarc.com",
            ),
        ] {
            assert_eq!(
                j(discovery_names(d, mode)),
                want.split_whitespace().collect::<Vec<_>>().join(" "),
                "{d} {mode:?}"
            );
        }
        assert_eq!(
            discovery_names("a.b.c.d.e.f.g.h.i.j.k.l", TreeWalk).len(),
            8
        );
        let l = SuffixList::parse(PSL_TEXT).unwrap();
        assert_eq!(
            discovery_names_with("a.b.c.kobe.jp", Rfc7489, Some(&l)),
            ["_dmarc.a.b.c.kobe.jp", "_dmarc.b.c.kobe.jp"]
        );
    }

    /// One answer per string: `-` no data, `x` NXDOMAIN, `!` a temperror, else records split at
    /// ` | `.
    fn answers(v: &[&str]) -> Vec<Lookup<String>> {
        v.iter()
            .map(|a| match *a {
                "-" => Lookup::NoData,
                "x" => Lookup::NxDomain,
                "!" => Lookup::TempError("timeout".into()),
                r => Lookup::Records(r.split(" | ").map(str::to_string).collect()),
            })
            .collect()
    }

    #[test]
    fn discover_table() {
        use DiscoveryMode::*;
        const TWO: &str = "v=DMARC1; p=none | v=DMARC1; p=reject";
        // (domain, mode, answers, next query ("" = done), "status source p")
        let cases: &[(&str, DiscoveryMode, &[&str], &str, &str)] = &[
            (
                "mail.example.com",
                Rfc7489,
                &[],
                "_dmarc.mail.example.com",
                "none - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["-"],
                "_dmarc.example.com",
                "none - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["v=DMARC1; p=reject"],
                "",
                "valid domain reject",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["-", "v=DMARC1; p=none"],
                "",
                "valid organizational none",
            ),
            ("mail.example.com", Rfc7489, &["-", "-"], "", "none - -"),
            (
                "mail.example.com",
                Rfc7489,
                &["x", "v=DMARC1; p=none"],
                "",
                "valid organizational none",
            ),
            ("mail.example.com", Rfc7489, &[TWO], "", "invalid domain -"),
            ("mail.example.com", Rfc7489, &["!"], "", "temperror - -"),
            (
                "mail.example.com",
                Rfc7489,
                &["-", "!"],
                "",
                "temperror - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["v=DMARC1; sp=none"],
                "",
                "invalid domain -",
            ),
            ("example.com", Rfc7489, &["-"], "", "none - -"),
            (
                "a.mail.example.com",
                TreeWalk,
                &["-"],
                "_dmarc.mail.example.com",
                "none - -",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &["-", "v=DMARC1; p=quarantine"],
                "",
                "valid tree-walk:mail.example.com quarantine",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &[TWO, "-", "v=DMARC1; p=reject"],
                "",
                "valid tree-walk:example.com reject",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &[TWO, "-", "-", "-"],
                "",
                "invalid - -",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &["-", "-", "-", "-"],
                "",
                "none - -",
            ),
        ];
        for (d, mode, a, next, want) in cases {
            let a = answers(a);
            let q = next_query(d, *mode, None, &a).unwrap_or_default();
            assert_eq!(q, *next, "{d} {a:?}");
            let f = discover(d, *mode, None, &a);
            let got = format!(
                "{} {} {}",
                f.status.as_str(),
                f.source.map_or("-".into(), |s| s.to_string()),
                f.p.as_deref().unwrap_or("-")
            );
            assert_eq!(got, *want, "{d} {a:?}");
        }
        let f = discover(
            "a.mail.example.com",
            TreeWalk,
            None,
            &answers(&[TWO, "v=DMARC1; p=none"]),
        );
        assert!(f.errors[0].starts_with("multiple-records: 2 v=DMARC1 records at _dmarc.a.mail"));
        let f = discover("mail.example.com", Rfc7489, None, &answers(&["-", "!"]));
        assert_eq!(f.errors, ["dns-temperror: _dmarc.example.com: TXT timeout"]);
    }

    #[test]
    fn external_destinations_table() {
        let r = parse(
            "v=DMARC1; p=none; rua=mailto:d@example.com,mailto:a@reports.vendor.example,\
             mailto:b@reports.vendor.example; ruf=mailto:f@mail.example.com,mailto:x@other.co.uk,https://h.example/",
        );
        let got = external_destinations("example.com", r.rua.iter().chain(&r.ruf), None);
        assert_eq!(
            got,
            [
                (
                    "reports.vendor.example".to_string(),
                    "example.com._report._dmarc.reports.vendor.example".to_string()
                ),
                (
                    "other.co.uk".to_string(),
                    "example.com._report._dmarc.other.co.uk".to_string()
                ),
            ]
        );
        assert!(external_destinations("sub.example.com", &r.rua[..1], None).is_empty());
    }

    #[test]
    fn authorizes_table() {
        for (txt, want) in [
            (vec!["v=DMARC1"], true),
            (vec!["v=DMARC1; rua=mailto:x@y.example"], true),
            (vec!["v=spf1 -all"], false),
            (vec![], false),
        ] {
            assert_eq!(authorizes(&s(&txt)), want, "{txt:?}");
        }
    }
}
