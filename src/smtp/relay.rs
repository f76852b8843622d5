//! The open-relay variants: numbered `MAIL FROM` / `RCPT TO` pairs (docs/SMTP.md lists them).
//!
//! 1-16 are the address forms of nmap's smtp-open-relay, in its order, so a result can be read
//! against nmap's; 17-21 are forms other relay testers add. Every variant stops at `RCPT TO`:
//! a `2xx` there is an acceptance, whatever happens to the message afterwards, because a relay
//! that accepts the recipient has agreed to carry the message.

use std::net::IpAddr;

use super::command::Arg;

/// Variants whose recipient ends at the relay domain itself (source routes are to be ignored,
/// RFC 5321 4.1.1.3 and C). The others (5-11, 14-16) carry the relay domain inside the local
/// part, at the server's own name or address or at no domain: a catch-all server accepts them
/// as local mail, so their acceptance alone does not show relaying.
pub const DIRECT: &[u8] = &[1, 2, 3, 4, 12, 13, 17, 18, 19, 20, 21];

/// Local part of the probing sender.
pub const SENDER: &str = "mxray-relay-test";
/// Local part of the recipient at the relay domain.
pub const RECIPIENT: &str = "mxray-relay-test";

/// What the variants are built from.
#[derive(Debug, Clone)]
pub struct RelayContext<'a> {
    /// A domain outside the server's control, the recipient's domain (`--relay-domain`).
    pub relay_domain: &'a str,
    /// The scanned address.
    pub ip: IpAddr,
    /// The name the server announced (greeting or EHLO), or its address literal.
    pub server_name: Option<&'a str>,
    /// The domain whose MX led to the address (domain scans).
    pub scanned_domain: Option<&'a str>,
}

/// One variant: its number and the two paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub number: u8,
    pub sender: Arg,
    pub recipient: Arg,
}

/// The variants for one server, in order. Variants that cannot be formed (17 without a scanned
/// domain, a path with characters that cannot be sent) are left out.
pub fn variants(c: &RelayContext<'_>) -> Vec<Variant> {
    let d = c.relay_domain;
    let lit = match c.ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    };
    let lit6 = match c.ip {
        IpAddr::V4(v4) => format!("[IPv6:{}]", v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    };
    let srv = c.server_name.unwrap_or(&lit);
    let to = RECIPIENT;
    let from_lit = format!("{SENDER}@{lit}");
    let pairs: Vec<(u8, String, String)> = vec![
        (1, String::new(), format!("{to}@{d}")),
        (2, format!("{SENDER}@{d}"), format!("{to}@{d}")),
        (3, format!("{SENDER}@{srv}"), format!("{to}@{d}")),
        (4, from_lit.clone(), format!("{to}@{d}")),
        (5, from_lit.clone(), format!("{to}%{d}@{lit}")),
        (6, from_lit.clone(), format!("{to}%{d}@{srv}")),
        (7, from_lit.clone(), format!("\"{to}@{d}\"")),
        (8, from_lit.clone(), format!("\"{to}%{d}\"")),
        (9, from_lit.clone(), format!("{to}@{d}@{lit}")),
        (10, from_lit.clone(), format!("\"{to}@{d}\"@{lit}")),
        (11, from_lit.clone(), format!("{to}@{d}@{srv}")),
        (12, from_lit.clone(), format!("@{lit}:{to}@{d}")),
        (13, from_lit.clone(), format!("@{srv}:{to}@{d}")),
        (14, from_lit.clone(), format!("{d}!{to}")),
        (15, from_lit.clone(), format!("{d}!{to}@{lit}")),
        (16, from_lit.clone(), format!("{d}!{to}@{srv}")),
        (
            17,
            c.scanned_domain
                .map(|s| format!("{SENDER}@{s}"))
                .unwrap_or_default(),
            format!("{to}@{d}"),
        ),
        (18, SENDER.to_string(), format!("{to}@{d}")),
        (19, format!("{SENDER}@{lit6}"), format!("{to}@{d}")),
        (
            20,
            from_lit.clone(),
            format!("{to}@{}", d.to_ascii_uppercase()),
        ),
        (21, from_lit, format!("{to}@{d}.")),
    ];
    pairs
        .into_iter()
        .filter(|(n, _, _)| *n != 17 || c.scanned_domain.is_some())
        .filter_map(|(number, s, r)| {
            let sender = if s.is_empty() {
                Arg::null()
            } else {
                Arg::new(s)?
            };
            Some(Variant {
                number,
                sender,
                recipient: Arg::new(r)?,
            })
        })
        .collect()
}

/// What the relay tests found over one session (or two sets, plain and after STARTTLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Variant numbers tried to a definitive answer or an acceptance.
    pub tested: Vec<u8>,
    /// Accepted at `RCPT TO`.
    pub accepted: Vec<u8>,
    /// Answered `4xx` at `MAIL` or `RCPT` (greylisting, a temporary failure): no verdict.
    pub deferred: Vec<u8>,
    /// The plain session answered `530` (TLS or authentication first).
    pub needs_tls: bool,
    /// Every variant of a set got an answer (the verdict is complete).
    pub complete: bool,
}

impl RelayReport {
    /// `open_relay_direct`: a variant of [`DIRECT`] was accepted (null as `open_relay`).
    pub fn open_relay_direct(&self) -> Option<bool> {
        match self.open_relay() {
            Some(true) => Some(self.accepted.iter().any(|n| DIRECT.contains(n))),
            other => other,
        }
    }

    /// `open_relay`: true if any variant was accepted, false when a complete set refused them
    /// all, null when the tests could not decide (deferred, interrupted, TLS required and not
    /// available).
    pub fn open_relay(&self) -> Option<bool> {
        if !self.accepted.is_empty() {
            Some(true)
        } else if self.complete && self.deferred.is_empty() {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(scanned: Option<&'a str>) -> RelayContext<'a> {
        RelayContext {
            relay_domain: "relay.example",
            ip: "192.0.2.7".parse().unwrap(),
            server_name: Some("mx.victim.example"),
            scanned_domain: scanned,
        }
    }

    #[test]
    fn numbered_variants() {
        let v = variants(&ctx(Some("victim.example")));
        let lines: Vec<(u8, String, String)> = v
            .iter()
            .map(|v| {
                (
                    v.number,
                    v.sender.as_str().into(),
                    v.recipient.as_str().into(),
                )
            })
            .collect();
        let s = |n: u8, a: &str, b: &str| (n, a.to_string(), b.to_string());
        let f = "mxray-relay-test@[192.0.2.7]";
        assert_eq!(
            lines,
            [
                s(1, "", "mxray-relay-test@relay.example"),
                s(
                    2,
                    "mxray-relay-test@relay.example",
                    "mxray-relay-test@relay.example"
                ),
                s(
                    3,
                    "mxray-relay-test@mx.victim.example",
                    "mxray-relay-test@relay.example"
                ),
                s(4, f, "mxray-relay-test@relay.example"),
                s(5, f, "mxray-relay-test%relay.example@[192.0.2.7]"),
                s(6, f, "mxray-relay-test%relay.example@mx.victim.example"),
                s(7, f, "\"mxray-relay-test@relay.example\""),
                s(8, f, "\"mxray-relay-test%relay.example\""),
                s(9, f, "mxray-relay-test@relay.example@[192.0.2.7]"),
                s(10, f, "\"mxray-relay-test@relay.example\"@[192.0.2.7]"),
                s(11, f, "mxray-relay-test@relay.example@mx.victim.example"),
                s(12, f, "@[192.0.2.7]:mxray-relay-test@relay.example"),
                s(13, f, "@mx.victim.example:mxray-relay-test@relay.example"),
                s(14, f, "relay.example!mxray-relay-test"),
                s(15, f, "relay.example!mxray-relay-test@[192.0.2.7]"),
                s(16, f, "relay.example!mxray-relay-test@mx.victim.example"),
                s(
                    17,
                    "mxray-relay-test@victim.example",
                    "mxray-relay-test@relay.example"
                ),
                s(18, "mxray-relay-test", "mxray-relay-test@relay.example"),
                s(
                    19,
                    "mxray-relay-test@[IPv6:::ffff:192.0.2.7]",
                    "mxray-relay-test@relay.example"
                ),
                s(20, f, "mxray-relay-test@RELAY.EXAMPLE"),
                s(21, f, "mxray-relay-test@relay.example."),
            ]
        );
        // Without a scanned domain there is no variant 17; an IPv6 server gets IPv6 literals.
        let v = variants(&ctx(None));
        assert_eq!(v.len(), 20);
        assert!(v.iter().all(|v| v.number != 17));
        let v6 = RelayContext {
            ip: "2001:db8::25".parse().unwrap(),
            server_name: None,
            ..ctx(None)
        };
        let v = variants(&v6);
        assert_eq!(v[3].sender.as_str(), "mxray-relay-test@[IPv6:2001:db8::25]");
        assert_eq!(v[2].sender.as_str(), "mxray-relay-test@[IPv6:2001:db8::25]");
    }

    #[test]
    fn verdicts() {
        let r = |accepted: &[u8], deferred: &[u8], complete| RelayReport {
            accepted: accepted.to_vec(),
            deferred: deferred.to_vec(),
            complete,
            ..RelayReport::default()
        };
        assert_eq!(r(&[3], &[], false).open_relay(), Some(true));
        assert_eq!(r(&[3], &[], false).open_relay_direct(), Some(true));
        assert_eq!(r(&[6, 16], &[], true).open_relay(), Some(true));
        assert_eq!(r(&[6, 16], &[], true).open_relay_direct(), Some(false));
        assert_eq!(r(&[], &[2], true).open_relay_direct(), None);
        assert_eq!(r(&[], &[], true).open_relay(), Some(false));
        assert_eq!(r(&[], &[2], true).open_relay(), None);
        assert_eq!(r(&[], &[], false).open_relay(), None);
    }
}
