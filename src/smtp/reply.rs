//! SMTP replies (RFC 5321 4.2): `DDD-text` continuation lines and a final `DDD text` (or `DDD`)
//! line, read with bounds on the line length, the line count and the total size, since a
//! scanner meets servers that send endless or huge replies.
//!
//! Written by hand rather than taken from a mail crate: clients such as lettre parse replies
//! from an unbounded buffered line reader and give no way to bound a hostile server's reply.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Bounds on one reply.
#[derive(Debug, Clone, Copy)]
pub struct ReplyLimits {
    /// Bytes of one line, CRLF included. Default 4,096 (RFC 5321 4.5.3.1.5 sets 512; real
    /// servers send longer EHLO lines, so the bound is lenient).
    pub max_line: usize,
    /// Lines of one reply. Default 128 (a long EHLO reply has about 20).
    pub max_lines: usize,
    /// Bytes of one reply. Default 64 KiB.
    pub max_bytes: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_line: 4096,
            max_lines: 128,
            max_bytes: 64 * 1024,
        }
    }
}

/// One reply: its code and the text of each line (without the code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// 2, 3, 4 or 5.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    pub fn is_positive(&self) -> bool {
        self.class() == 2
    }

    pub fn is_transient(&self) -> bool {
        self.class() == 4
    }

    pub fn is_permanent(&self) -> bool {
        self.class() == 5
    }

    /// The first line as sent: `220 mx.example.com ESMTP`.
    pub fn first_line(&self) -> String {
        match self.lines.first() {
            Some(t) if !t.is_empty() => format!("{} {t}", self.code),
            _ => self.code.to_string(),
        }
    }

    /// `code text` of every line, joined by ` / `: for error columns.
    pub fn summary(&self) -> String {
        let text = self.lines.join(" / ");
        if text.is_empty() {
            self.code.to_string()
        } else {
            format!("{} {text}", self.code)
        }
    }

    /// The first word of the first line: the host name a greeting or an EHLO reply announces
    /// (RFC 5321 4.3.1 and 4.1.1.1), lower-cased and without a trailing dot, if it looks like
    /// a domain or an address literal. An enhanced status code before it (RFC 2034 puts one at
    /// the start of the text: `421 4.3.2 mx.example.org busy`) is skipped, not taken for a name.
    pub fn announced_name(&self) -> Option<String> {
        let mut words = self.lines.first()?.split_ascii_whitespace().peekable();
        words.next_if(|w| is_enhanced(w));
        let name = words.next()?.trim_end_matches('.').to_ascii_lowercase();
        let domain_like = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            && name.contains('.');
        let literal = name.starts_with('[') && name.ends_with(']');
        (domain_like || literal).then_some(name)
    }

    /// EHLO extension keywords (RFC 5321 4.1.1.1: every line after the first), upper case.
    pub fn ehlo_keywords(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .filter_map(|l| l.split_ascii_whitespace().next())
            .map(|k| k.to_ascii_uppercase())
            .collect()
    }

    /// The enhanced status code (RFC 3463) at the start of the first line, if any: `5.7.0`.
    pub fn enhanced(&self) -> Option<&str> {
        let w = self.lines.first()?.split_ascii_whitespace().next()?;
        is_enhanced(w).then_some(w)
    }
}

/// An enhanced status code (RFC 3463 2): `class.subject.detail`, the class 2, 4 or 5, the
/// subject and the detail one to three digits.
fn is_enhanced(w: &str) -> bool {
    let mut parts = w.split('.');
    parts.next().is_some_and(|c| matches!(c, "2" | "4" | "5"))
        && parts.clone().count() == 2
        && parts.all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Why no reply could be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplyError {
    /// The server closed the connection before a whole reply.
    #[error("connection closed by the server")]
    Closed,
    #[error("reply line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("reply of more than {0} lines")]
    TooManyLines(usize),
    #[error("reply of more than {0} bytes")]
    TooBig(usize),
    #[error("malformed reply line: {0}")]
    Malformed(String),
    #[error("read failed: {0}")]
    Io(std::io::ErrorKind),
}

/// Parses one reply line (CRLF or LF removed): its code, whether it is the last line, its text.
pub fn parse_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let bad = || ReplyError::Malformed(shown(line));
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let code =
        (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
    if !(200..600).contains(&code) {
        return Err(bad());
    }
    let (last, text) = match line.get(3) {
        None => (true, &line[3..3]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return Err(bad()),
    };
    Ok((
        code,
        last,
        String::from_utf8_lossy(text).trim_end().to_string(),
    ))
}

/// A line for an error message: lossy, control characters escaped, at most 80 bytes.
fn shown(line: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&line[..line.len().min(80)])
        .chars()
        .flat_map(char::escape_default)
        .collect();
    if line.len() > 80 { s + "..." } else { s }
}

/// Reads one whole reply. The caller bounds the time.
pub async fn read_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    limits: &ReplyLimits,
) -> Result<Reply, ReplyError> {
    let mut code = None;
    let mut lines = Vec::new();
    let mut total = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        read_line(r, &mut line, limits.max_line).await?;
        total += line.len();
        if total > limits.max_bytes {
            return Err(ReplyError::TooBig(limits.max_bytes));
        }
        let end = line.len() - usize::from(line.ends_with(b"\n"));
        let end = end - usize::from(line[..end].ends_with(b"\r"));
        let (c, last, text) = parse_line(&line[..end])?;
        if *code.get_or_insert(c) != c {
            return Err(ReplyError::Malformed(format!(
                "code {c} in a reply that began with {}",
                code.unwrap_or(c)
            )));
        }
        lines.push(text);
        if last {
            return Ok(Reply { code: c, lines });
        }
        if lines.len() >= limits.max_lines {
            return Err(ReplyError::TooManyLines(limits.max_lines));
        }
    }
}

/// Reads up to and including `\n`, never more than `max` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), ReplyError> {
    loop {
        let buf = r.fill_buf().await.map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ReplyError::Closed,
            k => ReplyError::Io(k),
        })?;
        if buf.is_empty() {
            return Err(ReplyError::Closed);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if out.len() + take > max {
            return Err(ReplyError::LineTooLong(max));
        }
        out.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    async fn read(input: &[u8], limits: ReplyLimits) -> Result<Reply, ReplyError> {
        let mut r = tokio::io::BufReader::with_capacity(7, input);
        read_reply(&mut r, &limits).await
    }

    #[tokio::test]
    async fn replies() {
        let l = ReplyLimits::default();
        let cases: &[(&[u8], Result<Reply, ReplyError>)] = &[
            (
                b"220 mx.example ESMTP\r\n",
                Ok(reply(220, &["mx.example ESMTP"])),
            ),
            (b"250\r\n", Ok(reply(250, &[""]))),
            (b"250 ok\n", Ok(reply(250, &["ok"]))),
            (
                b"250-mx.example\r\n250-SIZE 10\r\n250 STARTTLS\r\n",
                Ok(reply(250, &["mx.example", "SIZE 10", "STARTTLS"])),
            ),
            (
                b"250-a\r\n251 b\r\n",
                Err(ReplyError::Malformed(
                    "code 251 in a reply that began with 250".into(),
                )),
            ),
            (b"hello\r\n", Err(ReplyError::Malformed("hello".into()))),
            (b"25\r\n", Err(ReplyError::Malformed("25".into()))),
            (b"999 x\r\n", Err(ReplyError::Malformed("999 x".into()))),
            (b"250_x\r\n", Err(ReplyError::Malformed("250_x".into()))),
            (b"250-a\r\n", Err(ReplyError::Closed)),
            (b"", Err(ReplyError::Closed)),
            (b"220 no newline", Err(ReplyError::Closed)),
        ];
        for (input, want) in cases {
            assert_eq!(
                &read(input, l).await,
                want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[tokio::test]
    async fn bounds() {
        let l = ReplyLimits {
            max_line: 16,
            max_lines: 3,
            max_bytes: 40,
        };
        let long = [b"220 ".as_slice(), &[b'x'; 100], b"\r\n"].concat();
        assert_eq!(read(&long, l).await, Err(ReplyError::LineTooLong(16)));
        let many = b"250-a\r\n".repeat(5);
        assert_eq!(read(&many, l).await, Err(ReplyError::TooManyLines(3)));
        let big = b"250-aaaaaaaaaa\r\n".repeat(3);
        assert_eq!(read(&big, l).await, Err(ReplyError::TooBig(40)));
        // An endless line without a newline ends at the bound, not at memory exhaustion.
        let endless = vec![b'2'; 1 << 20];
        assert_eq!(
            read(&endless, ReplyLimits::default()).await,
            Err(ReplyError::LineTooLong(4096))
        );
    }

    #[test]
    fn announced_names() {
        // (first line of the reply, the name announced)
        let cases: &[(&str, Option<&str>)] = &[
            ("mx.Example.COM. Hello", Some("mx.example.com")),
            ("[127.0.0.1] ready", Some("[127.0.0.1]")),
            ("[IPv6:2001:db8::1] ESMTP", Some("[ipv6:2001:db8::1]")),
            ("localhost ESMTP", None),
            ("", None),
            // RFC 2034 / RFC 3463: an enhanced status code comes first, the name after it.
            ("4.3.2 mx.example.org too busy", Some("mx.example.org")),
            ("2.0.0 mx.example.org ESMTP", Some("mx.example.org")),
            ("5.7.1 no service for you", None),
            ("4.3.2", None),
            // Not enhanced codes: a class other than 2, 4, 5, four parts, a four-digit part.
            ("1.2.3 x", Some("1.2.3")),
            ("192.0.2.25 ESMTP", Some("192.0.2.25")),
            ("4.3.2000 mx.example.org", Some("4.3.2000")),
        ];
        for (line, want) in cases {
            assert_eq!(
                reply(421, &[line]).announced_name().as_deref(),
                *want,
                "{line:?}"
            );
        }
    }

    #[test]
    fn reply_accessors() {
        let ehlo = reply(
            250,
            &[
                "mx.Example.COM. Hello",
                "PIPELINING",
                "size 1000",
                "STARTTLS",
            ],
        );
        assert_eq!(ehlo.announced_name().as_deref(), Some("mx.example.com"));
        assert_eq!(ehlo.ehlo_keywords(), ["PIPELINING", "SIZE", "STARTTLS"]);
        assert_eq!(reply(220, &["localhost ESMTP"]).announced_name(), None);
        assert_eq!(
            reply(220, &["[127.0.0.1] ready"])
                .announced_name()
                .as_deref(),
            Some("[127.0.0.1]")
        );
        assert_eq!(reply(220, &[""]).announced_name(), None);
        assert_eq!(
            reply(220, &["mx.example ESMTP"]).first_line(),
            "220 mx.example ESMTP"
        );
        assert_eq!(
            reply(530, &["5.7.0 Must issue a STARTTLS command first"]).enhanced(),
            Some("5.7.0")
        );
        assert_eq!(reply(554, &["Relay denied"]).enhanced(), None);
        assert_eq!(reply(554, &["1.2.3 x"]).enhanced(), None);
        assert_eq!(reply(554, &["a", "b"]).summary(), "554 a / b");
    }
}
