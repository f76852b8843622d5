//! The DMARC record parser, the findings of one TXT answer, and policy discovery over a few
//! answers: no panic, and the rules the columns promise hold.
//!
//! Input: one flags byte (bit 0: RFC 9989 DNS Tree Walk, else RFC 7489; bit 2: the domain does
//! not exist; bit 1: a small loaded PSL instead
//! of the built-in one), then text. The whole text and each of its lines are parsed as records;
//! all lines are one TXT answer for `from_lookup`; for discovery the first line is the domain
//! and the rest, split at blank lines, are the answers (`-` NODATA, `x` NXDOMAIN, `!...` a
//! temperror, else one record per line).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mxray::checks::dmarc::{
    DiscoveryMode, DmarcFindings, DmarcSource, DmarcStatus, SuffixList, discover_for,
    discovery_names_with, is_dmarc_record, next_query, parse,
};
use mxray::checks::{Lookup, TxtPolicy};

/// `code: text`, the code lowercase letters, digits and hyphens; no `;` (the CSV output joins a
/// list's items with it).
fn assert_coded(e: &str) {
    assert!(!e.contains(';'), "{e:?} holds the CSV list separator");
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

const POLICIES: [&str; 3] = ["none", "quarantine", "reject"];

fn check_record(text: &str) {
    let r = parse(text);
    let bad = |code: &str| r.errors.iter().any(|e| e.starts_with(code));
    assert_eq!(
        r.valid,
        r.version_ok && r.p.is_some() && !bad("invalid-sp:") && !bad("invalid-np:"),
        "{text:?}"
    );
    assert_eq!(
        r.valid_rfc7489(),
        r.version_ok && r.p.is_some() && !bad("invalid-sp:"),
        "{text:?}"
    );
    if r.valid {
        assert!(r.p.is_some(), "a valid record has p");
    }
    if r.p.is_none() {
        assert!(
            r.errors
                .iter()
                .any(|e| e.starts_with("missing-p:") || e.starts_with("invalid-p:")),
            "no p is explained"
        );
    }
    if r.version_ok && text.starts_with(['v', 'V']) {
        assert!(
            is_dmarc_record(text),
            "{text:?}: version_ok, yet not selected"
        );
    }
    assert!(r.pct.is_none_or(|n| n <= 100));
    for e in &r.errors {
        assert_coded(e);
    }
    // Bounded by the input: each `;`, `,` or `:` piece gives at most two errors, plus
    // missing-version and missing-p.
    let pieces = 1 + text.bytes().filter(|b| b";,:".contains(b)).count();
    assert!(
        r.errors.len() <= 2 * pieces + 2,
        "{} errors",
        r.errors.len()
    );
    let error_bytes: usize = r.errors.iter().map(String::len).sum();
    assert!(
        error_bytes <= 24 * text.len() + 160 * r.errors.len(),
        "{error_bytes} bytes of errors"
    );
    let commas = text.bytes().filter(|&b| b == b',').count();
    assert!(r.rua_raw.len() + r.ruf_raw.len() <= commas + 2);
    assert!(r.rua.len() <= r.rua_raw.len() && r.ruf.len() <= r.ruf_raw.len());
    assert!(r.fo.len() + r.rf.len() <= pieces);
    for u in r.rua.iter().chain(&r.ruf) {
        assert_eq!(u.address.is_some(), u.domain.is_some());
        if let Some(d) = &u.domain {
            assert!(
                !d.ends_with('.') && !d.bytes().any(|b| b.is_ascii_uppercase()),
                "{d:?}"
            );
        }
    }
}

/// The rules every findings row keeps, however it was made.
fn check_findings(f: &DmarcFindings) {
    for e in &f.errors {
        assert_coded(e);
    }
    if let Some(p) = &f.effective_p {
        assert!(POLICIES.contains(&p.as_str()), "{p:?}");
    }
    assert!(f.rua_authorized.is_none() && f.rua_unauthorized.is_none());
    // The policy domain is named exactly when a policy applies.
    assert_eq!(f.policy_domain.is_some(), f.effective_p.is_some(), "{f:?}");
    match f.status {
        DmarcStatus::Valid => {
            assert!(f.p.is_some() && f.parsed.is_some() && f.record.is_some());
            assert!(f.effective_p.is_some());
            let r = f.parsed.as_ref().unwrap();
            assert!(r.valid);
            assert_eq!(f.rua, r.rua_raw);
        }
        _ => {
            // "A field taken from a record that is not used is null."
            assert_eq!(
                (&f.p, &f.sp, &f.np, f.pct, &f.adkim, &f.aspf, &f.psd, f.t),
                (&None, &None, &None, None, &None, &None, &None, None),
                "{f:?}"
            );
            assert!(
                f.rua.is_empty() && f.ruf.is_empty() && f.parsed.is_none(),
                "{f:?}"
            );
            if f.effective_p.is_some() {
                assert_eq!(f.effective_p.as_deref(), Some("none"));
                assert_eq!(f.status, DmarcStatus::Invalid);
            }
        }
    }
    match f.status {
        DmarcStatus::None => assert!(f.record.is_none() && f.source.is_none()),
        DmarcStatus::TempError => {
            assert!(f.record.is_none() && f.source.is_none());
            assert!(f.errors.len() == 1 && f.errors[0].starts_with("dns-temperror: "));
        }
        DmarcStatus::Valid | DmarcStatus::Invalid => {}
    }
    if let Some(r) = &f.record {
        assert!(is_dmarc_record(r), "only a DMARC record is reported");
    }
}

fn check_lookup(lines: &[String]) {
    let f = DmarcFindings::from_lookup("_dmarc.example.com", &Lookup::Records(lines.to_vec()));
    check_findings(&f);
    assert!(f.source.is_none());
    let dmarc: Vec<&String> = lines.iter().filter(|l| is_dmarc_record(l)).collect();
    match dmarc.as_slice() {
        [] => assert_eq!(f, DmarcFindings::none()),
        [one] => {
            let r = parse(one);
            assert_eq!(f.record.as_deref(), Some(one.as_str()));
            assert_eq!(f.errors, r.errors);
            let want = if r.valid {
                DmarcStatus::Valid
            } else {
                DmarcStatus::Invalid
            };
            assert_eq!(f.status, want);
            if !r.valid {
                // RFC 7489 6.6.3 step 6: a syntactically valid rua acts as p=none; RFC 9989 4.7:
                // so does a record whose only fault is a missing p.
                let absent_p = r.p.is_none() && !r.invalid_p && !r.invalid_sp && !r.invalid_np;
                let as_none = r.version_ok && (!r.rua.is_empty() || absent_p);
                assert_eq!(f.effective_p.is_some(), as_none);
            } else {
                assert_eq!(f.p.as_deref(), r.p.map(|p| p.as_str()));
                assert_eq!(f.effective_p, f.p);
            }
        }
        several => {
            // The raw column keeps the first in sorted order (`checks::select_records`: a
            // resolver may rotate an RRset from answer to answer).
            let first = several.iter().min().unwrap();
            assert_eq!(f.status, DmarcStatus::Invalid);
            assert_eq!(f.record.as_deref(), Some(first.as_str()));
            assert!(f.errors.len() == 1 && f.errors[0].starts_with("multiple-records: "));
        }
    }
}

fn answer(block: &str) -> Lookup<String> {
    match block {
        "-" => Lookup::NoData,
        "x" => Lookup::NxDomain,
        b if b.starts_with('!') => Lookup::TempError(b[1..].to_string()),
        b => Lookup::Records(b.split('\n').map(str::to_string).collect()),
    }
}

fn suffix_list() -> &'static SuffixList {
    static LIST: OnceLock<SuffixList> = OnceLock::new();
    LIST.get_or_init(|| {
        SuffixList::parse("com\nuk\nco.uk\n*.ck\n!www.ck\njp\n*.kobe.jp\n!city.kobe.jp\n中国\n")
            .expect("the list parses")
    })
}

fn check_discovery(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    exists: bool,
    answers: &[Lookup<String>],
) {
    let discover = |d: &str, m: DiscoveryMode, l: Option<&SuffixList>, a: &[Lookup<String>]| {
        discover_for(d, m, l, exists, a)
    };
    let names = discovery_names_with(domain, mode, list);
    let max = match mode {
        DiscoveryMode::Rfc7489 => 2,
        DiscoveryMode::Rfc9989 => 8,
    };
    assert!(names.len() <= max, "{} names", names.len());
    if let Some((first, rest)) = names.split_first() {
        let first = first.strip_prefix("_dmarc.").expect("names start _dmarc.");
        for n in rest {
            let n = n.strip_prefix("_dmarc.").expect("names start _dmarc.");
            assert!(
                first.ends_with(&format!(".{n}")),
                "{n:?} is a parent of {first:?}"
            );
        }
    }
    // next_query asks the plan's names in order, and stops once discovery is done.
    let mut asked = 0;
    while let Some(q) = next_query(domain, mode, list, &answers[..asked]) {
        assert_eq!(Some(&q), names.get(asked), "the plan's next name");
        if asked == answers.len() {
            break;
        }
        asked += 1;
    }
    let f = discover(domain, mode, list, answers);
    check_findings(&f);
    // What was not asked does not matter.
    assert_eq!(
        f,
        discover(domain, mode, list, &answers[..asked]),
        "answers past the end"
    );
    if asked < answers.len().min(names.len()) {
        assert_ne!(
            f.status,
            DmarcStatus::None,
            "discovery stopped early, so found something"
        );
    }
    if let Some(d) = &f.policy_domain {
        assert!(names.contains(&format!("_dmarc.{d}")), "{d:?} was planned");
        assert_eq!(
            f.source == Some(DmarcSource::Domain),
            names[0] == format!("_dmarc.{d}"),
            "{d:?}"
        );
    }
    if f.source == Some(DmarcSource::PublicSuffix) {
        assert_eq!(mode, DiscoveryMode::Rfc9989);
    }
    if f.source.is_none() && f.status == DmarcStatus::Invalid {
        // Only the Tree Walk discards several records and goes on.
        assert_eq!(mode, DiscoveryMode::Rfc9989);
        assert!(f.errors.iter().all(|e| e.starts_with("multiple-records: ")));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    check_record(&text);
    let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for l in &lines {
        check_record(l);
    }
    check_lookup(&lines);

    let (domain, tail) = text.split_once('\n').unwrap_or((&text, ""));
    let answers: Vec<Lookup<String>> = if tail.is_empty() {
        Vec::new()
    } else {
        tail.split("\n\n").take(10).map(answer).collect()
    };
    let mode = if flags & 1 == 0 {
        DiscoveryMode::Rfc7489
    } else {
        DiscoveryMode::Rfc9989
    };
    let list = (flags & 2 != 0).then(suffix_list);
    check_discovery(domain, mode, list, flags & 4 == 0, &answers);
});
