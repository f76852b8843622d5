//! The typed values of the status columns. A row holds these, not strings, so that a status
//! outside a column's closed set cannot be written; the column accessors turn them into the
//! contract's strings with `as_str`.

use crate::checks::RecordStatus;
use crate::checks::bimi::BimiStatus;
use crate::checks::dkim::DkimStatus;
use crate::checks::spf::SpfStatus;
use crate::dns::Status;

/// `mta_sts_policy_status`, defined by the MTA-STS check; here for the paths that name it so.
pub use crate::checks::mta_sts::StsPolicyStatus;

/// A check status with its contract string; lets [`Checked`] wrap any check's status.
pub trait StatusName: Copy {
    fn as_str(self) -> &'static str;
}

macro_rules! status_name {
    ($($t:ty),*) => {$(
        impl StatusName for $t {
            fn as_str(self) -> &'static str {
                <$t>::as_str(self)
            }
        }
    )*};
}
status_name!(Status, SpfStatus, RecordStatus, DkimStatus, BimiStatus);

/// A check's status, or `error` when the probe that runs the check failed itself (a panic: a bug
/// in mxray, not an answer from the domain). The checks never say `error`, so it is not one of
/// their variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked<S> {
    Done(S),
    ProbeError,
}

impl<S: StatusName> Checked<S> {
    pub fn as_str(self) -> &'static str {
        match self {
            Checked::Done(s) => s.as_str(),
            Checked::ProbeError => "error",
        }
    }
}

impl<S> Checked<S> {
    /// What the check found; None when its probe failed.
    pub fn done(&self) -> Option<&S> {
        match self {
            Checked::Done(s) => Some(s),
            Checked::ProbeError => None,
        }
    }
}

impl<S> From<S> for Checked<S> {
    fn from(s: S) -> Self {
        Checked::Done(s)
    }
}

/// `domain_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainStatus {
    Ok,
    /// The domain probe itself failed (`domain_error` says why).
    Error,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Ok => "ok",
            DomainStatus::Error => "error",
        }
    }
}

/// `host_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Ok,
    /// Excluded: no check was made (`skip_reason` says why).
    Skipped,
    /// The host probe itself failed (`host_error` says why).
    Error,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Ok => "ok",
            HostStatus::Skipped => "skipped",
            HostStatus::Error => "error",
        }
    }
}
