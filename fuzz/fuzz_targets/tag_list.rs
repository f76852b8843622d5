//! The shared RFC 6376 3.2 tag-list splitter under each policy's syntax: no panic, every part
//! points back into the record where it says, names and values are trimmed and free of
//! separators, and the duplicate flag matches a naive recount.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxray::checks::taglist::{self, BIMI, DKIM, DMARC, Part, STS, Syntax};

/// `inner` is a subslice of `outer`: its byte offset in it.
fn offset_in(outer: &str, inner: &str) -> usize {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    assert!(
        i >= o && i + inner.len() <= o + outer.len(),
        "a part borrows from the record"
    );
    i - o
}

fn check(record: &str, syntax: &Syntax) {
    let parts = taglist::parse(record, syntax);
    let separators = record.bytes().filter(|&b| b == b';').count();
    assert!(parts.len() <= separators + 1, "at most one part per piece");
    let first_piece_end = record.find(';').unwrap_or(record.len());
    let trimmed = |s: &str| s == s.trim_matches(syntax.wsp);
    let mut last_offset = None;
    let mut names: Vec<&str> = Vec::new();
    for part in &parts {
        let offset = match part {
            Part::Tag(t) => t.offset,
            Part::NoEquals { offset, .. } | Part::BadName { offset, .. } => *offset,
        };
        assert!(offset < record.len(), "offset inside the record");
        assert!(last_offset.is_none_or(|l| offset > l), "offsets increase");
        last_offset = Some(offset);
        if syntax.version_first {
            assert!(offset > first_piece_end, "the version piece is left out");
        }
        assert!(
            !syntax.wsp.iter().any(|c| record[offset..].starts_with(*c)),
            "the offset is after leading white space"
        );
        match part {
            Part::Tag(t) => {
                assert_eq!(
                    offset_in(record, t.name),
                    offset,
                    "the name starts the part"
                );
                let v = offset_in(record, t.value);
                assert!(
                    v > offset && record[offset..v].contains('='),
                    "the value follows '='"
                );
                assert!(!t.name.contains(['=', ';']) && !t.value.contains(';'));
                if syntax.wsp_around_equals {
                    assert!(trimmed(t.name) && trimmed(t.value), "{t:?} is trimmed");
                }
                if syntax.rfc6376_names {
                    assert!(taglist::is_tag_name(t.name), "{:?} is a tag name", t.name);
                }
                let seen = names.iter().any(|n| {
                    if syntax.case_insensitive {
                        n.eq_ignore_ascii_case(t.name)
                    } else {
                        *n == t.name
                    }
                });
                assert_eq!(t.duplicate, seen, "duplicate flag of {:?}", t.name);
                names.push(t.name);
                assert!(part.syntax_error().is_none());
            }
            Part::NoEquals { text, .. } => {
                assert_eq!(offset_in(record, text), offset);
                assert!(!text.is_empty() && trimmed(text) && !text.contains(['=', ';']));
                let e = part.syntax_error().expect("a syntax error");
                assert!(e.starts_with(&format!("syntax: byte {offset}: ")), "{e}");
            }
            Part::BadName { name, .. } => {
                assert!(syntax.rfc6376_names, "bad names only under RFC 6376 names");
                assert!(!taglist::is_tag_name(name));
                assert_eq!(offset_in(record, name), offset);
                let e = part.syntax_error().expect("a syntax error");
                assert!(e.starts_with(&format!("syntax: byte {offset}: ")), "{e}");
            }
        }
    }
    let tags: Vec<_> = taglist::tags(record, syntax).collect();
    let from_parts: Vec<_> = parts
        .into_iter()
        .filter_map(|p| match p {
            Part::Tag(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(
        tags, from_parts,
        "tags() is parse() without malformed parts"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for syntax in [&DKIM, &DMARC, &BIMI, &STS] {
        check(&text, syntax);
    }
});
