//! The SPF parser and macro expander on arbitrary input: no panic, and expansion stays bounded.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use mxray::checks::spf::record::{Mechanism, parse};
use mxray::checks::spf::{MacroString, MacroVars};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = MacroVars {
        sender: "strong-bad@email.example.com",
        local: "strong-bad",
        sender_domain: "email.example.com",
        domain: "email.example.com",
        ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xcb01)),
        helo: "mx.example.org",
        validated: None,
        receiver: "receiver.example.net",
        timestamp: 1_700_000_000,
    };
    if let Ok(record) = parse(text) {
        for d in &record.directives {
            let spec = match &d.mechanism {
                Mechanism::Include(s) | Mechanism::Exists(s) => Some(s),
                Mechanism::A { domain, .. } | Mechanism::Mx { domain, .. } => domain.as_ref(),
                Mechanism::Ptr(domain) => domain.as_ref(),
                _ => None,
            };
            if let Some(s) = spec {
                let out = s.0.expand(&vars, false);
                assert!(out.len() <= 4096, "expansion is bounded");
            }
        }
    }
    if let Ok(m) = MacroString::parse_explain(text) {
        assert!(m.expand(&vars, true).len() <= 4096);
    }
});
