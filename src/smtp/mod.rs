//! SMTP probes: reply parsing ([`reply`]), the commands that can be sent ([`command`]: no DATA),
//! one bounded connection ([`conn`]), STARTTLS and the certificate ([`tls`]), the open-relay
//! variants ([`relay`]) and the session state machine ([`session`]).

pub mod command;
pub mod conn;
pub mod legacy;
pub mod relay;
pub mod reply;
pub mod session;
pub mod tls;

#[cfg(test)]
mod tests;

pub use conn::SmtpStatus;
pub use session::{Outcome, SessionOptions, SessionReport, SessionTarget};
pub use tls::TlsProbe;
