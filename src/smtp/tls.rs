//! STARTTLS: a handshake that records whatever chain the server presents, then an offline
//! verification of that chain for the MX name.
//!
//! Recording and verifying are kept apart on purpose: a server with a self-signed or expired
//! certificate still offers STARTTLS and still encrypts (opportunistic TLS, RFC 3207 and RFC
//! 7672), so `starttls` and `tls_version` describe the session and `tls_cert_valid` the chain.
//! Reporting "no STARTTLS" where only verification failed is the error this avoids.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

/// The version of the `webpki-roots` crate whose Mozilla roots are the default trust store
/// (recorded in run.json; a unit test keeps it equal to Cargo.lock's).
pub const WEBPKI_ROOTS_VERSION: &str = "1.0.10";

/// The TLS side of SMTP probes, built once per scan.
#[derive(Clone)]
pub struct TlsProbe {
    connector: TlsConnector,
    verifier: Arc<WebPkiServerVerifier>,
    roots: usize,
}

impl std::fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsProbe")
            .field("roots", &self.roots)
            .finish()
    }
}

/// Why the TLS side could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("CA certificate: {0}")]
    Root(rustls::Error),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Accepts any chain (the handshake's own signatures are still checked), so the session goes on
/// and the chain can be recorded and judged offline.
#[derive(Debug)]
struct AcceptAndRecord(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAndRecord {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// True when a handshake error means the server offered nothing rustls speaks (TLS 1.0/1.1
/// only, or only legacy suites), as opposed to a broken server.
pub fn peer_incompatible(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::PeerIncompatible(_)
            | rustls::Error::AlertReceived(
                AlertDescription::ProtocolVersion
                    | AlertDescription::HandshakeFailure
                    | AlertDescription::InsufficientSecurity
            )
    )
}

/// What the certificate says (the server's own, the first of the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// DNS names and addresses of the subjectAltName extension.
    pub sans: Vec<String>,
    /// Milliseconds since the epoch.
    pub not_after: i64,
    /// Issued by itself: issuer equal to subject and signed by its own key.
    pub self_signed: bool,
}

/// The result of STARTTLS (or of implicit TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsReport {
    /// `TLSv1.3`, `TLSv1.2` (a second attempt through OpenSSL can report older ones).
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// Why the handshake failed; `None` when it succeeded.
    pub error: Option<String>,
    /// The failure was an incompatible peer (old versions or suites only), not a broken one.
    pub incompatible: bool,
    pub cert: Option<CertInfo>,
    /// The chain verified for `verified_for` against the trust store; `None` when there was no
    /// chain or no name to verify it for.
    pub valid: Option<bool>,
    pub verify_error: Option<String>,
    pub verified_for: Option<String>,
}

impl TlsProbe {
    /// Mozilla's roots (webpki-roots), or `roots` instead of them when given (a private CA).
    pub fn new(
        extra_roots: &[CertificateDer<'static>],
        only_extra: bool,
    ) -> Result<TlsProbe, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore::empty();
        if !only_extra {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for c in extra_roots {
            store.add(c.clone()).map_err(TlsSetupError::Root)?;
        }
        let roots = store.len();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAndRecord(provider)))
            .with_no_client_auth();
        Ok(TlsProbe {
            connector: TlsConnector::from(Arc::new(config)),
            verifier,
            roots,
        })
    }

    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// Trust anchors in the store.
    pub fn roots(&self) -> usize {
        self.roots
    }

    /// The server name sent as SNI and verified: the MX name when known, else the address
    /// (rustls sends no SNI for an address).
    pub fn server_name(name: Option<&str>, ip: std::net::IpAddr) -> ServerName<'static> {
        name.and_then(|n| ServerName::try_from(n.to_string()).ok())
            .unwrap_or(ServerName::IpAddress(ip.into()))
    }

    /// The report of an established TLS connection: version, suite, the chain's facts and its
    /// offline verification for `name`.
    pub fn report(&self, conn: &rustls::ClientConnection, name: Option<&str>) -> TlsReport {
        let mut r = TlsReport {
            version: conn.protocol_version().map(version_text),
            cipher: conn
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str().map(str::to_string)),
            ..TlsReport::default()
        };
        let Some(chain) = conn.peer_certificates().filter(|c| !c.is_empty()) else {
            r.verify_error = Some("no certificate presented".into());
            return r;
        };
        r.cert = cert_info(&chain[0]);
        let Some(name) = name else {
            r.verify_error = Some("no name to verify the certificate for".into());
            return r;
        };
        r.verified_for = Some(name.to_string());
        let Ok(server_name) = ServerName::try_from(name.to_string()) else {
            r.valid = Some(false);
            r.verify_error = Some(format!("{name:?} is not a valid server name"));
            return r;
        };
        match self.verifier.verify_server_cert(
            &chain[0],
            &chain[1..],
            &server_name,
            &[],
            UnixTime::now(),
        ) {
            Ok(_) => r.valid = Some(true),
            Err(e) => {
                r.valid = Some(false);
                r.verify_error = Some(e.to_string());
            }
        }
        r
    }
}

/// `TLSv1.3` as OpenSSL and most tools write it.
fn version_text(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        rustls::ProtocolVersion::TLSv1_1 => "TLSv1.1".into(),
        rustls::ProtocolVersion::TLSv1_0 => "TLSv1".into(),
        other => format!("{other:?}"),
    }
}

/// The facts of one DER certificate; `None` when it does not parse.
pub fn cert_info(der: &CertificateDer<'_>) -> Option<CertInfo> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans
                        .push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                    16 => sans
                        .push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let self_signed =
        cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok();
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_after: cert.validity().not_after.timestamp().saturating_mul(1000),
        self_signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webpki_roots_version_matches_cargo_lock() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let at = lock
            .find("name = \"webpki-roots\"")
            .expect("webpki-roots in Cargo.lock");
        let version = lock[at..].lines().nth(1).unwrap();
        assert_eq!(version, format!("version = \"{WEBPKI_ROOTS_VERSION}\""));
    }

    #[test]
    fn cert_facts() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["mx.example.test".into()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.7".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mx.example.test");
        let cert = params.self_signed(&key).unwrap();
        let info = cert_info(cert.der()).unwrap();
        assert_eq!(info.sans, ["mx.example.test", "127.0.0.7"]);
        assert_eq!(info.subject, "CN=mx.example.test");
        assert_eq!(info.issuer, info.subject);
        assert!(info.self_signed);
        assert!(info.not_after > 0);
        assert_eq!(cert_info(&CertificateDer::from(vec![1, 2, 3])), None);
    }

    #[test]
    fn incompatible_peers() {
        let cases = [
            (
                rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
                true,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
                true,
            ),
            (
                rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
                true,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::DecodeError),
                false,
            ),
            (rustls::Error::DecryptError, false),
        ];
        for (e, want) in cases {
            assert_eq!(peer_incompatible(&e), want, "{e:?}");
        }
    }
}
