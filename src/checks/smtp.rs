//! The SMTP columns of a hosts row, from one session's report and the address's PTR names:
//! what the server said, its TLS, the relay and recipient verdicts, and whether the names it
//! announces match its reverse DNS (the seed's advice: PTR, forward-confirmed, and the same
//! name in the banner and the EHLO reply).

use crate::smtp::SessionReport;
use crate::smtp::conn::SmtpStatus;
use crate::smtp::session::{Outcome, RecipientResult};

/// One recipient test, as a struct item of `smtp_recipients`.
pub type Recipient = RecipientResult;

/// The SMTP findings of one address: one field per column (see `HOST_COLUMNS`).
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpFindings {
    /// The outcome's ([`Outcome::status`]): `ok` (an SMTP dialogue took place, whatever the
    /// server answered), `refused` (no session: the connect, the route or a 4xx greeting),
    /// `timeout`, `reset`, `protocol-error`, `tls-error`, `skipped`.
    pub status: SmtpStatus,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub port: Option<u16>,
    pub banner: Option<String>,
    pub banner_name: Option<String>,
    pub banner_ptr_match: Option<bool>,
    pub ehlo: Option<Vec<String>>,
    pub ehlo_name: Option<String>,
    pub ehlo_ptr_match: Option<bool>,
    pub helo_fallback: Option<bool>,
    pub starttls: Option<bool>,
    pub starttls_error: Option<String>,
    pub tls_version: Option<String>,
    pub tls_cipher: Option<String>,
    pub tls_error: Option<String>,
    pub tls_incompatible: Option<bool>,
    pub tls_ehlo: Option<Vec<String>>,
    pub cert_subject: Option<String>,
    pub cert_issuer: Option<String>,
    pub cert_sans: Option<Vec<String>>,
    pub cert_not_after: Option<i64>,
    pub cert_self_signed: Option<bool>,
    pub cert_valid: Option<bool>,
    pub cert_error: Option<String>,
    pub cert_name: Option<String>,
    pub needs_tls: Option<bool>,
    pub open_relay: Option<bool>,
    pub open_relay_direct: Option<bool>,
    pub relay_accepted: Option<Vec<u8>>,
    pub relay_deferred: Option<Vec<u8>>,
    pub recipients: Option<Vec<Recipient>>,
    pub accepts_any_recipient: Option<bool>,
    pub transcript: Option<String>,
    pub session_ms: Option<u32>,
    /// The sessions on the other `--smtp-ports`, in their order; `None` with one port.
    pub other_ports: Option<Vec<PortFindings>>,
}

/// The session on one more port (`--smtp-ports 25,587,465`): what tells a port apart, as one
/// struct item of `smtp_other_ports`.
#[derive(Debug, Clone, PartialEq)]
pub struct PortFindings {
    pub port: u16,
    pub implicit_tls: bool,
    pub status: SmtpStatus,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub banner: Option<String>,
    pub starttls: Option<bool>,
    pub tls_version: Option<String>,
    pub cert_valid: Option<bool>,
    pub open_relay: Option<bool>,
    pub relay_accepted: Option<Vec<u8>>,
    pub session_ms: u32,
}

impl PortFindings {
    pub fn from_session(port: crate::smtp::session::SmtpPort, s: &SessionReport) -> PortFindings {
        let tls = s.tls.as_ref();
        let relay = s.relay.as_ref();
        PortFindings {
            port: port.port,
            implicit_tls: port.implicit_tls,
            status: s.status,
            outcome: s.outcome,
            error: s.error.clone(),
            banner: s.banner.as_ref().map(|b| b.first_line()),
            starttls: s.starttls,
            tls_version: tls.and_then(|t| t.version.clone()),
            cert_valid: tls.and_then(|t| t.valid),
            open_relay: relay.and_then(|r| r.open_relay()),
            relay_accepted: relay.map(|r| r.accepted.clone()),
            session_ms: s.elapsed.as_millis().min(u32::MAX as u128) as u32,
        }
    }
}

impl SmtpFindings {
    /// No session was made: the address is excluded (`skipped`).
    pub fn skipped(port: u16) -> SmtpFindings {
        SmtpFindings {
            status: SmtpStatus::Skipped,
            outcome: Outcome::Skipped,
            port: Some(port),
            ..SmtpFindings::empty()
        }
    }

    fn empty() -> SmtpFindings {
        SmtpFindings {
            status: SmtpStatus::Ok,
            outcome: Outcome::Completed,
            error: None,
            port: None,
            banner: None,
            banner_name: None,
            banner_ptr_match: None,
            ehlo: None,
            ehlo_name: None,
            ehlo_ptr_match: None,
            helo_fallback: None,
            starttls: None,
            starttls_error: None,
            tls_version: None,
            tls_cipher: None,
            tls_error: None,
            tls_incompatible: None,
            tls_ehlo: None,
            cert_subject: None,
            cert_issuer: None,
            cert_sans: None,
            cert_not_after: None,
            cert_self_signed: None,
            cert_valid: None,
            cert_error: None,
            cert_name: None,
            needs_tls: None,
            open_relay: None,
            open_relay_direct: None,
            relay_accepted: None,
            relay_deferred: None,
            recipients: None,
            accepts_any_recipient: None,
            transcript: None,
            session_ms: None,
            other_ports: None,
        }
    }

    /// The findings of a session. `ptr` is the address's PTR names, `None` when the PTR query
    /// failed (the matches are then unknown).
    pub fn from_session(port: u16, s: &SessionReport, ptr: Option<&[String]>) -> SmtpFindings {
        let banner_name = s.banner.as_ref().and_then(|b| b.announced_name());
        let ehlo_reply = s.ehlo.as_ref().or(s.ehlo_tls.as_ref());
        let ehlo_name = ehlo_reply.and_then(|e| e.announced_name());
        let tls = s.tls.as_ref();
        let cert = tls.and_then(|t| t.cert.as_ref());
        let relay = s.relay.as_ref();
        SmtpFindings {
            status: s.status,
            outcome: s.outcome,
            error: s.error.clone(),
            port: Some(port),
            banner: s.banner.as_ref().map(|b| b.first_line()),
            banner_ptr_match: name_matches(banner_name.as_deref(), ptr),
            banner_name,
            ehlo: s.ehlo.as_ref().map(|e| e.ehlo_keywords()),
            ehlo_ptr_match: name_matches(ehlo_name.as_deref(), ptr),
            ehlo_name,
            helo_fallback: s
                .ehlo
                .is_some()
                .then_some(false)
                .or(s.helo_fallback.then_some(true)),
            starttls: s.starttls,
            starttls_error: s.starttls_refused.clone(),
            tls_version: tls.and_then(|t| t.version.clone()),
            tls_cipher: tls.and_then(|t| t.cipher.clone()),
            tls_error: tls.and_then(|t| t.error.clone()),
            tls_incompatible: tls.map(|t| t.incompatible),
            tls_ehlo: s.ehlo_tls.as_ref().map(|e| e.ehlo_keywords()),
            cert_subject: cert.map(|c| c.subject.clone()),
            cert_issuer: cert.map(|c| c.issuer.clone()),
            cert_sans: cert.map(|c| c.sans.clone()),
            cert_not_after: cert.map(|c| c.not_after),
            cert_self_signed: cert.map(|c| c.self_signed),
            cert_valid: tls.and_then(|t| t.valid),
            cert_error: tls.and_then(|t| t.verify_error.clone()),
            cert_name: tls.and_then(|t| t.verified_for.clone()),
            needs_tls: relay.map(|r| r.needs_tls),
            open_relay: relay.and_then(|r| r.open_relay()),
            open_relay_direct: relay.and_then(|r| r.open_relay_direct()),
            relay_accepted: relay.map(|r| r.accepted.clone()),
            relay_deferred: relay.map(|r| r.deferred.clone()),
            recipients: (!s.recipients.is_empty()).then(|| s.recipients.clone()),
            accepts_any_recipient: s.accepts_any_recipient(),
            transcript: s.transcript.clone(),
            session_ms: Some(s.elapsed.as_millis().min(u32::MAX as u128) as u32),
            other_ports: None,
        }
    }
}

/// The announced name is one of the PTR names. Null when either is unknown (no name announced,
/// PTR query failed); false when the address has no PTR.
pub fn name_matches(name: Option<&str>, ptr: Option<&[String]>) -> Option<bool> {
    let (name, ptr) = (name?, ptr?);
    Some(
        ptr.iter()
            .any(|p| p.trim_end_matches('.').eq_ignore_ascii_case(name)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_matches() {
        let ptr = vec![
            "mx1.example.com".to_string(),
            "Mail.Example.com.".to_string(),
        ];
        let cases = [
            (Some("mx1.example.com"), Some(ptr.as_slice()), Some(true)),
            (Some("mail.example.com"), Some(ptr.as_slice()), Some(true)),
            (Some("other.example.com"), Some(ptr.as_slice()), Some(false)),
            (Some("mx1.example.com"), Some(&[][..]), Some(false)),
            (Some("mx1.example.com"), None, None),
            (None, Some(ptr.as_slice()), None),
        ];
        for (name, ptr, want) in cases {
            assert_eq!(name_matches(name, ptr), want, "{name:?} {ptr:?}");
        }
    }
}
