//! SPF's view of DNS: the scan's shared cache, so provider includes are fetched once per scan and
//! not once per domain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checks::spf::{Lookup, SpfDns};
use crate::dns::{Answer, RecordType, Resolver, reverse_name};

fn lookup<T>(a: &Answer, records: impl FnOnce(&Answer) -> Vec<T>) -> Lookup<T> {
    Lookup::from_answer(a, records)
}

impl SpfDns for Resolver {
    async fn txt(&self, name: &str) -> Lookup<String> {
        lookup(&*self.lookup(name, RecordType::TXT).await, |a| {
            a.txt_joined().collect()
        })
    }

    async fn a(&self, name: &str) -> Lookup<Ipv4Addr> {
        lookup(&*self.lookup(name, RecordType::A).await, Answer::v4)
    }

    async fn aaaa(&self, name: &str) -> Lookup<Ipv6Addr> {
        lookup(&*self.lookup(name, RecordType::AAAA).await, Answer::v6)
    }

    async fn mx(&self, name: &str) -> Lookup<(u16, String)> {
        lookup(&*self.lookup(name, RecordType::MX).await, Answer::mx)
    }

    async fn ptr(&self, ip: IpAddr) -> Lookup<String> {
        lookup(
            &*self.lookup(&reverse_name(ip), RecordType::PTR).await,
            Answer::ptrs,
        )
    }
}
