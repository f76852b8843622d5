//! The system's resolver configuration (resolv.conf on Unix), read with hickory-resolver: the
//! default for users' machines when they name no `--resolver`.

use std::net::SocketAddr;

use hickory_resolver::config::ProtocolConfig;

/// Resolver addresses from the system configuration, UDP port included, in the configured order.
pub fn system_servers() -> Result<Vec<SocketAddr>, String> {
    let (config, _opts) =
        hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for ns in config.name_servers() {
        let port = ns
            .connections
            .iter()
            .find(|c| matches!(c.protocol, ProtocolConfig::Udp))
            .map_or(53, |c| c.port);
        let addr = SocketAddr::new(ns.ip, port);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err("the system configuration names no resolver".into());
    }
    Ok(out)
}
