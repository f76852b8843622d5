//! A second TLS attempt through OpenSSL at security level 0, for servers whose handshake with
//! rustls failed as incompatible (rustls speaks only TLS 1.2 and 1.3 with modern suites, by
//! design). It tells "an old server that offers TLS 1.0 only" from "a broken TLS server", which
//! is what an operator needs to know; rustls cannot, so the `openssl s_client` program does it,
//! and only on that rare path. It is a second connection, made after the first closed, so the
//! address still has one connection at a time.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// What the legacy handshake negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTls {
    /// OpenSSL's name: `TLSv1`, `TLSv1.1`, `SSLv3`.
    pub version: String,
    /// OpenSSL's name: `ECDHE-RSA-AES256-SHA`.
    pub cipher: String,
}

/// How to make the attempt.
#[derive(Debug, Clone)]
pub struct LegacyProbe {
    /// The `openssl` program. Default `openssl` (from PATH).
    pub program: String,
}

impl Default for LegacyProbe {
    fn default() -> Self {
        LegacyProbe {
            program: "openssl".into(),
        }
    }
}

/// Bytes of s_client output read at most.
const OUTPUT_MAX: u64 = 64 * 1024;

impl LegacyProbe {
    /// One handshake through OpenSSL at security level 0 (all versions and suites it has),
    /// after `STARTTLS` when `starttls` (s_client says EHLO with `helo`), within `timeout`.
    /// `Err` says why it did not establish TLS.
    pub async fn attempt(
        &self,
        addr: SocketAddr,
        starttls: bool,
        helo: &str,
        server_name: Option<&str>,
        timeout: Duration,
    ) -> Result<LegacyTls, String> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("s_client")
            .arg("-brief")
            .args(["-connect", &addr.to_string()])
            .args(["-cipher", "ALL:@SECLEVEL=0"]);
        if starttls {
            cmd.args(["-starttls", "smtp", "-name", helo]);
        }
        if let Some(n) = server_name {
            cmd.args(["-servername", n]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{} not run: {e}", self.program))?;
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        let read = async {
            let mut text = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.take(OUTPUT_MAX).read_to_string(&mut text).await;
            }
            if let Some(o) = out.as_mut() {
                let _ = o.take(OUTPUT_MAX).read_to_string(&mut text).await;
            }
            let _ = child.wait().await;
            text
        };
        let text = tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| "openssl s_client timed out".to_string())?;
        parse_brief(&text).ok_or_else(|| {
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!("no TLS through OpenSSL either: {}", last.trim())
        })
    }
}

/// The version and suite of `s_client -brief` output.
fn parse_brief(text: &str) -> Option<LegacyTls> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
            .filter(|v| !v.is_empty())
    };
    text.contains("CONNECTION ESTABLISHED").then_some(())?;
    Some(LegacyTls {
        version: field("Protocol version:")?,
        cipher: field("Ciphersuite:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_output() {
        let ok = "depth=0 CN = old.test\nCONNECTION ESTABLISHED\nProtocol version: TLSv1\nCiphersuite: ECDHE-RSA-AES256-SHA\n";
        assert_eq!(
            parse_brief(ok),
            Some(LegacyTls {
                version: "TLSv1".into(),
                cipher: "ECDHE-RSA-AES256-SHA".into()
            })
        );
        assert_eq!(
            parse_brief("error:0A000438:SSL routines::tlsv1 alert internal error"),
            None
        );
        assert_eq!(parse_brief("CONNECTION ESTABLISHED\n"), None);
    }
}
