//! MX records (RFC 5321 5.1) and null MX (RFC 7505). The RRset's problems are judged by
//! [`super::mx_policy`].

use crate::dns::{Answer, Status};

/// What the MX answer says about a domain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MxFindings {
    /// Records as published, sorted by (preference, exchange); the null MX's exchange is "".
    /// `None` when the query failed (the records are unknown).
    pub records: Option<Vec<(u16, String)>>,
    /// RFC 7505: the domain publishes a single `0 .`. `None` when the query failed.
    pub null: Option<bool>,
    /// Exchanges whose addresses are to be resolved, in preference order, without duplicates.
    pub exchanges: Vec<String>,
    /// Problems, stable code first.
    pub errors: Vec<String>,
}

pub fn mx_findings(answer: &Answer) -> MxFindings {
    if answer.status.is_failure() {
        return MxFindings::default();
    }
    let mut records = answer.mx();
    records.sort();
    records.dedup();
    let roots = records.iter().filter(|(_, e)| e.is_empty()).count();
    let null = answer.status == Status::Ok && records.len() == 1 && roots == 1;
    // RFC 7505 misuse and address literals: one rule set, in mx_policy.
    let errors = super::mx_policy::rrset_problems(&records);
    let mut exchanges: Vec<String> = Vec::new();
    for (_, e) in &records {
        if !e.is_empty() && !exchanges.contains(e) {
            exchanges.push(e.clone());
        }
    }
    MxFindings {
        records: Some(records),
        null: Some(null),
        exchanges,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Rdata;

    fn mx(records: &[(u16, &str)]) -> Answer {
        Answer {
            status: if records.is_empty() {
                Status::NoData
            } else {
                Status::Ok
            },
            records: records
                .iter()
                .map(|(p, e)| Rdata::Mx {
                    preference: *p,
                    exchange: e.to_string(),
                })
                .collect(),
            ttl: 60,
            error: None,
            authentic: false,
        }
    }

    #[test]
    fn table() {
        let f = mx_findings(&mx(&[
            (20, "b.example"),
            (10, "a.example"),
            (30, "a.example"),
        ]));
        assert_eq!(f.null, Some(false));
        assert_eq!(f.exchanges, ["a.example", "b.example"]);
        assert_eq!(f.records.unwrap()[0], (10, "a.example".to_string()));

        let f = mx_findings(&mx(&[(0, "")]));
        assert_eq!(
            (f.null, f.exchanges.len(), f.errors.len()),
            (Some(true), 0, 0)
        );

        let f = mx_findings(&mx(&[(10, "")]));
        assert_eq!(f.null, Some(true));
        assert!(f.errors[0].starts_with("null-mx-preference:"));

        let f = mx_findings(&mx(&[(0, ""), (10, "a.example")]));
        assert_eq!(f.null, Some(false));
        assert_eq!(f.exchanges, ["a.example"]);
        assert!(f.errors[0].starts_with("null-mx-mixed:"));

        let f = mx_findings(&mx(&[]));
        assert_eq!((f.records, f.null), (Some(vec![]), Some(false)));

        // A failed query leaves everything unknown, never "no MX".
        let f = mx_findings(&Answer::failure(Status::Timeout, "x"));
        assert_eq!((f.records, f.null), (None, None));
    }
}
