//! The checks of one domain: the queries it needs (through the shared cache) and the row they make.

use std::net::IpAddr;

use crate::checks::dmarc::{DmarcStatus, dmarc_findings};
use crate::checks::mx::mx_findings;
use crate::checks::spf_select::{SpfStatus, select_spf};
use crate::dns::{RecordType, Resolver, Status};
use crate::output::DomainRow;

/// Exchanges whose addresses are looked up per domain; a domain publishing hundreds of MX records
/// must not cost hundreds of queries.
pub const MAX_EXCHANGES: usize = 16;

/// Scans one domain. Returns its row and the distinct MX addresses found (for the hosts table).
pub async fn scan_domain(
    res: &Resolver,
    domain: &str,
    now_ms: impl Fn() -> i64,
) -> (DomainRow, Vec<IpAddr>) {
    let mx = res.lookup(domain, RecordType::MX).await;
    let mut row = DomainRow {
        domain: domain.to_string(),
        mx_status: mx.status.as_str(),
        ..Default::default()
    };
    let mxf = mx_findings(&mx);
    row.mx = mxf.records;
    row.mx_null = mxf.null;
    row.mx_errors = mxf.errors;
    if mx.status.is_failure() {
        row.mx_errors
            .push(format!("dns-{}: MX query {}", mx.status, mx.describe()));
    }

    if mx.status == Status::NxDomain {
        // RFC 8020: nothing exists at or below a name that does not exist, so the apex TXT and
        // _dmarc queries would only return NXDOMAIN again.
        row.mx_ips = Some(Vec::new());
        row.spf_status = SpfStatus::None.as_str();
        row.spf_records = Some(Vec::new());
        row.dmarc_status = DmarcStatus::None.as_str();
        row.scanned_at = now_ms();
        return (row, Vec::new());
    }

    let dmarc_name = format!("_dmarc.{domain}");
    let exchanges = &mxf.exchanges[..mxf.exchanges.len().min(MAX_EXCHANGES)];
    if mxf.exchanges.len() > MAX_EXCHANGES {
        row.mx_errors.push(format!(
            "mx-too-many: {} exchanges, addresses of the first {MAX_EXCHANGES} looked up",
            mxf.exchanges.len()
        ));
    }
    let address_lookups = futures::future::join_all(exchanges.iter().map(|e| async move {
        let (a, aaaa) = tokio::join!(
            res.lookup(e, RecordType::A),
            res.lookup(e, RecordType::AAAA)
        );
        (e, a, aaaa)
    }));
    let (txt, dmarc, addresses) = tokio::join!(
        res.lookup(domain, RecordType::TXT),
        res.lookup(&dmarc_name, RecordType::TXT),
        address_lookups
    );

    let mut ips: Vec<IpAddr> = Vec::new();
    let mut first_failure: Option<Status> = None;
    for (exchange, a, aaaa) in &addresses {
        for ans in [a, aaaa] {
            if ans.status.is_failure() {
                first_failure.get_or_insert(ans.status);
                row.mx_errors
                    .push(format!("mx-address-lookup: {exchange}: {}", ans.describe()));
            }
            for ip in ans.ips() {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
        }
        let no_address = [a, aaaa]
            .iter()
            .all(|x| !x.status.is_failure() && x.records.is_empty());
        if no_address {
            row.mx_errors
                .push(format!("mx-no-address: {exchange} has no A or AAAA record"));
        }
    }
    if mx.status.is_failure() {
        row.mx_ips = None;
    } else {
        row.mx_ips = Some(ips.iter().map(|ip| ip.to_string()).collect());
        if !exchanges.is_empty() {
            row.mx_ips_status = Some(first_failure.unwrap_or(Status::Ok).as_str());
        }
    }

    let spf = select_spf(&txt);
    row.spf_status = spf.status.as_str();
    row.spf_records = spf.records;
    row.spf_errors = spf.errors;

    let d = dmarc_findings(&dmarc);
    row.dmarc_status = d.status.as_str();
    if d.record.is_some() {
        row.dmarc_source = Some("domain");
    }
    row.dmarc_record = d.record;
    row.dmarc_p = d.p;
    row.dmarc_sp = d.sp;
    row.dmarc_pct = d.pct;
    row.dmarc_rua = d.rua;
    row.dmarc_errors = d.errors;
    row.scanned_at = now_ms();
    (row, ips)
}
