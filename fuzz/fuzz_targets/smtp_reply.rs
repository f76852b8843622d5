//! `smtp::reply::read_reply` on whatever a server may send: replies read one after another from
//! the bytes (through a buffer of 1-64 bytes, so lines arrive in pieces) must be exactly the
//! replies of a plain model of RFC 5321 4.2 with the same bounds, up to and including the first
//! error; and what the session reads off a reply (its announced name, EHLO keywords, enhanced
//! code, summary) keeps its shape.
//!
//! Input: a flags byte (bits 0-5: the buffer size - 1; bit 6: small bounds, 64-byte lines, 4
//! lines, 160 bytes, so the fuzzer reaches every limit), then the server's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxray::smtp::reply::{Reply, ReplyError, ReplyLimits, read_reply};

/// What the model says of the next reply: a reply, or the kind of error.
#[derive(Debug, PartialEq)]
enum Got {
    Reply(Reply),
    Closed,
    LineTooLong,
    TooManyLines,
    TooBig,
    Malformed,
}

fn kind(e: &ReplyError) -> Got {
    match e {
        ReplyError::Closed => Got::Closed,
        ReplyError::LineTooLong(_) => Got::LineTooLong,
        ReplyError::TooManyLines(_) => Got::TooManyLines,
        ReplyError::TooBig(_) => Got::TooBig,
        ReplyError::Malformed(_) => Got::Malformed,
        ReplyError::Io(k) => panic!("reading a slice failed: {k:?}"),
    }
}

/// RFC 5321 4.2: `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP
/// textstring ] CRLF`, one code through the reply; LF alone is taken as an end of line too.
fn model(mut input: &[u8], l: &ReplyLimits) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let (mut code, mut lines, mut total) = (None, Vec::new(), 0usize);
        let got = loop {
            let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                // No end of line before the end of the bytes.
                break if input.len() > l.max_line { Got::LineTooLong } else { Got::Closed };
            };
            if nl + 1 > l.max_line {
                break Got::LineTooLong;
            }
            let (line, rest) = input.split_at(nl + 1);
            input = rest;
            total += line.len();
            if total > l.max_bytes {
                break Got::TooBig;
            }
            let mut line = &line[..nl];
            if let Some(s) = line.strip_suffix(b"\r") {
                line = s;
            }
            let digits = line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit);
            let c = if digits {
                line[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
            } else {
                0
            };
            let last = match line.get(3) {
                None => true,
                Some(b' ') => true,
                Some(b'-') => false,
                Some(_) => break Got::Malformed,
            };
            if !(200..600).contains(&c) || *code.get_or_insert(c) != c {
                break Got::Malformed;
            }
            let text = line.get(4..).unwrap_or_default();
            lines.push(String::from_utf8_lossy(text).trim_end().to_string());
            if last {
                break Got::Reply(Reply { code: c, lines });
            }
            if lines.len() >= l.max_lines {
                break Got::TooManyLines;
            }
        };
        let end = !matches!(got, Got::Reply(_));
        out.push(got);
        if end {
            return out;
        }
    }
}

fn check_shape(r: &Reply) {
    assert!((200..600).contains(&r.code) && !r.lines.is_empty());
    assert!(r.lines.iter().all(|t| !t.contains('\n') && t.trim_end() == t));
    assert!(r.first_line().starts_with(&r.code.to_string()));
    assert!(r.summary().starts_with(&r.code.to_string()));
    if let Some(name) = r.announced_name() {
        assert!(!name.is_empty() && !name.ends_with('.'));
        assert_eq!(name, name.to_ascii_lowercase());
    }
    let keywords = r.ehlo_keywords();
    assert!(keywords.len() < r.lines.len());
    assert!(keywords.iter().all(|k| !k.is_empty() && *k == k.to_ascii_uppercase()));
    if let Some(e) = r.enhanced() {
        let parts: Vec<&str> = e.split('.').collect();
        assert_eq!(parts.len(), 3, "{e}");
        assert!(matches!(parts[0], "2" | "4" | "5"), "{e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let limits = if flags & 0x40 != 0 {
        ReplyLimits {
            max_line: 64,
            max_lines: 4,
            max_bytes: 160,
        }
    } else {
        ReplyLimits::default()
    };
    let want = model(bytes, &limits);
    let mut r = tokio::io::BufReader::with_capacity(usize::from(flags & 0x3f) + 1, bytes);
    let mut got = Vec::new();
    loop {
        match futures::executor::block_on(read_reply(&mut r, &limits)) {
            Ok(reply) => {
                check_shape(&reply);
                got.push(Got::Reply(reply));
            }
            Err(e) => {
                got.push(kind(&e));
                break;
            }
        }
    }
    assert_eq!(got, want);
});
