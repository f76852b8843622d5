//! DANE for SMTP (RFC 7672): the TLSA records at `_25._tcp.<exchange>` of a domain's exchanges.
//! The status of the TLSA queries is a DNS status column set by the stage; this judges what the
//! records say.

use super::Lookup;
use crate::checks::problem::{Code, problem};
use crate::columns::ColType::*;
use crate::columns::Column;
use crate::columns::Value::*;
use crate::dns::Status;

/// One TLSA record's parameters (RFC 6698 2.1 numbers); the certificate data is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
}

/// The TLSA answer of one exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeTlsa {
    pub exchange: String,
    pub tlsa: Lookup<Tlsa>,
    /// The answer carried the AD bit.
    pub authentic: bool,
    /// The DNS status of the query.
    pub status: Status,
}

/// The dane_* columns of a domain with exchanges.
#[derive(Debug, Clone, PartialEq)]
pub struct DaneFindings {
    /// `ok` when every TLSA query was answered (with records or without), else the first failure.
    pub status: Status,
    /// `exchange: usage selector matching` of every TLSA record.
    pub tlsa: Vec<String>,
    /// Every exchange publishes TLSA; null when a query failed (unknown).
    pub all_mx: Option<bool>,
    /// Every exchange with TLSA records got them validated; null without TLSA records or when a
    /// query failed. Only a validated TLSA RRset means anything to a sending MTA (RFC 7672 2.2).
    pub authentic: Option<bool>,
}

/// `tlsa-lookup: _25._tcp.<exchange>: <failure>` for a failed query.
pub fn lookup_error(x: &ExchangeTlsa) -> Option<String> {
    match &x.tlsa {
        Lookup::TempError(e) => Some(problem(
            Code::TlsaLookup,
            format_args!("_25._tcp.{}: {e}", x.exchange),
        )),
        _ => None,
    }
}

impl DaneFindings {
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<DaneFindings>> {
        type C = Column<DaneFindings>;
        vec![
            C::new("dane_status", Utf8, |f| Str(Some(f.status.as_str())))
                .doc("status of the TLSA queries at `_25._tcp.<exchange>` (RFC 7672 2.2), one per exchange through the cache: `ok` when every one was answered (with records or without), else the first failure; null without exchanges"),
            C::new("dane_tlsa", ListUtf8, |f| StrList(Some(&f.tlsa)))
                .doc("`exchange: usage selector matching` of every TLSA record (RFC 6698 2.1 numbers)"),
            C::new("dane_all_mx", Boolean, |f| Bool(f.all_mx))
                .doc("every exchange publishes TLSA; null when a TLSA query failed"),
            C::new("dane_authentic", Boolean, |f| Bool(f.authentic))
                .doc("the TLSA answers carried the AD bit (validated: needs `--dnssec` and a validating resolver; without it a sending MTA ignores the TLSA records); null without TLSA records"),
        ]
    }
}

pub fn dane(exchanges: &[ExchangeTlsa]) -> DaneFindings {
    let mut f = DaneFindings {
        status: exchanges
            .iter()
            .map(|x| x.status)
            .find(|s| s.is_failure())
            .unwrap_or(Status::Ok),
        tlsa: Vec::new(),
        all_mx: None,
        authentic: None,
    };
    let (mut with_tlsa, mut all_authentic, mut failed) = (0, true, false);
    for x in exchanges {
        failed |= x.tlsa.is_failure();
        let records = x.tlsa.records();
        for t in records {
            f.tlsa.push(format!(
                "{}: {} {} {}",
                x.exchange, t.usage, t.selector, t.matching
            ));
        }
        if !records.is_empty() {
            with_tlsa += 1;
            all_authentic &= x.authentic;
        }
    }
    if !failed && !exchanges.is_empty() {
        f.all_mx = Some(with_tlsa == exchanges.len());
        f.authentic = (with_tlsa > 0).then_some(all_authentic);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Tlsa = Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
    };

    fn x(name: &str, tlsa: Lookup<Tlsa>, authentic: bool) -> ExchangeTlsa {
        ExchangeTlsa {
            exchange: name.into(),
            status: match tlsa {
                Lookup::TempError(_) => Status::ServFail,
                Lookup::NxDomain => Status::NxDomain,
                Lookup::NoData => Status::NoData,
                Lookup::Records(_) => Status::Ok,
            },
            tlsa,
            authentic,
        }
    }

    #[test]
    fn verdicts() {
        use Lookup::*;
        let fail = || TempError("servfail: lame".into());
        // (case, answers, dane_all_mx, dane_authentic, TLSA rows)
        type Case = (
            &'static str,
            Vec<ExchangeTlsa>,
            Option<bool>,
            Option<bool>,
            usize,
        );
        let cases: &[Case] = &[
            ("no exchange", vec![], None, None, 0),
            (
                "none publishes",
                vec![x("a", NxDomain, false), x("b", NoData, false)],
                Some(false),
                None,
                0,
            ),
            (
                "all publish, validated",
                vec![
                    x("a", Records(vec![T]), true),
                    x("b", Records(vec![T, T]), true),
                ],
                Some(true),
                Some(true),
                3,
            ),
            (
                "one of two publishes",
                vec![x("a", Records(vec![T]), true), x("b", NxDomain, false)],
                Some(false),
                Some(true),
                1,
            ),
            (
                "not validated",
                vec![x("a", Records(vec![T]), false)],
                Some(true),
                Some(false),
                1,
            ),
            (
                "an unvalidated NXDOMAIN does not matter",
                vec![x("a", Records(vec![T]), true), x("b", NxDomain, false)],
                Some(false),
                Some(true),
                1,
            ),
            (
                "a failure leaves both unknown",
                vec![x("a", Records(vec![T]), true), x("b", fail(), false)],
                None,
                None,
                1,
            ),
        ];
        for (what, xs, all, auth, n) in cases {
            let f = dane(xs);
            assert_eq!(
                (f.all_mx, f.authentic, f.tlsa.len()),
                (*all, *auth, *n),
                "{what}"
            );
            let failed = xs.iter().any(|x| x.tlsa.is_failure());
            assert_eq!(f.status.is_failure(), failed, "{what}");
        }
        assert_eq!(
            lookup_error(&x("mx.example", fail(), false)).as_deref(),
            Some("tlsa-lookup: _25._tcp.mx.example: servfail: lame")
        );
        assert_eq!(lookup_error(&x("mx.example", NxDomain, false)), None);
        let f = dane(&[x("mx.example", Records(vec![T]), false)]);
        assert_eq!(f.tlsa, ["mx.example: 3 1 1"]);
    }
}
