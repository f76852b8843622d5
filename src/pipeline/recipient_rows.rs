//! The recipients table's rows: what a recipient test at an address gave each domain (an
//! address's own session for the domain that led the scan there, or a batch's), or why the
//! domain was not asked. Pure: the stages hand their sessions' results here.

use std::net::IpAddr;

use super::now_ms;
use crate::output::RecipientRow;
use crate::smtp::session::{DomainRecipients, RecipientBatch, RecipientDomain, RecipientResult};
use crate::smtp::{Outcome, SessionReport};

/// The recipient rows of an address's own session for the domain that led the scan there (not
/// batched): its replies, or one row that says why none was asked.
pub fn own_session(ip: IpAddr, d: &RecipientDomain, report: &SessionReport) -> Vec<RecipientRow> {
    if !report.recipients.is_empty() {
        return tested(ip, d, &report.recipients, false);
    }
    // Not asked: the session ended first (or MAIL was refused): one row says so.
    let batch = RecipientBatch {
        status: report.status,
        outcome: report.outcome,
        error: report.error.clone(),
        domains: vec![DomainRecipients::NotReached],
        sent: Vec::new(),
    };
    let mut rows = rows(ip, std::slice::from_ref(d), &batch);
    for r in &mut rows {
        r.batched = false;
        // A session that completed without asking: MAIL was refused.
        if report.outcome == Outcome::Completed {
            r.status = "mail-refused";
        }
    }
    rows
}

/// A domain that was not asked, with why: `excluded`, or `error` (a probe that failed itself)
/// with the failure in `text`.
pub fn not_asked(
    ip: IpAddr,
    d: &RecipientDomain,
    status: &'static str,
    why: Option<&str>,
    batched: bool,
) -> RecipientRow {
    RecipientRow {
        text: why.map(str::to_string),
        batched,
        ..untested(ip, d, status)
    }
}

/// A domain that was not asked: one row, no address.
pub fn untested(ip: IpAddr, d: &RecipientDomain, status: &'static str) -> RecipientRow {
    RecipientRow {
        domain: d.domain.clone(),
        ip: ip.to_string(),
        exchange: d.exchange.clone(),
        scanned_at: now_ms(),
        role: None,
        address: None,
        status,
        code: None,
        text: None,
        batched: true,
    }
}

/// The rows of a recipient test's results (a batch's or an address's own session's).
pub fn tested(
    ip: IpAddr,
    d: &RecipientDomain,
    results: &[RecipientResult],
    batched: bool,
) -> Vec<RecipientRow> {
    let at = now_ms();
    results
        .iter()
        .map(|r| RecipientRow {
            domain: d.domain.clone(),
            ip: ip.to_string(),
            exchange: d.exchange.clone(),
            scanned_at: at,
            role: Some(r.role),
            address: Some(r.address.clone()),
            status: "ok",
            code: Some(r.code),
            text: Some(r.text.clone()),
            batched,
        })
        .collect()
}

/// A batch session's rows: each domain's replies, its refused MAIL, or how the session ended
/// before it.
pub fn rows(ip: IpAddr, domains: &[RecipientDomain], b: &RecipientBatch) -> Vec<RecipientRow> {
    let mut out = Vec::new();
    for (d, got) in domains.iter().zip(&b.domains) {
        match got {
            DomainRecipients::Tested(results) => out.extend(tested(ip, d, results, true)),
            DomainRecipients::MailRefused(code, text) => out.push(RecipientRow {
                code: Some(*code),
                text: Some(text.clone()),
                ..untested(ip, d, "mail-refused")
            }),
            DomainRecipients::NotReached => out.push(RecipientRow {
                text: b.error.clone(),
                ..untested(ip, d, b.outcome.as_str())
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::conn::SmtpStatus;
    use crate::smtp::session::Outcome;

    fn d(name: &str) -> RecipientDomain {
        RecipientDomain {
            domain: name.into(),
            exchange: "mx.example.net".into(),
            soa_contact: None,
        }
    }

    #[test]
    fn every_domain_of_a_batch_gets_rows_whatever_the_session_did() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let domains = [d("a.example"), d("b.example"), d("c.example")];
        let b = RecipientBatch {
            status: SmtpStatus::Reset,
            outcome: Outcome::Failed(SmtpStatus::Reset),
            error: Some("connection closed".into()),
            domains: vec![
                DomainRecipients::Tested(vec![RecipientResult {
                    role: "postmaster",
                    address: "postmaster@a.example".into(),
                    code: 250,
                    text: "2.1.5 Ok".into(),
                }]),
                DomainRecipients::MailRefused(550, "5.7.1 no".into()),
                DomainRecipients::NotReached,
            ],
            sent: vec![],
        };
        let rows = rows(ip, &domains, &b);
        let got: Vec<(&str, &str, Option<u16>, Option<&str>)> = rows
            .iter()
            .map(|r| (r.domain.as_str(), r.status, r.code, r.role))
            .collect();
        assert_eq!(
            got,
            [
                ("a.example", "ok", Some(250), Some("postmaster")),
                ("b.example", "mail-refused", Some(550), None),
                ("c.example", "dropped", None, None),
            ]
        );
        assert!(rows.iter().all(|r| r.batched && r.ip == "192.0.2.1"));
        assert_eq!(rows[2].text.as_deref(), Some("connection closed"));
    }
}
