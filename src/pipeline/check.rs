//! `mxray check`: the scan's own probes called one after the other for one target, without
//! stages, writers or an output directory. A domain goes through the domain probe; each of its
//! MX addresses through the host probe and then the SMTP probe, whose session also runs the
//! domain's recipient tests (as an address's own session does in a scan). An address target
//! goes through the host and SMTP probes alone. Nothing here judges: the rows are what a scan
//! would have written, and [`crate::check`] reads them.

use std::net::IpAddr;
use std::sync::Arc;

use super::domain::DomainProbe;
use super::host::{HostChecker, HostProbe};
use super::policies::PolicyStage;
use super::smtp::{SmtpProbe, SmtpTarget, Via};
use super::stage::Probe;
use super::{ScanError, ScanOptions, ScanStats};
use crate::check::{CheckTarget, CheckedHost, Observed};
use crate::dns::{Engine, Resolver};
use crate::output::HostRow;

/// The probes of a scan built from its options, for targets one at a time.
pub struct Checker {
    domain: DomainProbe,
    host: HostProbe,
    smtp: Option<SmtpProbe>,
    checker: Arc<HostChecker>,
}

impl Checker {
    /// The probes `opts` configure, as [`crate::pipeline::scan`] builds them (the output,
    /// target, concurrency and progress options are not used).
    pub async fn new(opts: &ScanOptions) -> Result<Checker, ScanError> {
        let policy = Arc::new(PolicyStage::new(opts.policies.clone())?);
        let resolver = Resolver::new(Engine::new(opts.engine.clone()).await?, opts.cache.clone());
        let checker = Arc::new(HostChecker::new(opts.hosts.clone()));
        let smtp = match &opts.smtp {
            Some(o) => {
                let tls = crate::smtp::TlsProbe::new(&o.extra_roots, o.only_extra_roots)?;
                Some(SmtpProbe::new(o.clone(), tls))
            }
            None => None,
        };
        Ok(Checker {
            domain: DomainProbe {
                resolver: resolver.clone(),
                opts: opts.domain.clone(),
                policy,
                stats: Arc::new(ScanStats::default()),
                checker: checker.clone(),
                concurrency: 1,
            },
            host: HostProbe {
                resolver,
                checker: checker.clone(),
                concurrency: 1,
            },
            smtp,
            checker,
        })
    }

    /// Every check of one target. Never fails: what could not be told is a status in the rows.
    pub async fn check(&self, target: CheckTarget) -> Observed {
        let dnsbl_zones = self.checker.zones().map(str::to_string).collect();
        match target {
            CheckTarget::Address(ip) => {
                let host = self.host_and_smtp(ip, None).await;
                Observed {
                    target: CheckTarget::Address(ip),
                    domain: None,
                    hosts: vec![host],
                    dnsbl_zones,
                    smtp: self.smtp.is_some(),
                }
            }
            CheckTarget::Domain(name) => {
                let out = self.domain.probe(name.clone()).await;
                let soa_contact = out.row.soa_rname.clone();
                let hosts = futures::future::join_all(out.ips.iter().zip(&out.exchanges).map(
                    |(ip, exchange)| {
                        let via = Via {
                            domain: name.clone(),
                            exchange: exchange.clone(),
                            soa_contact: soa_contact.clone(),
                        };
                        self.host_and_smtp(*ip, Some(via))
                    },
                ))
                .await;
                Observed {
                    target: CheckTarget::Domain(name),
                    domain: Some(out.row),
                    hosts,
                    dnsbl_zones,
                    smtp: self.smtp.is_some(),
                }
            }
        }
    }

    /// One address: the host probe, then the SMTP probe with how the check came to it.
    async fn host_and_smtp(&self, ip: IpAddr, via: Option<Via>) -> CheckedHost {
        let exchange = via.as_ref().map(|v| v.exchange.clone());
        let row: HostRow = self.host.probe(ip).await;
        let Some(smtp) = &self.smtp else {
            return CheckedHost {
                exchange,
                row,
                recipients: Vec::new(),
            };
        };
        let out = smtp
            .probe(SmtpTarget {
                row,
                via: via.map(Arc::new),
            })
            .await;
        CheckedHost {
            exchange,
            row: out.row,
            recipients: out.recipients,
        }
    }
}
