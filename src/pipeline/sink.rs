//! Where a domain's output goes: the domain sink's rules, apart from the stages.
//!
//! A domain's row goes to the domains writer. Each MX address the domain is the first to lead
//! to goes to the host stage (one hosts row per address, however many domains share it), with
//! how the scan came to it when the SMTP stage follows (its session tests that domain's
//! recipients). A domain that leads to no new address has its recipient tests
//! (`--smtp-recipients`) batched at its most preferred address with the other domains there.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use dashmap::{DashMap, DashSet};
use tokio::sync::mpsc;

use super::ScanStats;
use super::domain::DomainOutput;
use super::recipients::RecipientJob;
use super::smtp::Via;
use crate::output::{DomainRow, TableWriter};
use crate::smtp::session::RecipientDomain;

/// Remembers the addresses already handed to the host stage, so each gets one hosts row however
/// many domains share it. Bounded: past `capacity` a new address is probed without being
/// remembered (it may then get a second row), and counted.
#[derive(Debug)]
pub struct AddressDedup {
    seen: DashSet<IpAddr, ahash::RandomState>,
    capacity: usize,
    overflow: AtomicU64,
}

impl AddressDedup {
    pub fn new(capacity: usize) -> AddressDedup {
        AddressDedup {
            seen: DashSet::default(),
            capacity,
            overflow: Default::default(),
        }
    }

    /// True the first time an address is seen (and, past the capacity, for every address not
    /// remembered).
    pub fn first_time(&self, ip: IpAddr) -> bool {
        if self.seen.len() < self.capacity {
            self.seen.insert(ip)
        } else if self.seen.contains(&ip) {
            false
        } else {
            self.overflow.fetch_add(1, Relaxed);
            true
        }
    }

    /// Addresses passed on without being remembered.
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Relaxed)
    }
}

/// How the scan came to each address, from the domain stage to the SMTP stage. An entry lives
/// only while its address is between the two, so it is bounded by the channels.
pub type Vias = DashMap<IpAddr, Arc<Via>>;

/// What one domain's output leads to, besides its row.
#[derive(Debug, Default, PartialEq)]
pub struct Routes {
    /// Addresses for the host stage, each with the domain and exchange that led to it (for the
    /// SMTP stage; `None` without it).
    pub hosts: Vec<(IpAddr, Option<Via>)>,
    /// Its recipient tests at an address another domain led to first.
    pub batch: Option<RecipientJob>,
}

/// The domain stage's sink: the rules of [`Routes`] plus the sending.
pub struct DomainSink {
    pub domains: TableWriter<DomainRow>,
    pub stats: Arc<ScanStats>,
    pub dedup: Arc<AddressDedup>,
    /// The host stage's input; `None` without host checks (`mx_ips` is filled all the same).
    pub hosts: Option<mpsc::Sender<IpAddr>>,
    /// Where the SMTP stage finds how the scan came to an address; `None` without `--smtp`.
    pub vias: Option<Arc<Vias>>,
    /// The recipient batches' input; `None` without `--smtp-recipients`.
    pub batches: Option<mpsc::Sender<RecipientJob>>,
}

impl DomainSink {
    /// The sink's rules. Marks the addresses seen, so it is called once per domain output.
    pub fn route(&self, out: &DomainOutput) -> Routes {
        if self.hosts.is_none() {
            return Routes::default();
        }
        let first: Vec<bool> = out
            .ips
            .iter()
            .map(|ip| self.dedup.first_time(*ip))
            .collect();
        let via = |exchange: &String| Via {
            domain: out.row.domain.clone(),
            exchange: exchange.clone(),
            soa_contact: out.row.soa_rname.clone(),
        };
        let batch = match (&self.batches, out.ips.first(), out.exchanges.first()) {
            (Some(_), Some(ip), Some(exchange)) if !first.contains(&true) => Some(RecipientJob {
                ip: *ip,
                domain: RecipientDomain {
                    domain: out.row.domain.clone(),
                    exchange: exchange.clone(),
                    soa_contact: out.row.soa_rname.clone(),
                },
            }),
            _ => None,
        };
        let hosts = out
            .ips
            .iter()
            .zip(&out.exchanges)
            .zip(first)
            .filter(|(_, new)| *new)
            .map(|((ip, exchange), _)| (*ip, self.vias.as_ref().map(|_| via(exchange))))
            .collect();
        Routes { hosts, batch }
    }

    /// Writes the row and sends what it leads to (waiting while the next stages are full).
    pub async fn send(&self, out: DomainOutput) {
        self.stats.record_domain(&out.row);
        let routes = self.route(&out);
        self.domains.send(out.row).await;
        if let (Some(tx), Some(job)) = (&self.batches, routes.batch) {
            let _ = tx.send(job).await;
        }
        self.send_hosts(routes.hosts).await;
    }

    /// Sends addresses to the host stage, with how the scan came to them.
    pub async fn send_hosts(&self, hosts: Vec<(IpAddr, Option<Via>)>) {
        let Some(tx) = &self.hosts else {
            return;
        };
        for (ip, via) in hosts {
            if let (Some(vias), Some(via)) = (&self.vias, via) {
                vias.insert(ip, Arc::new(via));
            }
            if tx.send(ip).await.is_err() {
                break;
            }
        }
    }

    /// A resumed scan's MX addresses of done domains that have no hosts row (in flight at the
    /// kill): sent to the host stage first, in the background.
    pub fn resume_orphans(self: &Arc<Self>, orphans: Vec<(IpAddr, Option<Via>)>) {
        if orphans.is_empty() || self.hosts.is_none() {
            return;
        }
        let sink = self.clone();
        tokio::spawn(async move {
            let new = orphans
                .into_iter()
                .filter(|(ip, _)| sink.dedup.first_time(*ip))
                .collect();
            sink.send_hosts(new).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::DomainRow;

    fn out(domain: &str, mx: &[(&str, &str)]) -> DomainOutput {
        let mut row = DomainRow::failed(domain, "test", 0);
        row.soa_rname = Some(format!("hostmaster@{domain}"));
        DomainOutput {
            row,
            ips: mx.iter().map(|(ip, _)| ip.parse().unwrap()).collect(),
            exchanges: mx.iter().map(|(_, x)| x.to_string()).collect(),
        }
    }

    /// A sink with or without host checks, SMTP and recipient batches, and the channels'
    /// receivers kept alive.
    fn sink(
        host_checks: bool,
        smtp: bool,
        batches: bool,
    ) -> (
        DomainSink,
        mpsc::Receiver<IpAddr>,
        mpsc::Receiver<RecipientJob>,
        tempfile::TempDir,
    ) {
        let (htx, hrx) = mpsc::channel(16);
        let (btx, brx) = mpsc::channel(16);
        let dir = tempfile::tempdir().unwrap();
        let (domains, _done) = TableWriter::start(
            dir.path(),
            "domains",
            &Default::default(),
            None,
            Default::default(),
        )
        .unwrap();
        let sink = DomainSink {
            domains,
            stats: Arc::new(ScanStats::default()),
            dedup: Arc::new(AddressDedup::new(100)),
            hosts: host_checks.then_some(htx),
            vias: smtp.then(|| Arc::new(Vias::new())),
            batches: batches.then_some(btx),
        };
        (sink, hrx, brx, dir)
    }

    fn via(domain: &str, exchange: &str) -> Option<Via> {
        Some(Via {
            domain: domain.into(),
            exchange: exchange.into(),
            soa_contact: Some(format!("hostmaster@{domain}")),
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn each_address_goes_to_the_host_stage_once_and_a_domain_with_no_new_one_is_batched() {
        let (s, _h, _b, _d) = sink(true, true, true);
        let a = s.route(&out(
            "a.example",
            &[("192.0.2.1", "mx1.a"), ("192.0.2.2", "mx2.a")],
        ));
        assert_eq!(
            a,
            Routes {
                hosts: vec![
                    (ip("192.0.2.1"), via("a.example", "mx1.a")),
                    (ip("192.0.2.2"), via("a.example", "mx2.a")),
                ],
                batch: None,
            },
            "the first domain at its addresses: tested in their own sessions"
        );
        // Shares one address and brings a new one: only the new one, and no batch (its
        // recipients are tested in the new address's session).
        let b = s.route(&out(
            "b.example",
            &[("192.0.2.2", "mx.b"), ("192.0.2.3", "mx.b")],
        ));
        assert_eq!(b.hosts, vec![(ip("192.0.2.3"), via("b.example", "mx.b"))]);
        assert_eq!(b.batch, None);
        // Every address seen: batched at its most preferred one.
        let c = s.route(&out(
            "c.example",
            &[("192.0.2.3", "mx1.c"), ("192.0.2.1", "mx2.c")],
        ));
        assert_eq!(c.hosts, vec![]);
        let job = c.batch.expect("batched");
        assert_eq!(job.ip, ip("192.0.2.3"));
        assert_eq!(
            (job.domain.domain.as_str(), job.domain.exchange.as_str()),
            ("c.example", "mx1.c")
        );
        assert_eq!(
            job.domain.soa_contact.as_deref(),
            Some("hostmaster@c.example")
        );
    }

    #[tokio::test]
    async fn options_turn_rules_off() {
        // Without host checks: nothing beside the row, and the dedup is not touched.
        let (s, _h, _b, _d) = sink(false, true, true);
        assert_eq!(
            s.route(&out("a.example", &[("192.0.2.1", "mx")])),
            Routes::default()
        );
        assert!(s.dedup.first_time(ip("192.0.2.1")));
        // Without SMTP: addresses without how the scan came to them.
        let (s, _h, _b, _d) = sink(true, false, false);
        let r = s.route(&out("a.example", &[("192.0.2.1", "mx")]));
        assert_eq!(r.hosts, vec![(ip("192.0.2.1"), None)]);
        // Without recipient batches: a domain with no new address leads nowhere.
        assert_eq!(
            s.route(&out("b.example", &[("192.0.2.1", "mx")])),
            Routes::default()
        );
        // A domain without MX addresses is never batched.
        let (s, _h, _b, _d) = sink(true, true, true);
        assert_eq!(s.route(&out("n.example", &[])), Routes::default());
    }

    #[tokio::test]
    async fn send_records_the_via_for_the_smtp_stage_and_sends_the_address() {
        let (s, mut h, _b, _d) = sink(true, true, true);
        s.send(out("a.example", &[("192.0.2.1", "mx.a")])).await;
        assert_eq!(h.recv().await, Some(ip("192.0.2.1")));
        let v = s
            .vias
            .as_ref()
            .unwrap()
            .get(&ip("192.0.2.1"))
            .unwrap()
            .clone();
        assert_eq!(Some((*v).clone()), via("a.example", "mx.a"));
        assert_eq!(s.stats.done.load(Relaxed), 1, "the row is counted");
    }

    #[test]
    fn the_dedup_is_bounded_and_counts_what_it_could_not_remember() {
        let d = AddressDedup::new(1);
        assert!(d.first_time(ip("192.0.2.1")));
        assert!(!d.first_time(ip("192.0.2.1")));
        assert!(d.first_time(ip("192.0.2.2")));
        assert!(
            d.first_time(ip("192.0.2.2")),
            "not remembered past the capacity"
        );
        assert_eq!(d.overflow(), 2);
    }
}
