//! `mxray check`: the operator's checklist for one domain or one mail server, read from the
//! rows the scan's own probes produce ([`crate::pipeline::check`] runs them). Nothing here does
//! I/O or a check of its own: each item reads the findings (and their problem codes) that the
//! checks in [`crate::checks`] already made, and says them in the checklist's order, with a
//! mark and, for what fails, the fix in one sentence ([`words`]).
//!
//! - [`items`]: one function per checklist item, from the rows to an [`Item`];
//! - [`words`]: problem codes and readiness codes to plain sentences (finding and fix);
//! - [`render`]: the text (plain, or colour and symbols) and the JSON document.

pub mod items;
pub mod render;
pub mod words;

use std::fmt;
use std::net::IpAddr;

use crate::output::{DomainRow, HostRow, RecipientRow};

/// What `mxray check` is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckTarget {
    /// A mail domain (normalised: lowercase ASCII, no trailing dot).
    Domain(String),
    /// One mail server's address.
    Address(IpAddr),
}

impl CheckTarget {
    /// An address, or a domain normalised as the scan's input reader does.
    pub fn parse(s: &str) -> Result<CheckTarget, String> {
        let t = s.trim();
        let bare = t.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(CheckTarget::Address(ip));
        }
        crate::targets::normalize_domain(t)
            .map(CheckTarget::Domain)
            .map_err(|why| format!("{s:?}: {why}"))
    }

    /// `domain` or `address`.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckTarget::Domain(_) => "domain",
            CheckTarget::Address(_) => "address",
        }
    }
}

impl fmt::Display for CheckTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckTarget::Domain(d) => f.write_str(d),
            CheckTarget::Address(ip) => write!(f, "{ip}"),
        }
    }
}

/// One address checked: its hosts row (SMTP columns included) and the recipient rows of its
/// session.
#[derive(Debug, Clone)]
pub struct CheckedHost {
    /// The MX exchange that led to the address (domain targets).
    pub exchange: Option<String>,
    pub row: HostRow,
    pub recipients: Vec<RecipientRow>,
}

/// What the probes found for one target: the rows a scan would have written.
#[derive(Debug, Clone)]
pub struct Observed {
    pub target: CheckTarget,
    /// The domains row (domain targets).
    pub domain: Option<DomainRow>,
    /// The MX addresses in MX order (domain targets), or the address itself.
    pub hosts: Vec<CheckedHost>,
    /// The DNSBL zones every address was queried in.
    pub dnsbl_zones: Vec<String>,
    /// SMTP sessions were made (the SMTP options were given).
    pub smtp: bool,
}

/// An item's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    Pass,
    /// Could not tell: a DNS failure, no session, not probed. Never a pass.
    Unknown,
    Warn,
    Fail,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Pass => "pass",
            Mark::Unknown => "unknown",
            Mark::Warn => "warn",
            Mark::Fail => "fail",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's key in the JSON document (`open_relay`, `spf`, ...).
    pub id: &'static str,
    pub title: &'static str,
    pub mark: Mark,
    /// What was found, in plain words.
    pub finding: String,
    /// For a failure or a warning: what to do, in one sentence.
    pub fix: Option<String>,
}

/// One target's answer: the checklist and the rows it was read from.
#[derive(Debug, Clone)]
pub struct Report {
    pub observed: Observed,
    pub items: Vec<Item>,
}

impl Report {
    pub fn new(observed: Observed) -> Report {
        let items = items::checklist(&observed);
        Report { observed, items }
    }

    /// The worst mark of any item: `Fail` makes `mxray check` exit 1.
    pub fn worst(&self) -> Mark {
        self.items
            .iter()
            .map(|i| i.mark)
            .max()
            .unwrap_or(Mark::Unknown)
    }

    /// Items per mark, in the order pass, unknown, warn, fail.
    pub fn counts(&self) -> [(Mark, usize); 4] {
        [Mark::Pass, Mark::Unknown, Mark::Warn, Mark::Fail]
            .map(|m| (m, self.items.iter().filter(|i| i.mark == m).count()))
    }
}

/// What cannot be checked from outside, and what to do about it: facts, in the order an
/// operator meets them.
pub const OUTSIDE: &[&str] = &[
    "Spam complaint rate: Gmail and Yahoo require bulk senders to keep the rate of mail users report as spam under 0.3% (aim under 0.1%); only the providers see it, in Google Postmaster Tools and Yahoo Sender Hub, for a domain verified there.",
    "Feedback loops: Yahoo's Complaint Feedback Loop and Microsoft's Junk Mail Reporting Program (with Smart Network Data Services for your addresses' reputation) send you the complaints about your mail; each needs a sign-up proving you control the domain or the addresses.",
    "Sending addresses: the addresses checked here receive mail; the ones that send it (your outbound relays, your providers') need the same reverse DNS and blocklist checks: run `mxray check ADDRESS` for each.",
    "Alignment: DMARC passes only when the From: domain matches the SPF-authenticated envelope domain or a DKIM signature's d=; that shows in the headers of a delivered message, not in DNS.",
    "Unsubscribe: bulk mail to Gmail, Yahoo and Outlook.com must carry List-Unsubscribe with one-click List-Unsubscribe-Post (RFC 8058) and honour a request within two days; that is in the messages, not in DNS.",
    "Challenge-response: do not answer unknown senders with a request to confirm; the sender addresses of spam are forged, so the challenges go to innocent people (backscatter) and get the server listed.",
    "Policy pages: publish a page saying who sends mail from the domain and how to reach abuse@, and a privacy and unsubscribe page linked from your mail; receivers and list operators look for them when they review a complaint.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let cases: [(&str, Result<CheckTarget, ()>); 7] = [
            (
                "Example.COM.",
                Ok(CheckTarget::Domain("example.com".into())),
            ),
            (
                "192.0.2.7",
                Ok(CheckTarget::Address("192.0.2.7".parse().unwrap())),
            ),
            (
                "[2001:db8::1]",
                Ok(CheckTarget::Address("2001:db8::1".parse().unwrap())),
            ),
            (
                "bücher.example",
                Ok(CheckTarget::Domain("xn--bcher-kva.example".into())),
            ),
            ("localhost", Err(())),
            ("a b.example", Err(())),
            ("", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(CheckTarget::parse(s).map_err(|_| ()), want, "{s:?}");
        }
    }

    #[test]
    fn marks_order_from_pass_to_fail() {
        let mut m = vec![Mark::Fail, Mark::Pass, Mark::Warn, Mark::Unknown];
        m.sort();
        assert_eq!(m, [Mark::Pass, Mark::Unknown, Mark::Warn, Mark::Fail]);
    }
}
