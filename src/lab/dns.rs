//! The lab's DNS: hickory-server's catalog over in-memory zones, on loopback UDP and TCP.
//!
//! The one server is both the world's authoritative servers and the resolver address mxray is
//! given: mxray's queries ask for recursion, and the catalog answers them from the zones it
//! holds. The dead parts of the world cannot be zones (a zone answers), so a request handler in
//! front of the catalog answers SERVFAIL for the lame ones, as a resolver does, and never
//! answers for the silent ones.
//!
//! The zones are grouped by parent (`test.`, `lab.test.`, `bl.lab.test.`, `127.in-addr.arpa.`)
//! instead of one zone per domain: one in-memory handler per domain costs a lock, a map and a
//! catalog entry each, where the records alone are what the world is.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, MX, PTR, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

use super::LabError;
use super::world::{self, Existence, Rr, World};

/// The zones, most specific first (a record goes to the first zone its owner is under).
const ZONES: &[&str] = &[
    world::DNSBL_ZONE,
    world::INFRA,
    world::TLD,
    "127.in-addr.arpa",
];

/// The records' TTL: long enough that a scan's cache keeps a shared name for the whole scan.
const TTL: u32 = 3600;

fn fqdn(name: &str) -> Result<Name, LabError> {
    let n = if name.is_empty() {
        Name::root()
    } else {
        Name::from_ascii(format!("{name}."))
            .map_err(|e| LabError::Zone(format!("{name:?}: {e}")))?
    };
    Ok(n)
}

fn ptr_owner(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
}

/// Zone builders: the records of each zone before it becomes a handler.
struct Zones {
    handlers: Vec<(String, InMemoryZoneHandler)>,
    records: usize,
}

impl Zones {
    fn new() -> Result<Zones, LabError> {
        let mut handlers = Vec::new();
        for z in ZONES {
            let origin = fqdn(z)?;
            let mut h =
                InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
            // RFC 2308 5: the SOA minimum is the negative TTL.
            let soa = SOA::new(
                fqdn(&format!("ns.{}", world::INFRA))?,
                fqdn(&format!("hostmaster.{}", world::INFRA))?,
                1,
                3600,
                600,
                86400,
                300,
            );
            h.upsert_mut(Record::from_rdata(origin, TTL, RData::SOA(soa)), 1);
            handlers.push((z.to_string(), h));
        }
        Ok(Zones {
            handlers,
            records: 0,
        })
    }

    fn add(&mut self, rr: &Rr) -> Result<(), LabError> {
        let (owner, data) = match rr {
            Rr::A(n, ip) => (n.clone(), RData::A(A(*ip))),
            Rr::Mx(n, pref, host) => (n.clone(), RData::MX(MX::new(*pref, fqdn(host)?))),
            // RFC 1035 3.3: a character-string is at most 255 octets; a 2048-bit DKIM key is
            // longer, and its record is the strings joined (RFC 6376 3.6.2.2).
            Rr::Txt(n, strings) => {
                let chunks = strings
                    .iter()
                    .flat_map(|s| s.as_bytes().chunks(255))
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                (n.clone(), RData::TXT(TXT::new(chunks)))
            }
            Rr::Ptr(ip, host) => (ptr_owner(*ip), RData::PTR(PTR(fqdn(host)?))),
        };
        let (_, zone) = self
            .handlers
            .iter_mut()
            .find(|(z, _)| owner == *z || owner.ends_with(&format!(".{z}")))
            .ok_or_else(|| LabError::Zone(format!("{owner}: under none of the lab's zones")))?;
        if !zone.upsert_mut(Record::from_rdata(fqdn(&owner)?, TTL, data), 1) {
            return Err(LabError::Zone(format!("{owner}: record refused")));
        }
        self.records += 1;
        Ok(())
    }

    fn catalog(self) -> Catalog {
        let mut c = Catalog::new();
        for (z, h) in self.handlers {
            let origin = LowerName::from(fqdn(&z).expect("checked in Zones::new"));
            c.upsert(origin, vec![Arc::new(h)]);
        }
        c
    }
}

/// The catalog, behind the rules for the parts of the world that do not answer.
pub struct LabHandler {
    catalog: Catalog,
    world: World,
}

enum Fate {
    Answer,
    ServFail,
    Drop,
}

impl LabHandler {
    fn fate(&self, qname: &str) -> Fate {
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        if name == world::LAME || name.ends_with(&format!(".{}", world::LAME)) {
            return Fate::ServFail;
        }
        // The registered domain is the last two labels (see world::TLD).
        let mut labels = name.rsplitn(3, '.');
        let (Some(tld), Some(second)) = (labels.next(), labels.next()) else {
            return Fate::Answer;
        };
        if tld != world::TLD {
            return Fate::Answer;
        }
        match self.world.index_of(&format!("{second}.{tld}")) {
            Some(i) => match self.world.existence(i) {
                Existence::Servfail => Fate::ServFail,
                Existence::Silent => Fate::Drop,
                Existence::Ok | Existence::Nxdomain => Fate::Answer,
            },
            None => Fate::Answer,
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for LabHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let fate = match request.request_info() {
            Ok(info) => self.fate(&info.query.name().to_string()),
            Err(_) => Fate::Answer,
        };
        match fate {
            Fate::Answer => {
                self.catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await
            }
            Fate::ServFail => {
                let meta = request.metadata;
                let msg = MessageResponseBuilder::from_message_request(request)
                    .error_msg(&meta, ResponseCode::ServFail);
                match response_handle.send_response(msg).await {
                    Ok(info) => info,
                    Err(_) => unanswered(&meta),
                }
            }
            Fate::Drop => unanswered(&request.metadata),
        }
    }
}

/// What the server records for a request it did not answer.
fn unanswered(request: &Metadata) -> ResponseInfo {
    let mut metadata = Metadata::new(request.id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// The handler over the whole world's zones, and how many records they hold.
pub fn build(world: &World) -> Result<(LabHandler, usize), LabError> {
    let mut zones = Zones::new()?;
    for rr in world::infra_records() {
        zones.add(&rr)?;
    }
    for d in world.iter() {
        for rr in d.records() {
            zones.add(&rr)?;
        }
    }
    let records = zones.records;
    Ok((
        LabHandler {
            catalog: zones.catalog(),
            world: world.clone(),
        },
        records,
    ))
}

/// The lab's one rule: it never listens beyond this machine.
pub fn require_loopback(addr: SocketAddr) -> Result<(), LabError> {
    match addr.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => Ok(()),
        IpAddr::V6(v6) if v6.is_loopback() => Ok(()),
        ip => Err(LabError::NotLoopback(ip)),
    }
}

/// A TCP connection that sends nothing for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// Serves `handler` on `addr` (UDP and TCP, the same port; port 0 picks one free on both).
pub async fn serve(
    handler: LabHandler,
    addr: SocketAddr,
) -> Result<(Server<LabHandler>, SocketAddr), LabError> {
    require_loopback(addr)?;
    let bind = |addr, e| LabError::Bind { addr, source: e };
    // With port 0, the UDP socket picks the port and TCP takes the same one; another program
    // may hold it on TCP, so a few tries.
    let mut last = None;
    for _ in 0..8 {
        let udp = UdpSocket::bind(addr).await.map_err(|e| bind(addr, e))?;
        let local = udp.local_addr().map_err(|e| bind(addr, e))?;
        match TcpListener::bind(local).await {
            Ok(tcp) => {
                let mut server = Server::new(handler);
                server.register_socket(udp);
                server.register_listener(tcp, TCP_IDLE, 64);
                return Ok((server, local));
            }
            Err(e) if addr.port() == 0 => last = Some(bind(local, e)),
            Err(e) => return Err(bind(local, e)),
        }
    }
    Err(last.expect("the loop ran"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_binds() {
        for ok in ["127.0.0.1:53", "127.9.8.7:0", "[::1]:5353"] {
            assert!(require_loopback(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "0.0.0.0:53",
            "192.0.2.1:53",
            "[::]:53",
            "[::ffff:127.0.0.1]:53",
            "10.0.0.1:0",
        ] {
            let a: SocketAddr = bad.parse().unwrap();
            assert!(
                matches!(require_loopback(a), Err(LabError::NotLoopback(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn serve_refuses_a_public_address() {
        let w = World::new(1, 10).unwrap();
        let (h, _) = build(&w).unwrap();
        let r = serve(h, "0.0.0.0:0".parse().unwrap()).await;
        assert!(matches!(r, Err(LabError::NotLoopback(_))));
    }
}
