//! DMARC policy records (RFC 7489 6.3, 6.6.3): selection at `_dmarc.<domain>` and tag parsing.

use crate::dns::Answer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcStatus {
    None,
    Valid,
    Invalid,
    TempError,
}

impl DmarcStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcStatus::None => "none",
            DmarcStatus::Valid => "valid",
            DmarcStatus::Invalid => "invalid",
            DmarcStatus::TempError => "temperror",
        }
    }
}

/// What the `_dmarc` lookup yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcFindings {
    pub status: DmarcStatus,
    /// The record used (or, when several, the first, reported raw).
    pub record: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub pct: Option<u8>,
    pub rua: Vec<String>,
    pub errors: Vec<String>,
}

impl DmarcFindings {
    fn empty(status: DmarcStatus) -> DmarcFindings {
        DmarcFindings {
            status,
            record: None,
            p: None,
            sp: None,
            pct: None,
            rua: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// RFC 7489 6.4: `dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31`; "v" is
/// case-insensitive (ABNF string), "DMARC1" is exact. Records that do not begin so are discarded
/// (6.6.3 step 5).
pub fn is_dmarc_record(txt: &str) -> bool {
    let t = txt.trim_start();
    let Some(rest) = t.strip_prefix(['v', 'V']) else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches([' ', '\t']).strip_prefix('=') else {
        return false;
    };
    match rest.trim_start_matches([' ', '\t']).strip_prefix("DMARC1") {
        Some(after) => after.is_empty() || after.starts_with([';', ' ', '\t']),
        None => false,
    }
}

pub fn dmarc_findings(answer: &Answer) -> DmarcFindings {
    if answer.status.is_failure() {
        let mut f = DmarcFindings::empty(DmarcStatus::TempError);
        f.errors.push(format!(
            "dns-temperror: _dmarc TXT query {}",
            answer.describe()
        ));
        return f;
    }
    let records: Vec<String> = answer.txt_joined().filter(|t| is_dmarc_record(t)).collect();
    match records.len() {
        0 => DmarcFindings::empty(DmarcStatus::None),
        1 => parse_record(&records[0]),
        n => {
            // 6.6.3 step 5: several records mean no policy applies; report the first raw.
            let mut f = parse_record(&records[0]);
            f.status = DmarcStatus::Invalid;
            f.p = None;
            f.errors.insert(
                0,
                format!("multiple-records: {n} v=DMARC1 records at _dmarc (RFC 7489 6.6.3)"),
            );
            f
        }
    }
}

/// Parses one record's tags. Unknown tags are ignored (6.3) but flagged; a missing or bad `p` makes
/// the record invalid.
pub fn parse_record(record: &str) -> DmarcFindings {
    let mut f = DmarcFindings::empty(DmarcStatus::Valid);
    f.record = Some(record.to_string());
    let mut seen: Vec<String> = Vec::new();
    for (i, part) in record.split(';').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((tag, value)) = part.split_once('=') else {
            f.errors.push(format!("syntax: {part:?} is not tag=value"));
            continue;
        };
        let tag = tag.trim().to_ascii_lowercase();
        let value = value.trim();
        if seen.contains(&tag) {
            f.errors.push(format!("duplicate-tag: {tag}"));
            continue;
        }
        seen.push(tag.clone());
        match tag.as_str() {
            "v" if i == 0 => {}
            "v" => f.errors.push("syntax: v= must come first".into()),
            "p" => match policy(value) {
                Some(p) => {
                    if i != 1 {
                        f.errors
                            .push("tag-order: p= should directly follow v= (RFC 7489 6.3)".into());
                    }
                    f.p = Some(p.into());
                }
                None => f.errors.push(format!("invalid-p: {value:?}")),
            },
            "sp" => match policy(value) {
                Some(p) => f.sp = Some(p.into()),
                None => f.errors.push(format!("invalid-sp: {value:?}")),
            },
            "pct" => match value.parse::<u8>() {
                Ok(n) if n <= 100 => f.pct = Some(n),
                _ => f.errors.push(format!("invalid-pct: {value:?} (0-100)")),
            },
            "rua" => {
                f.rua = value
                    .split(',')
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                for u in &f.rua {
                    if !u.to_ascii_lowercase().starts_with("mailto:") {
                        f.errors
                            .push(format!("invalid-rua: {u:?} is not a mailto: URI"));
                    }
                }
            }
            "ruf" | "adkim" | "aspf" | "fo" | "rf" | "ri" | "np" => {}
            other => f.errors.push(format!("unknown-tag: {other}")),
        }
    }
    if f.p.is_none() {
        f.status = DmarcStatus::Invalid;
        if !f.errors.iter().any(|e| e.starts_with("invalid-p")) {
            f.errors
                .push("missing-p: no p= tag (RFC 7489 6.3: required)".into());
        }
    }
    f
}

fn policy(v: &str) -> Option<&'static str> {
    match v.to_ascii_lowercase().as_str() {
        "none" => Some("none"),
        "quarantine" => Some("quarantine"),
        "reject" => Some("reject"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Rdata, Status};

    fn answer(records: &[&str]) -> Answer {
        Answer {
            status: Status::Ok,
            records: records
                .iter()
                .map(|s| Rdata::Txt(vec![s.as_bytes().to_vec().into_boxed_slice()].into()))
                .collect(),
            ttl: 60,
            error: None,
            authentic: false,
        }
    }

    #[test]
    fn version_table() {
        for (t, want) in [
            ("v=DMARC1; p=none", true),
            ("v = DMARC1;p=none", true),
            ("V=DMARC1", true),
            ("v=dmarc1; p=none", false),
            ("v=DMARC10; p=none", false),
            ("p=none; v=DMARC1", false),
            ("v=spf1 -all", false),
        ] {
            assert_eq!(is_dmarc_record(t), want, "{t:?}");
        }
    }

    #[test]
    fn findings_table() {
        let f = dmarc_findings(&answer(&[
            "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:a@x.example,mailto:b@x.example",
        ]));
        assert_eq!(f.status, DmarcStatus::Valid);
        assert_eq!(f.p.as_deref(), Some("reject"));
        assert_eq!(f.sp.as_deref(), Some("quarantine"));
        assert_eq!(f.pct, Some(50));
        assert_eq!(f.rua, ["mailto:a@x.example", "mailto:b@x.example"]);
        assert!(f.errors.is_empty(), "{:?}", f.errors);

        let f = dmarc_findings(&answer(&["v=DMARC1; rua=mailto:x@example.com"]));
        assert_eq!((f.status, f.p.as_deref()), (DmarcStatus::Invalid, None));
        assert!(f.errors[0].starts_with("missing-p:"));
        assert!(
            f.record.is_some(),
            "an invalid record is still reported raw"
        );

        let f = dmarc_findings(&answer(&["v=DMARC1; p=bogus"]));
        assert_eq!(f.status, DmarcStatus::Invalid);
        assert!(f.errors[0].starts_with("invalid-p:"));

        let f = dmarc_findings(&answer(&["v=DMARC1; p=none", "v=DMARC1; p=reject"]));
        assert_eq!((f.status, f.p.as_deref()), (DmarcStatus::Invalid, None));
        assert!(f.errors[0].starts_with("multiple-records:"));

        let f = dmarc_findings(&answer(&["v=DMARC1; p=none; pct=150; foo=bar"]));
        assert_eq!(f.status, DmarcStatus::Valid);
        assert!(f.errors.iter().any(|e| e.starts_with("invalid-pct:")));
        assert!(f.errors.iter().any(|e| e.starts_with("unknown-tag: foo")));

        assert_eq!(
            dmarc_findings(&answer(&["some other text"])).status,
            DmarcStatus::None
        );
        let nx = Answer {
            status: Status::NxDomain,
            ..answer(&[])
        };
        assert_eq!(dmarc_findings(&nx).status, DmarcStatus::None);
        let f = dmarc_findings(&Answer::failure(Status::Timeout, "no answer"));
        assert_eq!(f.status, DmarcStatus::TempError);
    }
}
