//! One SMTP connection: plain TCP or TLS, every read and write bounded by the reply timeout and
//! by the session's deadline, with an optional bounded transcript.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::command::Command;
use super::reply::{Reply, ReplyError, ReplyLimits, read_reply};

/// Why a session ended before its end, as the `smtp_status` values of the output contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("connection refused")]
    Refused(String),
    /// No route to the network or the host (`ENETUNREACH`, `EHOSTUNREACH`): often the
    /// scanner's own network (an IPv6 address from a host without IPv6), not the server.
    #[error("unreachable")]
    Unreachable(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The server closed or reset the connection.
    #[error("connection closed: {0}")]
    Reset(String),
    #[error("{0}")]
    Protocol(String),
    /// The handshake failed; `incompatible` when the server offered nothing rustls speaks
    /// (only TLS 1.0/1.1 or legacy suites), which is not the same as a broken server.
    #[error("TLS: {why}")]
    Tls { why: String, incompatible: bool },
}

/// `smtp_status`: the output contract's closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStatus {
    /// An SMTP dialogue took place, whatever the server answered (`smtp_outcome` says more).
    Ok,
    Refused,
    Timeout,
    Reset,
    ProtocolError,
    TlsError,
    /// Excluded: no packet was sent.
    Skipped,
}

impl SmtpStatus {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpStatus::Ok => "ok",
            SmtpStatus::Refused => "refused",
            SmtpStatus::Timeout => "timeout",
            SmtpStatus::Reset => "reset",
            SmtpStatus::ProtocolError => "protocol-error",
            SmtpStatus::TlsError => "tls-error",
            SmtpStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for SmtpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ConnError {
    /// The `smtp_status` value: the contract has no word for an unreachable address, and
    /// `refused` is the one its readers take for "no TCP connection".
    pub fn status(&self) -> SmtpStatus {
        match self {
            ConnError::Refused(_) | ConnError::Unreachable(_) => SmtpStatus::Refused,
            ConnError::Timeout(_) => SmtpStatus::Timeout,
            ConnError::Reset(_) => SmtpStatus::Reset,
            ConnError::Protocol(_) => SmtpStatus::ProtocolError,
            ConnError::Tls { .. } => SmtpStatus::TlsError,
        }
    }

    /// The detail for `smtp_error`.
    pub fn detail(&self) -> String {
        match self {
            ConnError::Refused(why) | ConnError::Unreachable(why) => format!("connect: {why}"),
            other => other.to_string(),
        }
    }
}

/// Why a TCP connect failed. A reset is the server's (or a middlebox's) doing, as it is later in
/// the dialogue; an unreachable network or host is a route's; whatever else the system says
/// stays `refused`, the contract's word for "no connection".
pub(super) fn connect_error(e: io::Error) -> ConnError {
    use io::ErrorKind::*;
    match e.kind() {
        TimedOut => ConnError::Timeout("connecting"),
        ConnectionReset | ConnectionAborted => ConnError::Reset(format!("at connect: {e}")),
        NetworkUnreachable | HostUnreachable => ConnError::Unreachable(e.to_string()),
        _ => ConnError::Refused(e.to_string()),
    }
}

fn io_error(e: io::Error) -> ConnError {
    use io::ErrorKind::*;
    match e.kind() {
        TimedOut => ConnError::Timeout("in a read or write"),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            ConnError::Reset(e.to_string())
        }
        _ => ConnError::Reset(e.to_string()),
    }
}

fn reply_error(e: ReplyError) -> ConnError {
    match e {
        ReplyError::Closed => ConnError::Reset("by the server".into()),
        ReplyError::Io(k) => io_error(k.into()),
        other => ConnError::Protocol(other.to_string()),
    }
}

/// Deadlines of one session.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// TCP connect. Default 10 s.
    pub connect: Duration,
    /// One reply (all its lines), or one write. Default 30 s.
    pub reply: Duration,
    /// The whole session, every step and a second TLS attempt included. Default 90 s.
    pub session: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            reply: Duration::from_secs(30),
            session: Duration::from_secs(90),
        }
    }
}

/// The dialogue of a session, bounded: `C: EHLO ...` and `S: 250 ...` lines.
#[derive(Debug, Default)]
pub struct Transcript {
    lines: Vec<String>,
    bytes: usize,
    truncated: bool,
}

/// Bytes of transcript kept per session.
const TRANSCRIPT_MAX: usize = 16 * 1024;

impl Transcript {
    fn push(&mut self, line: String) {
        if self.bytes + line.len() > TRANSCRIPT_MAX {
            self.truncated = true;
            return;
        }
        self.bytes += line.len() + 1;
        self.lines.push(line);
    }

    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        if self.truncated {
            s.push_str("\n[transcript truncated]");
        }
        s
    }
}

type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// A connection and its bounds.
pub struct Conn {
    stream: Option<BufReader<Stream>>,
    limits: ReplyLimits,
    reply_timeout: Duration,
    end: Instant,
    pub transcript: Option<Transcript>,
    /// Commands written, in order (for the tests' "never DATA" assertion and for debugging).
    pub sent: Vec<&'static str>,
}

impl Conn {
    /// Connects within the connect deadline (and the session's).
    pub async fn connect(
        addr: SocketAddr,
        deadlines: &Deadlines,
        end: Instant,
        limits: ReplyLimits,
        transcript: bool,
    ) -> Result<Conn, ConnError> {
        let until = (Instant::now() + deadlines.connect).min(end);
        let tcp = match tokio::time::timeout_at(until, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnError::Timeout("connecting")),
            Ok(Err(e)) => return Err(connect_error(e)),
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        Ok(Conn {
            stream: Some(BufReader::new(Either::Left(tcp))),
            limits,
            reply_timeout: deadlines.reply,
            end,
            transcript: transcript.then(Transcript::default),
            sent: Vec::new(),
        })
    }

    pub fn reply_timeout(&self) -> Duration {
        self.reply_timeout
    }

    fn until(&self) -> Instant {
        (Instant::now() + self.reply_timeout).min(self.end)
    }

    fn stream(&mut self) -> Result<&mut BufReader<Stream>, ConnError> {
        self.stream
            .as_mut()
            .ok_or_else(|| ConnError::Reset("after a failed TLS handshake".into()))
    }

    pub fn is_tls(&self) -> bool {
        matches!(
            self.stream.as_ref().map(|s| s.get_ref()),
            Some(Either::Right(_))
        )
    }

    /// Reads one reply within the reply deadline.
    pub async fn reply(&mut self) -> Result<Reply, ConnError> {
        let (until, limits) = (self.until(), self.limits);
        let stream = self.stream()?;
        let r = match tokio::time::timeout_at(until, read_reply(stream, &limits)).await {
            Err(_) => Err(ConnError::Timeout("waiting for a reply")),
            Ok(r) => r.map_err(reply_error),
        };
        if let (Some(t), Ok(reply)) = (self.transcript.as_mut(), &r) {
            for (i, l) in reply.lines.iter().enumerate() {
                let sep = if i + 1 == reply.lines.len() { ' ' } else { '-' };
                t.push(format!("S: {}{sep}{l}", reply.code));
            }
        }
        if let (Some(t), Err(e)) = (self.transcript.as_mut(), &r) {
            t.push(format!("!: {e}"));
        }
        r
    }

    /// Writes one command within the reply deadline.
    pub async fn send(&mut self, cmd: &Command) -> Result<(), ConnError> {
        let line = format!("{cmd}\r\n");
        if let Some(t) = self.transcript.as_mut() {
            t.push(format!("C: {cmd}"));
        }
        self.sent.push(cmd.verb());
        let until = self.until();
        let stream = self.stream()?.get_mut();
        match tokio::time::timeout_at(until, async {
            stream.write_all(line.as_bytes()).await?;
            stream.flush().await
        })
        .await
        {
            Err(_) => Err(ConnError::Timeout("writing a command")),
            Ok(r) => r.map_err(io_error),
        }
    }

    /// Sends a command and reads its reply.
    pub async fn command(&mut self, cmd: &Command) -> Result<Reply, ConnError> {
        self.send(cmd).await?;
        self.reply().await
    }

    /// Starts TLS on the connection (after `220` to STARTTLS, or at once for port 465). Data
    /// the server sent after its reply and before the handshake is refused: accepting it is the
    /// STARTTLS command-injection flaw (CVE-2011-0411), where plaintext is read as if it had
    /// come over TLS.
    pub async fn start_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
        handshake: Duration,
    ) -> Result<(), ConnError> {
        let reader = self
            .stream
            .take()
            .ok_or_else(|| ConnError::Reset("after a failed TLS handshake".into()))?;
        if !reader.buffer().is_empty() {
            return Err(ConnError::Protocol(
                "the server sent data after its STARTTLS reply, before the handshake".into(),
            ));
        }
        let tcp = match reader.into_inner() {
            Either::Left(tcp) => tcp,
            Either::Right(_) => return Err(ConnError::Protocol("STARTTLS inside TLS".into())),
        };
        let until = (Instant::now() + handshake).min(self.end);
        match tokio::time::timeout_at(until, connector.connect(name, tcp)).await {
            Err(_) => Err(ConnError::Timeout("in the TLS handshake")),
            Ok(Err(e)) => {
                // tokio-rustls hands rustls's error inside the io::Error; its kind tells an
                // incompatible peer from a broken one.
                let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                let why = tls.map_or_else(|| e.to_string(), |t| t.to_string());
                let incompatible = tls.is_some_and(super::tls::peer_incompatible);
                if let Some(t) = self.transcript.as_mut() {
                    t.push(format!("!: TLS handshake failed: {why}"));
                }
                Err(ConnError::Tls { why, incompatible })
            }
            Ok(Ok(tls)) => {
                if let Some(t) = self.transcript.as_mut() {
                    t.push("!: TLS established".into());
                }
                self.stream = Some(BufReader::new(Either::Right(Box::new(tls))));
                Ok(())
            }
        }
    }

    /// The TLS connection's state, once TLS is up.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self.stream.as_ref()?.get_ref() {
            Either::Right(tls) => Some(tls.get_ref().1),
            Either::Left(_) => None,
        }
    }

    /// Closes the connection (a TLS close_notify first, when TLS is up), within a short bound.
    pub async fn close(&mut self) {
        if let Some(mut s) = self.stream.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.get_mut().shutdown()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connect errors a loopback test cannot produce (an unreachable network needs a route
    /// changed; an RST to a SYN is ECONNREFUSED on Linux, ECONNRESET comes from middleboxes and
    /// other systems), mapped from the system's errno.
    #[test]
    fn connect_errors() {
        // (errno, smtp_status, error starts with)
        let cases = [
            (libc::ECONNREFUSED, "refused", "connect: "),
            (libc::ECONNRESET, "reset", "connection closed: at connect: "),
            (
                libc::ECONNABORTED,
                "reset",
                "connection closed: at connect: ",
            ),
            (libc::ENETUNREACH, "refused", "connect: "),
            (libc::EHOSTUNREACH, "refused", "connect: "),
            (libc::ETIMEDOUT, "timeout", "timed out connecting"),
            (libc::EADDRNOTAVAIL, "refused", "connect: "),
        ];
        for (errno, status, detail) in cases {
            let e = connect_error(io::Error::from_raw_os_error(errno));
            assert_eq!(e.status().to_string(), status, "errno {errno}: {e:?}");
            assert!(e.detail().starts_with(detail), "errno {errno}: {e:?}");
        }
    }
}
