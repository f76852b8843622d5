//! The MTA-STS policy file parser (RFC 8461 3.2) and the `_mta-sts` TXT record parser (3.1):
//! no panic, a valid policy has what a sender needs, a record that is not used gives no id.
//!
//! Input: text. The whole text is a policy body; each line is also a TXT record, and all the
//! lines are one TXT answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxray::checks::mta_sts::{
    MAX_AGE_LIMIT, Mode, StsStatus, StsTxtFindings, is_sts_record, mx_matches, parse_policy,
    parse_record, uncovered_mx,
};
use mxray::checks::{Lookup, TxtPolicy};

fn assert_coded(e: &str) {
    let (code, _) = e
        .split_once(": ")
        .unwrap_or_else(|| panic!("{e:?} has no code"));
    assert!(
        !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{e:?} has no code"
    );
}

/// `["*."] Domain` with LDH labels, as stored: lowercase, no trailing dot.
fn is_stored_pattern(p: &str) -> bool {
    let d = p.strip_prefix("*.").unwrap_or(p);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn check_policy(text: &str) {
    let p = parse_policy(text);
    for e in &p.errors {
        assert_coded(e);
    }
    if p.valid() {
        assert!(
            p.version_ok && p.mode.is_some() && p.max_age.is_some(),
            "{p:?}"
        );
        if p.mode != Some(Mode::None) {
            assert!(!p.mx.is_empty(), "RFC 8461 3.2: mx unless mode is none");
        }
    }
    if !p.version_ok || p.mode.is_none() || p.max_age.is_none() {
        assert!(!p.valid());
    }
    assert!(p.max_age.is_none_or(|s| s <= MAX_AGE_LIMIT));
    let lines = text.split('\n').count();
    assert!(
        p.mx.len() + p.extensions.len() + p.errors.len() <= lines + 4,
        "one item a line, plus the missing fields"
    );
    for m in &p.mx {
        assert!(is_stored_pattern(m), "{m:?}");
        match m.strip_prefix("*.") {
            Some(parent) => {
                assert!(mx_matches(
                    m,
                    &format!("mx.{}.", parent.to_ascii_uppercase())
                ));
                assert!(!mx_matches(m, parent), "a wildcard covers one label");
            }
            None => assert!(mx_matches(m, &format!("{}.", m.to_ascii_uppercase()))),
        }
    }
    let hosts: Vec<String> = text.split('\n').map(str::to_string).collect();
    let uncovered = uncovered_mx(&p.mx, &hosts);
    assert!(uncovered.iter().all(|u| hosts.contains(u)));
    // CRLF or LF terminators (RFC 8461 3.2 sts-policy-term) read the same.
    let lf: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(parse_policy(&lf.join("\n")), parse_policy(&lf.join("\r\n")));
}

fn check_record(txt: &str) {
    let r = parse_record(txt);
    for e in &r.errors {
        assert_coded(e);
    }
    if r.valid() {
        assert!(is_sts_record(txt), "{txt:?}: valid, yet not v=STSv1");
    }
    if let Some(id) = &r.id {
        assert!((1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    for (name, value) in &r.extensions {
        assert!(!name.is_empty() && name.len() <= 32 && name != "id");
        assert!(
            !value.is_empty()
                && value
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b';')
        );
    }
    let pieces = 1 + txt.bytes().filter(|&b| b == b';').count();
    assert!(r.errors.len() + r.extensions.len() <= pieces + 2);
}

fn check_lookup(lines: &[String]) {
    let f = StsTxtFindings::from_lookup("_mta-sts.example.com", &Lookup::Records(lines.to_vec()));
    for e in &f.errors {
        assert_coded(e);
    }
    let sts: Vec<&String> = lines.iter().filter(|l| is_sts_record(l)).collect();
    match sts.as_slice() {
        [] => assert_eq!(f, StsTxtFindings::none()),
        [one] => {
            let r = parse_record(one);
            assert_eq!(f.record.as_deref(), Some(one.as_str()));
            assert_eq!(f.status == StsStatus::Valid, r.valid());
            assert_eq!(f.status == StsStatus::Invalid, !r.valid());
        }
        several => {
            // The raw column keeps the first in sorted order (`checks::select_records`).
            let first = several.iter().min().unwrap();
            assert_eq!(f.status, StsStatus::Invalid);
            assert_eq!(f.record.as_deref(), Some(first.as_str()));
        }
    }
    // A record that is not used has no id (RFC 8461 3.1).
    assert_eq!(f.id.is_some(), f.status == StsStatus::Valid, "{f:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_policy(&text);
    check_record(&text);
    let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for l in &lines {
        check_record(l);
    }
    check_lookup(&lines);
});
