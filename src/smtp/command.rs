//! The commands mxray can send. There is deliberately no `DATA`, `BDAT`, `VRFY` or `EXPN`
//! variant: a message can never be sent because no code path can write one. Every argument is
//! checked to hold printable ASCII only, so no CR or LF can smuggle a second command (a `DATA`
//! after a crafted address) into a line.

use std::fmt;

/// An argument that is safe on one command line: printable ASCII (space included inside
/// quoted local parts), at most 320 bytes (RFC 5321 4.5.3.1.3 paths are 256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg(String);

impl Arg {
    pub fn new(s: impl Into<String>) -> Option<Arg> {
        let s = s.into();
        let ok = !s.is_empty() && s.len() <= 320 && s.bytes().all(|b| (0x20..0x7f).contains(&b));
        ok.then_some(Arg(s))
    }

    /// The empty reverse path of `MAIL FROM:<>` (RFC 5321 4.5.5, the null sender).
    pub fn null() -> Arg {
        Arg(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(Arg),
    Helo(Arg),
    StartTls,
    /// `MAIL FROM:<path>`.
    Mail(Arg),
    /// `RCPT TO:<path>`.
    Rcpt(Arg),
    Rset,
    Quit,
}

impl Command {
    /// The command's verb, for error columns (`ehlo`, `mail`, ...).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "ehlo",
            Command::Helo(_) => "helo",
            Command::StartTls => "starttls",
            Command::Mail(_) => "mail",
            Command::Rcpt(_) => "rcpt",
            Command::Rset => "rset",
            Command::Quit => "quit",
        }
    }
}

impl fmt::Display for Command {
    /// The line as sent, without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(a) => write!(f, "EHLO {}", a.0),
            Command::Helo(a) => write!(f, "HELO {}", a.0),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Mail(a) => write!(f, "MAIL FROM:<{}>", a.0),
            Command::Rcpt(a) => write!(f, "RCPT TO:<{}>", a.0),
            Command::Rset => f.write_str("RSET"),
            Command::Quit => f.write_str("QUIT"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_cannot_carry_a_second_command() {
        for bad in [
            "a\r\nDATA",
            "a\nDATA",
            "a\rb",
            "a\0b",
            "",
            "é@x",
            &"x".repeat(321),
        ] {
            assert_eq!(Arg::new(bad), None, "{bad:?}");
        }
        for good in ["x@y.test", "\"a b\"@y.test", "@[127.0.0.1]:x@y", "y.test!x"] {
            assert!(Arg::new(good).is_some(), "{good:?}");
        }
    }

    #[test]
    fn lines() {
        let a = |s| Arg::new(s).unwrap();
        let cases = [
            (Command::Ehlo(a("scanner.example")), "EHLO scanner.example"),
            (Command::Helo(a("scanner.example")), "HELO scanner.example"),
            (Command::StartTls, "STARTTLS"),
            (Command::Mail(Arg::null()), "MAIL FROM:<>"),
            (Command::Mail(a("a@b.test")), "MAIL FROM:<a@b.test>"),
            (Command::Rcpt(a("c@d.test")), "RCPT TO:<c@d.test>"),
            (Command::Rset, "RSET"),
            (Command::Quit, "QUIT"),
        ];
        for (c, line) in cases {
            assert_eq!(c.to_string(), line);
        }
    }
}
