//! The domain-list reader (plain lines, CSV with a `domain` column, Tranco `rank,domain`; the
//! line-length cap; IDNA normalisation) over arbitrary bytes: no panic; every data line gives
//! exactly one item, a target (lowercase ASCII, no trailing dot, DNS lengths), a reject (at
//! that line) or a duplicate; and the result does not depend on how the input is buffered.
//!
//! Input: one flags byte, then the list. Flags bits 0-5 pick the reader's buffer size (1 to 64
//! bytes; the reference reader uses 64 KiB); with bit 7, a 0x00 byte followed by a byte `c`
//! stands for 1024 copies of `c`, so lines past the 4096-byte cap fit in a small input. The
//! expansion stops at 16 KiB of output (then `0x00 c` is those two bytes): enough for three
//! lines past the cap. The dedup set is sized to the most lines an input can have, not to the
//! default's 3.7 million (38 MB set aside twice per input held the first runs at 200 inputs/s).
#![no_main]

use std::collections::HashSet;
use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use mxray::targets::{DomainReader, Format, Item, MAX_LINE, ReaderOptions, normalize_domain};

#[derive(Debug, PartialEq)]
enum Got {
    Target(u64, String),
    Reject(u64, String, String),
    Duplicate,
}

fn read(input: &[u8], capacity: usize) -> (Vec<Got>, Option<Format>) {
    let mut r = DomainReader::new(
        BufReader::with_capacity(capacity, input),
        ReaderOptions {
            dedup_capacity: DEDUP_CAPACITY,
        },
    );
    let items = r
        .by_ref()
        .map(|i| match i.expect("reading from memory does not fail") {
            Item::Target(t) => Got::Target(t.line, t.domain),
            Item::Reject(x) => Got::Reject(x.line, x.text, x.reason),
            Item::Duplicate => Got::Duplicate,
        })
        .collect();
    (items, r.format())
}

const EXPAND_LIMIT: usize = 16 * 1024;
/// More than the lines of any input: the expansion's 16 KiB plus a 1024-byte step, plus the
/// 4096-byte raw input, at two bytes a line at least.
const DEDUP_CAPACITY: usize = 16 * 1024;

fn expand(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == 0 && i + 1 < data.len() && out.len() < EXPAND_LIMIT {
            out.extend(std::iter::repeat_n(data[i + 1], 1024));
            i += 2;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Lowercase LDH (and `_`, which the reader lets through) labels of 1-63 bytes, at most 253 in
/// all, at least two labels, no trailing dot.
fn assert_target(d: &str) {
    assert!(!d.is_empty() && d.len() <= 253, "{d:?}: length");
    assert!(
        d.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)),
        "{d:?}: lowercase ASCII"
    );
    assert!(!d.ends_with('.') && d.contains('.'), "{d:?}");
    assert!(
        d.split('.').all(|l| (1..=63).contains(&l.len())),
        "{d:?}: label lengths"
    );
    assert_eq!(
        normalize_domain(d).as_deref(),
        Ok(d),
        "normalisation is idempotent"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = if flags & 0x80 != 0 {
        expand(rest)
    } else {
        rest.to_vec()
    };
    let (items, format) = read(&input, 1 << 16);
    let (small, _) = read(&input, 1 + (flags & 0x3f) as usize);
    assert_eq!(items, small, "the buffer size changes nothing");

    let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    // A data line: not blank, not a `#` comment, once trimmed.
    let data_lines = lines
        .iter()
        .filter(|l| {
            let t = l.trim_ascii();
            !t.is_empty() && !t.starts_with(b"#")
        })
        .count();
    let header = usize::from(matches!(format, Some(Format::Csv { .. })));
    assert_eq!(items.len() + header, data_lines, "one item per data line");

    let mut last_line = 0;
    let mut targets = HashSet::new();
    for item in &items {
        let line = match item {
            Got::Target(n, _) | Got::Reject(n, ..) => *n,
            Got::Duplicate => continue,
        };
        assert!(
            line > last_line && line as usize <= lines.len(),
            "line {line}"
        );
        last_line = line;
        let raw = lines[line as usize - 1];
        match item {
            Got::Target(_, d) => {
                assert!(raw.len() <= MAX_LINE);
                assert_target(d);
                assert!(targets.insert(d.clone()), "{d:?} twice");
                if format == Some(Format::Lines) {
                    let text = std::str::from_utf8(raw.trim_ascii()).expect("a target is UTF-8");
                    assert_eq!(normalize_domain(text).as_ref(), Ok(d));
                }
            }
            Got::Reject(_, text, reason) => {
                assert!(!reason.is_empty());
                let long = reason.starts_with("line too long: ");
                assert_eq!(long, raw.len() > MAX_LINE, "{reason}");
                if long {
                    let len = format!("line too long: {} bytes", raw.len());
                    assert!(reason.starts_with(&len), "{reason}");
                    // The first 200 bytes, an invalid UTF-8 byte written as `\xNN` (4
                    // characters for 1 byte: reject texts stay readable as CSV).
                    assert!(text.chars().count() <= 4 * 200, "{text:?}");
                    // Without escapes, the text is a piece of the line (its start, after the
                    // white space the reader trims) of at most 200 bytes.
                    if !text.contains("\\x") {
                        let t = text.as_bytes();
                        assert!(t.len() <= 200, "{text:?}");
                        assert!(t.is_empty() || raw.windows(t.len()).any(|w| w == t), "{text:?}");
                    }
                } else {
                    // The whole line, each invalid UTF-8 byte as `\xNN`.
                    assert!(text.len() <= 4 * MAX_LINE, "{}", text.len());
                }
            }
            Got::Duplicate => unreachable!(),
        }
    }
});
