//! The lab: a safe simulated internet of mail domains inside the process, on loopback only.
//!
//! - [`world`]: the seeded generator (proportions in `datasets/lab-world.csv`) and the ground
//!   truth of every domain and host;
//! - [`dns`]: one authoritative server over the world's zones (hickory-server's catalog), which
//!   is also the resolver address a scan is given; the dead parts of the world do not answer;
//! - [`smtp`]: a listener per shared MX host with a scripted behaviour (closed, open relay,
//!   catch-all, no STARTTLS, STARTTLS refused with 454, lab-CA and self-signed certificates,
//!   tarpit, 421, greylisting), and an implicit-TLS listener per host with a certificate;
//! - [`demo`]: `mxray demo`, a scan of the lab with every check on and its headline figures.
//!
//! Nothing here binds anything but 127.0.0.0/8 and ::1 ([`LabError::NotLoopback`]), and no
//! listener ever accepts a message.

pub mod demo;
pub mod dns;
pub mod smtp;
pub mod world;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use world::{HostTruth, MxKind, POOL, World};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    #[error("{0}: the lab listens on loopback only (127.0.0.0/8 or ::1)")]
    NotLoopback(IpAddr),
    #[error("bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("world spec: {0}")]
    Spec(String),
    #[error("zone: {0}")]
    Zone(String),
    #[error("certificates: {0}")]
    Pki(String),
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What lab to start.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Domains in the world. Default 2000.
    pub domains: usize,
    /// The world's seed: the same seed, the same world. Default 1.
    pub seed: u64,
    /// Where the domain list, the ground truth, the lab CA and the scan's side files go
    /// (created).
    pub dir: PathBuf,
    /// The DNS server's address (loopback; port 0 picks a free one). Default 127.0.0.1:0.
    pub dns: SocketAddr,
    /// The one port of every SMTP listener (0 picks a free one). Default 0.
    pub smtp_port: u16,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            domains: 2000,
            seed: 1,
            dir: PathBuf::from("lab"),
            dns: SocketAddr::from(([127, 0, 0, 1], 0)),
            smtp_port: 0,
        }
    }
}

/// The files a lab writes into its directory.
#[derive(Debug, Clone)]
pub struct LabFiles {
    /// The scan's input: one domain per line.
    pub domains: PathBuf,
    /// One row per domain: what a correct scan finds ([`world::TRUTH_HEADER`]).
    pub truth: PathBuf,
    /// One row per MX address ([`world::HOSTS_TRUTH_HEADER`]).
    pub hosts_truth: PathBuf,
    /// The DNSBL zone table naming the lab's zone (for `--dnsbl-config`).
    pub dnsbl_config: PathBuf,
    /// An IP-to-AS table of the lab's addresses (for `--asn-db`).
    pub asn_db: PathBuf,
    /// The lab's VRP set, as Routinator's JSON (for `--rpki-vrps`).
    pub rpki_vrps: PathBuf,
    /// The lab CA's certificate (for `--smtp-ca`).
    pub ca: PathBuf,
}

impl LabFiles {
    fn new(dir: &Path) -> LabFiles {
        LabFiles {
            domains: dir.join("domains.txt"),
            truth: dir.join("truth.csv"),
            hosts_truth: dir.join("truth-hosts.csv"),
            dnsbl_config: dir.join("dnsbl-zones.csv"),
            asn_db: dir.join("asn.tsv"),
            rpki_vrps: dir.join("vrps.json"),
            ca: dir.join("lab-ca.pem"),
        }
    }
}

/// A running lab. [`Lab::stop`] ends it; dropping it leaves its tasks to the runtime's end.
pub struct Lab {
    /// The DNS server: the `--resolver` of a scan of the lab.
    pub dns: SocketAddr,
    /// The SMTP listeners' port (`--smtp-port`).
    pub smtp_port: u16,
    /// The implicit-TLS listeners' port, of the pool hosts with a certificate (always picked
    /// free): a scan reaches them with `--smtp-ports PORT/tls`.
    pub implicit_tls_port: u16,
    pub files: LabFiles,
    /// Resource records the zones hold.
    pub records: usize,
    pub world: World,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    server: hickory_server::Server<dns::LabHandler>,
}

/// The HELO name and relay domain a scan of the lab uses: the relay domain is outside the lab
/// (RFC 2606 `.example`), so only a real open relay accepts it.
pub const SCAN_HELO: &str = "scanner.lab.test";
pub const RELAY_DOMAIN: &str = "relay-target.example";

/// The lab's DNSBL zone, in the zone table's format (`datasets/dnsbl-zones.csv`); a rate no
/// scan of the lab reaches.
const DNSBL_TABLE: &str = "zone,kind,listing_codes,error_codes,rate_qps,description,reference\n\
bl.lab.test,ip,127.0.0.2=listed in the lab,127.255.255.254=query refused by the lab,1000000,\
the mxray lab's DNSBL,datasets/lab-world.md\n";

/// The lab's addresses by AS (private-use AS numbers, RFC 6996). The pool's AS announces three
/// routes, so that its hosts meet each RPKI state ([`world::rpki_truth`]); the many-exchange
/// hosts (127.78.0.0/24) have no AS.
const ASN_TABLE: &str = "127.66.0.0\t127.66.255.255\t64500\tZZ\tLAB-WEB\n\
127.77.0.0\t127.77.15.255\t64501\tZZ\tLAB-MAIL-POOL\n\
127.77.16.0\t127.77.23.255\t64501\tZZ\tLAB-MAIL-POOL\n\
127.77.24.0\t127.77.255.255\t64501\tZZ\tLAB-MAIL-POOL\n\
127.100.0.0\t127.254.255.255\t64502\tZZ\tLAB-OWN-HOSTS\n";

/// The lab's VRPs, as Routinator's `json` output writes them: what [`world::rpki_truth`] judges
/// against. 127.66.0.0/16 is the web AS's, for completeness (no host is there).
const VRPS: &str = r#"{
  "metadata": { "generated": 0, "generatedTime": "1970-01-01T00:00:00Z" },
  "roas": [
    { "asn": "AS64500", "prefix": "127.66.0.0/16", "maxLength": 24, "ta": "lab" },
    { "asn": "AS64501", "prefix": "127.77.0.0/20", "maxLength": 20, "ta": "lab" },
    { "asn": "AS0", "prefix": "127.77.16.0/21", "maxLength": 24, "ta": "lab" },
    { "asn": "AS64502", "prefix": "127.96.0.0/11", "maxLength": 12, "ta": "lab" }
  ]
}
"#;

impl Lab {
    /// Generates the world, writes its files, and starts the DNS server and the SMTP listeners
    /// on the current runtime.
    pub async fn start(opts: &LabOptions) -> Result<Lab, LabError> {
        dns::require_loopback(opts.dns)?;
        let world = World::new(opts.seed, opts.domains)?;
        let files = LabFiles::new(&opts.dir);
        // Building 100k domains' zones is a second of CPU: off the runtime's workers.
        let (w, f, dir) = (world.clone(), files.clone(), opts.dir.clone());
        let (handler, records) = tokio::task::spawn_blocking(move || {
            write_files(&w, &f, &dir)?;
            dns::build(&w)
        })
        .await
        .map_err(|e| LabError::Zone(format!("zone builder: {e}")))??;
        let pki = smtp::Pki::generate()?;
        write(&files.ca, pki.ca_pem.as_bytes())?;
        let (server, dns) = dns::serve(handler, opts.dns).await?;
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let ports = smtp::start(&world, &pki, opts.smtp_port, stop.clone(), &mut tasks).await?;
        Ok(Lab {
            dns,
            smtp_port: ports.smtp,
            implicit_tls_port: ports.implicit_tls,
            files,
            records,
            world,
            stop,
            tasks,
            server,
        })
    }

    /// The `mxray scan` arguments (after the program name) that scan the whole lab with every
    /// check on, into `out`.
    pub fn scan_args(&self, out: &Path) -> Vec<String> {
        let p = |p: &Path| p.display().to_string();
        [
            "scan",
            "--domains",
            &p(&self.files.domains),
            "--out",
            &p(out),
            "--resolver",
            &self.dns.to_string(),
            "--allow-loopback",
            "--dnsbl-config",
            &p(&self.files.dnsbl_config),
            "--asn-db",
            &p(&self.files.asn_db),
            "--rpki-vrps",
            &p(&self.files.rpki_vrps),
            "--smtp",
            "--smtp-ports",
            &self.smtp_port.to_string(),
            "--smtp-ca",
            &p(&self.files.ca),
            "--smtp-recipients",
            "--helo",
            SCAN_HELO,
            "--relay-domain",
            RELAY_DOMAIN,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Stops every listener and waits for them.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let _ = self.server.shutdown_gracefully().await;
        while self.tasks.join_next().await.is_some() {}
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    std::fs::write(path, bytes).map_err(|source| LabError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The domain list and the ground truth, streamed (nothing per domain is kept but one bit per
/// pool host); the side files of a scan.
fn write_files(world: &World, files: &LabFiles, dir: &Path) -> Result<(), LabError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LabError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let create = |path: &Path| {
        std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .map_err(err(path))
    };
    let mut list = create(&files.domains)?;
    let mut truth = csv::Writer::from_writer(create(&files.truth)?);
    let mut hosts = csv::Writer::from_writer(create(&files.hosts_truth)?);
    let csv_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: csv::Error| LabError::Write {
            path,
            source: std::io::Error::other(e),
        }
    };
    truth
        .write_record(world::TRUTH_HEADER)
        .map_err(csv_err(&files.truth))?;
    hosts
        .write_record(world::HOSTS_TRUTH_HEADER)
        .map_err(csv_err(&files.hosts_truth))?;
    let mut pool_used = vec![false; POOL.len()];
    let mut many_used = false;
    writeln!(
        list,
        "# mxray lab world: seed {}, {} domains (datasets/lab-world.md)",
        world.seed, world.domains
    )
    .map_err(err(&files.domains))?;
    for d in world.iter() {
        writeln!(list, "{}", d.name).map_err(err(&files.domains))?;
        truth
            .write_record(d.truth().fields())
            .map_err(csv_err(&files.truth))?;
        if d.existence != world::Existence::Ok {
            continue;
        }
        match d.mx {
            MxKind::Pool | MxKind::LameSecond => pool_used[d.pool[0]] = true,
            MxKind::Multi => d.pool.iter().for_each(|h| pool_used[*h] = true),
            MxKind::TooMany => many_used = true,
            MxKind::Own => hosts
                .write_record(HostTruth::own(d.index).fields())
                .map_err(csv_err(&files.hosts_truth))?,
            MxKind::Null | MxKind::None => {}
        }
    }
    // Only the exchanges a scan looks up lead it to a host.
    let many = if many_used {
        1..world::TOO_MANY_EXCHANGES
    } else {
        0..0
    };
    for k in many {
        hosts
            .write_record(HostTruth::many(k).fields())
            .map_err(csv_err(&files.hosts_truth))?;
    }
    for (h, used) in pool_used.iter().enumerate() {
        if *used {
            hosts
                .write_record(HostTruth::pool(h).fields())
                .map_err(csv_err(&files.hosts_truth))?;
        }
    }
    list.flush().map_err(err(&files.domains))?;
    truth.flush().map_err(err(&files.truth))?;
    hosts.flush().map_err(err(&files.hosts_truth))?;
    write(&files.dnsbl_config, DNSBL_TABLE.as_bytes())?;
    write(&files.asn_db, ASN_TABLE.as_bytes())?;
    write(&files.rpki_vrps, VRPS.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::asn::AsnDb;
    use crate::checks::rpki::{Route, range_route_prefix, vrps};
    use std::net::{IpAddr, Ipv4Addr};

    /// The hand-worked truth of `world::rpki_truth` against the lab's own table and VRPs, as a
    /// scan joins them, over every pool host, the many-exchange hosts and own hosts across the
    /// largest world's range: a change to either table that the truth does not follow fails here.
    #[test]
    fn rpki_truth_follows_the_lab_tables() {
        let (db, report) = AsnDb::from_reader(ASN_TABLE.as_bytes()).unwrap();
        assert_eq!(report.bad, 0);
        let (vrps, _) = vrps::parse(VRPS.as_bytes()).unwrap();
        let judge = |ip: Ipv4Addr| {
            let ip = IpAddr::V4(ip);
            let info = db.lookup(ip)?;
            let prefix = range_route_prefix(info.prefix_start, info.prefix_end, ip)?;
            Some(
                vrps.validate(Route {
                    prefix,
                    origin: info.asn,
                })
                .as_str(),
            )
        };
        let own = (0..world::MAX_DOMAINS as u64)
            .step_by(4099)
            .map(world::own_ip);
        let addresses = (0..POOL.len())
            .map(world::pool_ip)
            .chain((1..world::TOO_MANY_EXCHANGES).map(world::many_ip))
            .chain(own);
        let mut met = std::collections::BTreeSet::new();
        for ip in addresses {
            assert_eq!(judge(ip), world::rpki_truth(ip), "{ip}");
            met.insert(world::rpki_truth(ip));
        }
        assert_eq!(
            met.len(),
            4,
            "valid, invalid, not-found and no route: {met:?}"
        );
    }
}
