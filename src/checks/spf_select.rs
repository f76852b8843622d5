//! SPF record selection (RFC 7208 4.5): which TXT records at a domain are SPF records.

use crate::dns::Answer;

/// Status of the SPF record set of a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfStatus {
    None,
    Valid,
    PermError,
    TempError,
}

impl SpfStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpfStatus::None => "none",
            SpfStatus::Valid => "valid",
            SpfStatus::PermError => "permerror",
            SpfStatus::TempError => "temperror",
        }
    }
}

/// RFC 7208 4.5: a record begins with "v=spf1" (case-insensitive) followed by a space or its end;
/// "v=spf10" is not one.
pub fn is_spf_record(txt: &str) -> bool {
    let b = txt.as_bytes();
    b.len() >= 6 && b[..6].eq_ignore_ascii_case(b"v=spf1") && (b.len() == 6 || b[6] == b' ')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfSelection {
    pub status: SpfStatus,
    /// Every v=spf1 record (strings joined); `None` when the TXT query failed.
    pub records: Option<Vec<String>>,
    pub errors: Vec<String>,
}

pub fn select_spf(txt: &Answer) -> SpfSelection {
    if txt.status.is_failure() {
        return SpfSelection {
            status: SpfStatus::TempError,
            records: None,
            errors: vec![format!("dns-temperror: TXT query {}", txt.describe())],
        };
    }
    let mut records: Vec<String> = txt.txt_joined().filter(|t| is_spf_record(t)).collect();
    // RRset order carries no meaning and varies between answers: sort for stable output.
    records.sort();
    let (status, errors) = match records.len() {
        0 => (SpfStatus::None, Vec::new()),
        1 => (SpfStatus::Valid, Vec::new()),
        n => (
            SpfStatus::PermError,
            vec![format!(
                "multiple-records: {n} v=spf1 records (RFC 7208 4.5)"
            )],
        ),
    };
    SpfSelection {
        status,
        records: Some(records),
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Rdata, Status};

    fn txt(records: &[&[&str]]) -> Answer {
        Answer {
            status: Status::Ok,
            records: records
                .iter()
                .map(|strings| {
                    Rdata::Txt(
                        strings
                            .iter()
                            .map(|s| s.as_bytes().to_vec().into_boxed_slice())
                            .collect(),
                    )
                })
                .collect(),
            ttl: 60,
            error: None,
            authentic: false,
        }
    }

    #[test]
    fn record_prefix_table() {
        for (t, want) in [
            ("v=spf1", true),
            ("v=spf1 -all", true),
            ("V=SPF1 -all", true),
            ("v=spf10 -all", false),
            ("v=spf1-all", false),
            (" v=spf1 -all", false),
            ("spf2.0/pra -all", false),
            ("v=spf", false),
        ] {
            assert_eq!(is_spf_record(t), want, "{t:?}");
        }
    }

    #[test]
    fn selection() {
        let s = select_spf(&txt(&[
            &["v=spf1 ", "-all"],
            &["google-site-verification=x"],
        ]));
        assert_eq!(s.status, SpfStatus::Valid);
        assert_eq!(s.records.unwrap(), ["v=spf1 -all"]);

        let s = select_spf(&txt(&[&["v=spf1 -all"], &["v=spf1 +all"]]));
        assert_eq!(s.status, SpfStatus::PermError);
        assert!(s.errors[0].starts_with("multiple-records:"));

        assert_eq!(select_spf(&txt(&[&["hello"]])).status, SpfStatus::None);
        let nx = Answer {
            status: Status::NxDomain,
            ..txt(&[])
        };
        assert_eq!(select_spf(&nx).status, SpfStatus::None);
        let s = select_spf(&Answer::failure(Status::ServFail, "rcode SERVFAIL"));
        assert_eq!((s.status, s.records), (SpfStatus::TempError, None));
    }
}
