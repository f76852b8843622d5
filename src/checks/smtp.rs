//! The SMTP columns of a hosts row, from one session's report and the address's PTR names:
//! what the server said, its TLS, the relay and recipient verdicts, and whether the names it
//! announces match its reverse DNS (the seed's advice: PTR, forward-confirmed, and the same
//! name in the banner and the EHLO reply).

use crate::columns::ColType::*;
use crate::columns::Value::*;
use crate::columns::{Column, StructField, StructItem, Value};
use crate::smtp::SessionReport;
use crate::smtp::conn::SmtpStatus;
use crate::smtp::session::{Outcome, RecipientResult};

/// One recipient test, as a struct item of `smtp_recipients`.
pub type Recipient = RecipientResult;

/// The SMTP findings of one address: one field per column ([`SmtpFindings::columns`]).
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

impl SmtpFindings {
    /// The SMTP columns of the hosts table, over the findings of the address's session. Each
    /// `doc` is the column's row in docs/SCHEMA.md (`MXRAY_BLESS=1 cargo test --lib schema_doc`
    /// rewrites the file). A host without findings (no `--smtp`) has them all null.
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<SmtpFindings>> {
        type C = Column<SmtpFindings>;
        vec![
        C::status("smtp_status", |f| Some(f.status.as_str())).required()
            .doc("`ok` (an SMTP dialogue took place, whatever the server answered: see `smtp_outcome`), `refused` (no session: TCP connect refused, the network or host unreachable (`smtp_outcome` `unreachable`), or a 4xx greeting such as 421, RFC 5321 3.8 (`smtp_outcome` `greeting-deferred`)), `timeout` (connect, a reply or the whole session), `reset` (the connection was reset at connect, or closed or reset mid-dialogue), `protocol-error` (not SMTP (a 3xx greeting too), a malformed, endless or oversized reply, data injected after the STARTTLS reply), `tls-error` (the TLS handshake failed), `skipped` (excluded address); null without `--smtp`"),
        C::new("smtp_outcome", Utf8, |f| Str(Some(f.outcome.as_str())))
            .doc("how the session ended: `completed` (ran to QUIT), `tls-legacy-only` (rustls could not speak to the server, OpenSSL could with an old version: `tls_version`), `greeting-rejected` (5xx greeting, e.g. 554), `greeting-deferred` (4xx greeting, e.g. 421: `smtp_status` `refused`), `helo-rejected` (EHLO and HELO refused), `deferred` (421 at a later step: the server closed), `dropped` (`smtp_status` `reset`: the connection was reset at connect, or closed or reset mid-dialogue), `unreachable` (`smtp_status` `refused`: no route to the network or the host, ENETUNREACH or EHOSTUNREACH, often the scanner's own network, e.g. an IPv6 address without an IPv6 route), or the `smtp_status` of a failure (`refused`, `timeout`, `protocol-error`, `tls-error`), `skipped`"),
        C::new("smtp_error", Utf8, |f| Str(f.error.as_deref()))
            .doc("the step and the reason when the session did not complete: `greeting: 554 ...`, `connect: ...`, `timed out waiting for a reply`"),
        C::new("smtp_port", UInt16, |f| U16(f.port))
            .doc("the TCP port of the session in these columns: the first of `--smtp-ports` (25 by default; 465 is implicit TLS); the others are in `smtp_other_ports`"),
        C::new("smtp_banner", Utf8, |f| Str(f.banner.as_deref()))
            .doc("first greeting line (code and text)"),
        C::new("smtp_banner_name", Utf8, |f| Str(f.banner_name.as_deref()))
            .doc("the host name the greeting announces (its first word, after an enhanced status code such as `4.3.2` (RFC 3463), when it looks like a domain or an address literal), lower case"),
        C::new("smtp_banner_ptr_match", Boolean, |f| Bool(f.banner_ptr_match))
            .doc("`smtp_banner_name` is one of the address's PTR names (`fcrdns` says whether a PTR name forward-confirms); false without PTR; null when either is unknown"),
        C::new("smtp_ehlo", ListUtf8, |f| StrList(f.ehlo.as_deref()))
            .doc("EHLO extension keywords of the plain session (upper case), e.g. `STARTTLS`, `SIZE`, `PIPELINING`; null when EHLO was refused or never reached"),
        C::new("smtp_ehlo_name", Utf8, |f| Str(f.ehlo_name.as_deref()))
            .doc("the host name of the EHLO (or HELO) reply's first line"),
        C::new("smtp_ehlo_ptr_match", Boolean, |f| Bool(f.ehlo_ptr_match))
            .doc("`smtp_ehlo_name` is one of the PTR names, as `smtp_banner_ptr_match`"),
        C::new("smtp_helo_fallback", Boolean, |f| Bool(f.helo_fallback))
            .doc("EHLO was refused with 5xx and HELO answered (an SMTP server without extensions)"),
        C::new("starttls", Boolean, |f| Bool(f.starttls))
            .doc("STARTTLS offered in the EHLO reply (whether or not the handshake then succeeded: see `tls_version`, `tls_error`); null when the session ended before EHLO"),
        C::new("smtp_starttls_error", Utf8, |f| Str(f.starttls_error.as_deref()))
            .doc("the reply when STARTTLS was offered but the command refused (`454 ...`)"),
        C::new("tls_version", Utf8, |f| Str(f.tls_version.as_deref()))
            .doc("negotiated version after STARTTLS (`TLSv1.3`, `TLSv1.2`; `TLSv1`, `TLSv1.1` from the second handshake through OpenSSL when `tls_incompatible`), null when none"),
        C::new("tls_cipher", Utf8, |f| Str(f.tls_cipher.as_deref()))
            .doc("negotiated cipher suite (IANA name, e.g. `TLS13_AES_256_GCM_SHA384`)"),
        C::new("tls_error", Utf8, |f| Str(f.tls_error.as_deref()))
            .doc("why the handshake failed"),
        C::new("tls_incompatible", Boolean, |f| Bool(f.tls_incompatible))
            .doc("the handshake failed because the server offers only what mxray's TLS library refuses to speak (TLS 1.0/1.1, legacy suites): an old server, not a broken one; null when no handshake was made"),
        C::new("tls_ehlo", ListUtf8, |f| StrList(f.tls_ehlo.as_deref()))
            .doc("EHLO keywords after TLS (RFC 3207 4.2: the session starts over)"),
        C::new("tls_cert_subject", Utf8, |f| Str(f.cert_subject.as_deref()))
            .doc("subject of the server's certificate (RFC 4514 text)"),
        C::new("tls_cert_issuer", Utf8, |f| Str(f.cert_issuer.as_deref()))
            .doc("issuer of the server's certificate"),
        C::new("tls_cert_sans", ListUtf8, |f| StrList(f.cert_sans.as_deref()))
            .doc("DNS names and addresses of its subjectAltName"),
        C::new("tls_cert_not_after", Timestamp, |f| TsOpt(f.cert_not_after))
            .doc("end of the certificate's validity"),
        C::new("tls_cert_self_signed", Boolean, |f| Bool(f.cert_self_signed))
            .doc("issued by itself (issuer = subject, signed by its own key)"),
        C::new("tls_cert_valid", Boolean, |f| Bool(f.cert_valid))
            .doc("the chain verifies for `tls_cert_name` against the trust store (Mozilla's roots from webpki-roots, version in run.json, or `--smtp-ca`), checked offline after the handshake: recorded, never required to continue; null without a certificate or a name"),
        C::new("tls_cert_error", Utf8, |f| Str(f.cert_error.as_deref()))
            .doc("why the chain does not verify (`invalid peer certificate: UnknownIssuer`, `... Expired`, `... NotValidForName`), or why it was not verified"),
        C::new("tls_cert_name", Utf8, |f| Str(f.cert_name.as_deref()))
            .doc("the name verified (and sent as SNI): the MX exchange that led to the address (domain scans), else its first PTR name when forward-confirmed"),
        C::new("smtp_needs_tls", Boolean, |f| Bool(f.needs_tls))
            .doc("the plain session answered `530` to MAIL while offering STARTTLS, so the relay variants ran again inside TLS"),
        C::new("open_relay", Boolean, |f| Bool(f.open_relay))
            .doc("at least one relay variant was accepted at RCPT time; false when a complete set of variants was refused; null when the tests could not decide (a 4xx, an interrupted session, TLS required and failing)"),
        C::new("open_relay_direct", Boolean, |f| Bool(f.open_relay_direct))
            .doc("a variant whose recipient ends at the relay domain itself (1-4, 12, 13, 17-21) was accepted: relaying, as opposed to forms that put the relay domain inside the local part (5-11, 14-16), which a catch-all server accepts as local mail; null as `open_relay`"),
        C::new("relay_accepted", ListUInt8, |f| U8List(f.relay_accepted.as_deref()))
            .doc("numbers of the relay variants accepted (docs/SMTP.md lists them; 1-16 are nmap's smtp-open-relay tests in its order)"),
        C::new("relay_deferred", ListUInt8, |f| U8List(f.relay_deferred.as_deref()))
            .doc("variants answered with 4xx at MAIL or RCPT (greylisting): no verdict for them"),
        C::new("accepts_any_recipient", Boolean, |f| Bool(f.accepts_any_recipient))
            .doc("with `--smtp-recipients`: a random nonexistent local part at the domain whose MX led here was accepted at RCPT time (a catch-all: backscatter); null without the test or on a 4xx"),
        C::new("smtp_recipients", ListStruct(<Recipient as StructItem>::FIELDS), |f| Value::structs(f.recipients.as_ref()))
            .doc("with `--smtp-recipients`: each address tested at RCPT (`postmaster`, `abuse`, `security`, `admin`, `soa` (the SOA contact, when at the domain), `random`) with the reply code and text"),
        C::new("smtp_other_ports", ListStruct(<PortFindings as StructItem>::FIELDS), |f| Value::structs(f.other_ports.as_ref()))
            .doc("with several `--smtp-ports`: the session on each port after the first (whose findings are the columns above), one after the other on the same address: `port`, `implicit_tls` (465, or `N/tls`), `status` and `outcome` (as `smtp_status`, `smtp_outcome`), `error`, `banner`, `starttls`, `tls_version`, `tls_cert_valid`, `open_relay` (a submission port that relays without authentication is an open relay too), `relay_accepted`, `session_ms`; null with one port"),
        C::new("smtp_transcript", Utf8, |f| Str(f.transcript.as_deref()))
            .doc("with `--smtp-transcript`: the dialogue, `C:`/`S:` lines (16 KiB at most)"),
        C::new("smtp_session_ms", UInt32, |f| U32(f.session_ms))
            .doc("duration of the session, connect to close"),
        ]
    }
}

/// One recipient test, a struct item of `smtp_recipients`.
impl StructItem for Recipient {
    const FIELDS: &'static [StructField] = &[
        StructField::new("role", Utf8, false),
        StructField::new("address", Utf8, false),
        StructField::new("code", UInt16, false),
        StructField::new("text", Utf8, false),
    ];

    fn field(&self, j: usize) -> Value<'_> {
        match j {
            0 => Str(Some(self.role)),
            1 => Str(Some(&self.address)),
            2 => U16(Some(self.code)),
            3 => Str(Some(&self.text)),
            _ => unreachable!("a recipient has {} fields", Self::FIELDS.len()),
        }
    }
}

/// One more port's session, a struct item of `smtp_other_ports`.
impl StructItem for PortFindings {
    const FIELDS: &'static [StructField] = &[
        StructField::new("port", UInt16, false),
        StructField::new("implicit_tls", Boolean, false),
        StructField::new("status", Utf8, false),
        StructField::new("outcome", Utf8, false),
        StructField::new("error", Utf8, true),
        StructField::new("banner", Utf8, true),
        StructField::new("starttls", Boolean, true),
        StructField::new("tls_version", Utf8, true),
        StructField::new("tls_cert_valid", Boolean, true),
        StructField::new("open_relay", Boolean, true),
        StructField::new("relay_accepted", ListUInt8, true),
        StructField::new("session_ms", UInt32, false),
    ];

    fn field(&self, j: usize) -> Value<'_> {
        match j {
            0 => U16(Some(self.port)),
            1 => Bool(Some(self.implicit_tls)),
            2 => Str(Some(self.status.as_str())),
            3 => Str(Some(self.outcome.as_str())),
            4 => Str(self.error.as_deref()),
            5 => Str(self.banner.as_deref()),
            6 => Bool(self.starttls),
            7 => Str(self.tls_version.as_deref()),
            8 => Bool(self.cert_valid),
            9 => Bool(self.open_relay),
            10 => U8List(self.relay_accepted.as_deref()),
            11 => U32(Some(self.session_ms)),
            _ => unreachable!("a port's findings have {} fields", Self::FIELDS.len()),
        }
    }
}

#[cfg(test)]
impl SmtpFindings {
    /// Every `Option` is `Some` and every list is non-empty: the column tests see each
    /// accessor's non-null value.
    pub(crate) fn full() -> SmtpFindings {
        let s = || Some("x".to_string());
        let l = || Some(vec!["a".to_string(), "b".to_string()]);
        SmtpFindings {
            status: SmtpStatus::Ok,
            outcome: Outcome::Completed,
            error: s(),
            port: Some(25),
            banner: s(),
            banner_name: s(),
            banner_ptr_match: Some(true),
            ehlo: l(),
            ehlo_name: s(),
            ehlo_ptr_match: Some(false),
            helo_fallback: Some(false),
            starttls: Some(true),
            starttls_error: s(),
            tls_version: s(),
            tls_cipher: s(),
            tls_error: s(),
            tls_incompatible: Some(false),
            tls_ehlo: l(),
            cert_subject: s(),
            cert_issuer: s(),
            cert_sans: l(),
            cert_not_after: Some(1_800_000_000_000),
            cert_self_signed: Some(true),
            cert_valid: Some(false),
            cert_error: s(),
            cert_name: s(),
            needs_tls: Some(true),
            open_relay: Some(true),
            open_relay_direct: Some(true),
            relay_accepted: Some(vec![1, 20]),
            relay_deferred: Some(vec![3]),
            recipients: Some(vec![Recipient {
                role: "postmaster",
                address: "postmaster@example.com".into(),
                code: 250,
                text: "2.1.5 Ok".into(),
            }]),
            accepts_any_recipient: Some(false),
            transcript: s(),
            session_ms: Some(12),
            other_ports: Some(vec![PortFindings {
                port: 465,
                implicit_tls: true,
                status: SmtpStatus::Ok,
                outcome: Outcome::Completed,
                error: s(),
                banner: s(),
                starttls: Some(false),
                tls_version: s(),
                cert_valid: Some(true),
                open_relay: Some(true),
                relay_accepted: Some(vec![2]),
                session_ms: 9,
            }]),
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
