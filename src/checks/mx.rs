//! MX records (RFC 5321 5.1) and null MX (RFC 7505). The RRset's problems are judged by
//! [`super::mx_policy`].

use crate::columns::ColType::*;
use crate::columns::Value::*;
use crate::columns::{Column, StructField, StructItem, Value};
use crate::dns::{Answer, Status};

/// What the MX answer says about a domain, and what the scan found at its exchanges: the
/// domain row's MX columns ([`MxFindings::columns`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxFindings {
    /// Of the MX query.
    pub status: Status,
    /// Records as published, sorted by (preference, exchange); the null MX's exchange is "".
    /// `None` when the query failed (the records are unknown).
    pub records: Option<Vec<(u16, String)>>,
    /// RFC 7505: the domain publishes a single `0 .`. `None` when the query failed.
    pub null: Option<bool>,
    /// Exchanges whose addresses are to be resolved, in preference order, without duplicates.
    pub exchanges: Vec<String>,
    /// Problems, stable code first: the RRset's, then the query's failure or the exchanges'
    /// (added by the scan).
    pub errors: Vec<String>,
    /// The exchanges' A and AAAA addresses, set by the scan; None when the MX query failed.
    pub ips: Option<Vec<String>>,
    /// `ok` when every address lookup of the exchanges was answered, else the first failure;
    /// None without exchanges to look up.
    pub ips_status: Option<Status>,
    /// Every exchange (of those looked up) has an AAAA record; set by the scan ([`all_ipv6`]).
    pub ipv6: Option<bool>,
}

/// `mx_ipv6` from each exchange's AAAA answer status and record count: None without exchanges or
/// when an AAAA query failed (unknown, not "no").
pub fn all_ipv6(aaaa: &[(Status, usize)]) -> Option<bool> {
    if aaaa.is_empty() || aaaa.iter().any(|(s, _)| s.is_failure()) {
        return None;
    }
    Some(aaaa.iter().all(|(_, n)| *n > 0))
}

pub fn mx_findings(answer: &Answer) -> MxFindings {
    if answer.status.is_failure() {
        return MxFindings {
            status: answer.status,
            ..MxFindings::failed()
        };
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
        status: answer.status,
        records: Some(records),
        null: Some(null),
        exchanges,
        errors,
        ips: None,
        ips_status: None,
        ipv6: None,
    }
}

impl MxFindings {
    /// The query failed: nothing is known.
    pub fn failed() -> MxFindings {
        MxFindings {
            status: Status::Error,
            records: None,
            null: None,
            exchanges: Vec::new(),
            errors: Vec::new(),
            ips: None,
            ips_status: None,
            ipv6: None,
        }
    }

    /// The domain row's MX columns, over the domain's MX findings. Each `doc` is the column's row
    /// in docs/SCHEMA.md (`MXRAY_BLESS=1 cargo test --lib schema_doc` rewrites the file).
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<MxFindings>> {
        type C = Column<MxFindings>;
        vec![
            C::status("mx_status", |f| Some(f.status.as_str())).required()
                .doc("status of the MX query"),
            C::new("mx", ListStruct(<(u16, String)>::FIELDS), |f| Value::structs(f.records.as_ref()))
                .doc("MX records as published, sorted by (preference, exchange); null when the query failed"),
            C::new("mx_null", Boolean, |f| Bool(f.null))
                .doc("the domain publishes a null MX (RFC 7505: a single `0 .`); null when the MX query failed"),
            C::new("mx_ips", ListUtf8, |f| StrList(f.ips.as_deref()))
                .doc("A and AAAA addresses of the exchanges (at most 16 exchanges), in preference order, each once; each also has a row in hosts"),
            C::new("mx_ips_status", Utf8, |f| Str(f.ips_status.map(Status::as_str)))
                .doc("`ok` when every A/AAAA query of the exchanges was answered (with records or without), else the first failure status; null without exchanges"),
            C::new("mx_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("`null-mx-mixed`, `null-mx-preference`, `mx-ip-literal` (an exchange written as an address, RFC 5321 5.1), `mx-cname` (an exchange that is an alias, RFC 2181 10.3: found by a CNAME query per exchange), `mx-no-address`, `mx-address-lookup`, `mx-too-many`, `dns-<status>`"),
        ]
    }

    /// The MX columns added later, at the end of the table (readers select by position).
    #[rustfmt::skip]
    pub fn later_columns() -> Vec<Column<MxFindings>> {
        type C = Column<MxFindings>;
        vec![
            C::new("mx_ipv6", Boolean, |f| Bool(f.ipv6))
                .doc("every MX exchange (of the first 16) has at least one AAAA record (reachable over IPv6, as internet.nl checks); null without usable MX (none, null MX, the MX query failed) or when an AAAA query failed (`mx_ips_status`)"),
        ]
    }
}

/// One MX record, a struct item of `mx`.
impl StructItem for (u16, String) {
    const FIELDS: &'static [StructField] = &[
        StructField::new("preference", UInt16, false),
        StructField::new("exchange", Utf8, false),
    ];

    fn field(&self, j: usize) -> Value<'_> {
        match j {
            0 => U16(Some(self.0)),
            1 => Str(Some(&self.1)),
            _ => unreachable!("MX has {} fields", Self::FIELDS.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Rdata;

    #[test]
    fn ipv6_at_every_exchange_or_unknown() {
        use Status::*;
        type Aaaa = [(Status, usize)];
        let cases: &[(&Aaaa, Option<bool>)] = &[
            (&[], None),
            (&[(Ok, 1), (Ok, 2)], Some(true)),
            (&[(Ok, 1), (NoData, 0)], Some(false)),
            (&[(NxDomain, 0)], Some(false)),
            (&[(Ok, 1), (Timeout, 0)], None),
            (&[(NoData, 0), (ServFail, 0)], None),
        ];
        for (aaaa, want) in cases {
            assert_eq!(all_ipv6(aaaa), *want, "{aaaa:?}");
        }
    }

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
