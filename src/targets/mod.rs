//! Targets: streaming input readers (plain lines, CSV with a `domain` column, Tranco `rank,domain`;
//! gzip; stdin), domain normalisation (IDNA to punycode), rejects and exact-duplicate removal.
//!
//! Nothing here holds the whole input: lines are read one at a time with a length cap, and duplicate
//! removal keeps a 64-bit fingerprint per distinct domain up to a cap.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

pub mod exclude;
pub mod ips;
pub mod shard;

/// Longest input line accepted; longer lines are rejected (a domain is at most 253 bytes, CSV rows
/// carry a few more columns).
pub const MAX_LINE: usize = 4096;

/// A domain to scan, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// 1-based line number in the input.
    pub line: u64,
    /// Normalised: lowercase ASCII (punycode), no trailing dot.
    pub domain: String,
}

/// An input line that could not be used, for rejects.csv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub line: u64,
    pub text: String,
    pub reason: String,
}

/// What the reader yields per data line.
#[derive(Debug)]
pub enum Item {
    Target(Target),
    Reject(Reject),
    /// The same domain (after normalisation) came earlier: scanned once.
    Duplicate,
}

/// How lines are turned into domains; detected from the first data line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One domain per line.
    Lines,
    /// CSV whose header has a `domain` column (its index).
    Csv { column: usize },
    /// Tranco and Alexa style `rank,domain` without header.
    RankDomain,
}

/// Opens `-` (stdin) or a file, decompressing `.gz`.
pub fn open(path: &str) -> io::Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let raw = if path.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw))) as Box<dyn Read + Send>
    } else {
        raw
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, raw)))
}

/// Counts data lines (not blank, not comments) of a file, for progress totals. `None` for stdin.
pub fn count_entries(path: &str) -> Option<u64> {
    if path == "-" || !Path::new(path).is_file() {
        return None;
    }
    let mut r = open(path).ok()?;
    let mut n = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                let t = buf.trim_ascii();
                if !t.is_empty() && !t.starts_with(b"#") {
                    n += 1;
                }
            }
            Err(_) => return None,
        }
    }
    Some(n)
}

/// Options of the reader.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Distinct domains remembered for duplicate removal; past this, later repeats are scanned
    /// again (run.json: `dedup_overflow`). Default 3,670,016: exactly what a table of 2^22
    /// slots holds, 38 MB, set aside at the start so that it never grows (a growing table left
    /// its old copies in the allocator: peak RSS rose with the input, 238 MiB at 1 M domains and
    /// 370 MiB at 5 M). A whole top-million list, or three, is deduplicated exactly.
    pub dedup_capacity: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            dedup_capacity: 3_670_016,
        }
    }
}

/// Streams domains out of a reader.
pub struct DomainReader<R> {
    input: R,
    line: u64,
    format: Option<Format>,
    seen: HashSet<u64, ahash::RandomState>,
    hasher: ahash::RandomState,
    opts: ReaderOptions,
    buf: Vec<u8>,
    /// The current line's length in bytes, also what was cut from `buf`.
    line_len: usize,
    /// The current line's first byte that is not white space, also past the cap: a line longer
    /// than the cap is still blank or a comment when the whole line is.
    lead: Option<u8>,
    failed: bool,
    /// Set when the dedup set filled up.
    pub dedup_overflow: bool,
}

impl<R: BufRead> DomainReader<R> {
    pub fn new(input: R, opts: ReaderOptions) -> Self {
        DomainReader {
            input,
            line: 0,
            format: None,
            seen: HashSet::with_capacity_and_hasher(opts.dedup_capacity, Default::default()),
            // Fixed seeds: the same input dedups the same way on every run and machine.
            hasher: ahash::RandomState::with_seeds(0x6d78, 0x7261, 0x7920, 0x2121),
            opts,
            buf: Vec::with_capacity(256),
            line_len: 0,
            lead: None,
            failed: false,
            dedup_overflow: false,
        }
    }

    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Reads one line into `buf` (without the newline), capped at MAX_LINE. Returns false at EOF.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        self.line_len = 0;
        self.lead = None;
        let mut too_long = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(if self.buf.is_empty() && !too_long {
                    None
                } else {
                    Some(too_long)
                });
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            if self.buf.len() + chunk.len() > MAX_LINE {
                too_long = true;
                let room = MAX_LINE.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
            } else {
                self.buf.extend_from_slice(chunk);
            }
            self.line_len += chunk.len();
            if self.lead.is_none() {
                self.lead = chunk.iter().copied().find(|b| !b.is_ascii_whitespace());
            }
            let consumed = done.unwrap_or(available.len());
            self.input.consume(consumed);
            if done.is_some() {
                return Ok(Some(too_long));
            }
        }
    }

    fn detect(first: &str) -> (Format, bool) {
        let fields = split_csv(first);
        if fields.len() > 1 {
            if let Some(column) = fields
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case("domain"))
            {
                return (Format::Csv { column }, true);
            }
            if fields.len() == 2 && fields[0].trim().bytes().all(|b| b.is_ascii_digit()) {
                return (Format::RankDomain, false);
            }
        }
        (Format::Lines, false)
    }
}

/// A reject's text as valid UTF-8 that keeps every byte: invalid bytes are written `\xNN`.
fn escape_invalid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

impl<R: BufRead> Iterator for DomainReader<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<io::Result<Item>> {
        if self.failed {
            return None;
        }
        loop {
            let too_long = match self.read_line() {
                Ok(None) => return None,
                Ok(Some(t)) => t,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            self.line += 1;
            let line = self.line;
            let reject = |text: &[u8], reason: &str| {
                Some(Ok(Item::Reject(Reject {
                    line,
                    text: escape_invalid_utf8(text),
                    reason: reason.to_string(),
                })))
            };
            // Blank or a comment by its whole line, not the part under the cap: a long line
            // whose kept prefix is white space may still hold a name (rejected below, not
            // dropped without a word), or a comment (skipped, as `count_entries` counts it).
            if matches!(self.lead, None | Some(b'#')) {
                continue;
            }
            let raw = self.buf.trim_ascii();
            if too_long {
                let len = self.line_len;
                return reject(
                    &raw[..raw.len().min(200)],
                    &format!("line too long: {len} bytes (the text is its first 200)"),
                );
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                return reject(raw, "not valid UTF-8");
            };
            let format = match self.format {
                Some(f) => f,
                None => {
                    let (f, header) = Self::detect(text);
                    self.format = Some(f);
                    if header {
                        continue;
                    }
                    f
                }
            };
            let field: Cow<str> = match format {
                Format::Lines => Cow::Borrowed(text),
                Format::Csv { column } => match split_csv(text).into_iter().nth(column) {
                    Some(f) => f,
                    None => return reject(raw, "missing domain column"),
                },
                Format::RankDomain => match split_csv(text).into_iter().nth(1) {
                    Some(f) => f,
                    None => return reject(raw, "missing domain column"),
                },
            };
            let domain = match normalize_domain(&field) {
                Ok(d) => d,
                Err(reason) => {
                    let text = text.to_string();
                    return Some(Ok(Item::Reject(Reject { line, text, reason })));
                }
            };
            let fp = self.hasher.hash_one(&domain);
            if self.seen.contains(&fp) {
                return Some(Ok(Item::Duplicate));
            }
            if self.seen.len() < self.opts.dedup_capacity {
                self.seen.insert(fp);
            } else {
                self.dedup_overflow = true;
            }
            return Some(Ok(Item::Target(Target { line, domain })));
        }
    }
}

/// Splits one CSV line (RFC 4180 quoting, through the `csv` crate).
fn split_csv(line: &str) -> Vec<Cow<'_, str>> {
    // Without a quote a record is its comma-separated parts; most lines take this path, which
    // borrows instead of building a reader per line.
    if !line.contains('"') {
        return line.split(',').map(Cow::Borrowed).collect();
    }
    crate::csv_line::fields(line)
        .into_iter()
        .map(Cow::Owned)
        .collect()
}

/// Every ASCII character but letters, digits, hyphen, underscore and dot is refused: underscores
/// occur in real names (service labels, some hosts), nothing else does in a domain.
const DENY: AsciiDenyList = AsciiDenyList::new(true, " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~");

/// Normalises one domain: trims, drops one trailing dot, lowercases, maps IDN to punycode (UTS 46),
/// checks DNS lengths. The error is the reject reason.
pub fn normalize_domain(input: &str) -> Result<String, String> {
    let s = input.trim();
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return Err("empty domain".into());
    }
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Err("an IP address, not a domain".into());
    }
    let ascii = Uts46::new()
        .to_ascii(
            s.as_bytes(),
            DENY,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .map_err(|_| format!("invalid domain name {s:?} (IDNA/DNS rules)"))?;
    let ascii = ascii.into_owned();
    if ascii.split('.').any(|l| l.is_empty()) {
        return Err("empty label".into());
    }
    if !ascii.contains('.') {
        return Err("a single label, not a domain".into());
    }
    let tld = ascii.rsplit('.').next().unwrap_or_default();
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err("numeric top-level label".into());
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str) -> (Vec<Target>, Vec<Reject>, usize) {
        let mut t = Vec::new();
        let mut r = Vec::new();
        let mut d = 0;
        for item in DomainReader::new(input.as_bytes(), ReaderOptions::default()) {
            match item.unwrap() {
                Item::Target(x) => t.push(x),
                Item::Reject(x) => r.push(x),
                Item::Duplicate => d += 1,
            }
        }
        (t, r, d)
    }

    fn domains(t: &[Target]) -> Vec<&str> {
        t.iter().map(|t| t.domain.as_str()).collect()
    }

    #[test]
    fn normalisation_table() {
        let ok = [
            ("Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("  example.com  ", "example.com"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("münchen.de", "xn--mnchen-3ya.de"),
            ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
            ("r1---sn-abc.googlevideo.com", "r1---sn-abc.googlevideo.com"),
            ("_spf.example.com", "_spf.example.com"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize_domain(input).as_deref(), Ok(want), "{input}");
        }
        let bad = [
            ("", "empty"),
            (".", "empty"),
            ("localhost", "single label"),
            ("1.2.3.4", "IP address"),
            ("::1", "IP address"),
            ("a..b.com", "invalid domain"),
            ("-bad-.example.com", "invalid"),
            ("not a domain!", "invalid"),
            ("exa mple.com", "invalid"),
            ("user@example.com", "invalid"),
            ("example.123", "numeric"),
        ];
        for (input, want) in bad {
            let e = normalize_domain(input).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(normalize_domain(&long_label).is_err());
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(normalize_domain(&long_name).is_err());
    }

    #[test]
    fn plain_lines_with_comments_blanks_rejects_and_duplicates() {
        let (t, r, d) = read("# list\n\nexample.com\nbad domain!\r\nEXAMPLE.com.\nexample.org\n");
        assert_eq!(domains(&t), ["example.com", "example.org"]);
        assert_eq!(t[1].line, 6);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].line, r[0].text.as_str()), (4, "bad domain!"));
        assert_eq!(d, 1);
    }

    #[test]
    fn csv_with_domain_column() {
        let (t, r, _) = read("rank,Domain,category\n1,example.com,x\n2,\"quoted.example\",y\n3\n");
        assert_eq!(domains(&t), ["example.com", "quoted.example"]);
        assert_eq!(r[0].line, 4);
        assert_eq!(r[0].reason, "missing domain column");
    }

    #[test]
    fn tranco_rank_domain() {
        let (t, _, _) = read("1,google.com\n2,facebook.com\n");
        assert_eq!(domains(&t), ["google.com", "facebook.com"]);
    }

    #[test]
    fn long_lines_are_rejected_and_reading_goes_on() {
        // A 10 MB line: its reject is 200 bytes of text and its length.
        let input = format!("{}\nexample.com\n", "a".repeat(10_000_000));
        let (t, r, _) = read(&input);
        assert_eq!(domains(&t), ["example.com"]);
        assert_eq!(
            (r[0].line, r[0].reason.as_str()),
            (
                1,
                "line too long: 10000000 bytes (the text is its first 200)"
            )
        );
        assert!(r[0].text.len() <= 200);
    }

    #[test]
    fn a_long_line_of_leading_white_space_is_rejected_not_dropped() {
        let input = format!("{}x\nexample.com\n", " ".repeat(MAX_LINE + 10));
        let (targets, rejects, _) = read(&input);
        assert_eq!(rejects.len(), 1);
        assert_eq!(
            (rejects[0].line, rejects[0].reason.as_str()),
            (1, "line too long: 4107 bytes (the text is its first 200)")
        );
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].domain, "example.com");
    }

    /// Found by the `domain_list` fuzz target: a line past the cap is blank or a comment by its
    /// whole text, as `count_entries` and a reader of the file see it.
    #[test]
    fn a_long_blank_or_comment_line_is_skipped_whatever_the_cap_kept() {
        let pad = " ".repeat(MAX_LINE + 10);
        for (input, rejects) in [
            (format!("{pad}# a comment\nexample.com\n"), 0),
            (format!("{pad}\nexample.com\n"), 0),
            (format!("{pad}\t\r\nexample.com\n"), 0),
            (format!("# {pad}x\nexample.com\n"), 0),
            (format!("{pad}x # not a comment\nexample.com\n"), 1),
        ] {
            let (targets, r, _) = read(&input);
            assert_eq!(r.len(), rejects, "{:?}", &input[MAX_LINE..]);
            assert_eq!(targets.len(), 1);
            assert_eq!(targets[0].domain, "example.com");
            assert_eq!(targets[0].line, 2);
        }
    }

    #[test]
    fn invalid_utf8_is_a_reject_not_an_error() {
        let input: &[u8] = b"\xff\xfe.com\nexample.com";
        let items: Vec<_> = DomainReader::new(input, ReaderOptions::default())
            .map(|i| i.unwrap())
            .collect();
        assert!(matches!(&items[0], Item::Reject(r) if r.reason == "not valid UTF-8"));
        // The reject keeps every byte, as valid UTF-8.
        assert!(matches!(&items[0], Item::Reject(r) if r.text == "\\xff\\xfe.com"));
        assert!(matches!(&items[1], Item::Target(t) if t.domain == "example.com" && t.line == 2));
    }

    #[test]
    fn gzip_input_is_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt.gz");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"# c\nexample.com\nexample.net\n").unwrap();
        gz.finish().unwrap();
        let p = path.to_str().unwrap();
        let t: Vec<_> = DomainReader::new(open(p).unwrap(), ReaderOptions::default())
            .filter_map(|i| match i.unwrap() {
                Item::Target(t) => Some(t.domain),
                _ => None,
            })
            .collect();
        assert_eq!(t, ["example.com", "example.net"]);
        assert_eq!(count_entries(p), Some(2));
    }

    #[test]
    fn dedup_capacity_bounds_memory() {
        let opts = ReaderOptions { dedup_capacity: 2 };
        let input = "a.com\nb.com\nc.com\nc.com\na.com\n";
        let mut r = DomainReader::new(input.as_bytes(), opts);
        let n = r
            .by_ref()
            .filter(|i| matches!(i, Ok(Item::Target(_))))
            .count();
        // c.com was not remembered (the set was full), so its repeat is scanned again.
        assert_eq!(n, 4);
        assert!(r.dedup_overflow);
    }
}
