//! The dangling-name check's questions (`checks::dangling`): the names a domain's row depends on,
//! and one NS query per organizational domain outside the domain's own, through the cache (a
//! provider named by thousands of domains is asked once while its answer lives).

use std::collections::HashMap;

use hickory_proto::rr::RecordType;

use crate::checks::RecordStatus;
use crate::checks::dangling::{self, DanglingFindings, MailNames};
use crate::checks::dmarc::DmarcStatus;
use crate::checks::dmarc::psl::SuffixList;
use crate::checks::mta_sts::StsPolicyStatus;
use crate::checks::spf::analyze::SpfTerm;
use crate::dns::Resolver;
use crate::output::rows::DomainRow;

/// The row's dangling names: only from what the row uses (a valid DMARC, TLS-RPT or BIMI record,
/// a valid fetched MTA-STS policy; every SPF term walked, every exchange).
pub async fn findings(
    res: &Resolver,
    row: &DomainRow,
    spf: &[(SpfTerm, String)],
    psl: Option<&SuffixList>,
) -> DanglingFindings {
    let dmarc = row.dmarc.done().filter(|d| d.status == DmarcStatus::Valid);
    let txt = row.txt.done();
    let tls_rpt = txt.filter(|t| t.tls_rpt.status == RecordStatus::Valid);
    let bimi: Vec<String> = txt
        .map(|t| t.bimi.l.iter().chain(&t.bimi.a).cloned().collect())
        .unwrap_or_default();
    let sts_mx = row
        .mta_sts
        .done()
        .and_then(|s| s.policy.as_ref())
        .filter(|p| p.status == StsPolicyStatus::Valid)
        .and_then(|p| p.mx.as_deref());
    let exchanges = row.mx.done().map(|m| &m.exchanges[..]).unwrap_or_default();
    let names = MailNames {
        spf,
        exchanges,
        rua: dmarc.map(|d| &d.rua[..]).unwrap_or_default(),
        ruf: dmarc.map(|d| &d.ruf[..]).unwrap_or_default(),
        tls_rpt: tls_rpt.map(|t| &t.tls_rpt.rua[..]).unwrap_or_default(),
        mta_sts_mx: sts_mx.unwrap_or_default(),
        bimi: &bimi,
    };
    let deps = dangling::dependencies(&names);
    let orgs = dangling::organizations(&row.domain, &deps, psl);
    let mut asked: Vec<&String> = orgs.iter().flatten().collect();
    asked.sort();
    asked.dedup();
    let answers: HashMap<String, crate::dns::Status> = futures::future::join_all(
        asked
            .into_iter()
            .map(|org| async move { (org.clone(), res.lookup(org, RecordType::NS).await.status) }),
    )
    .await
    .into_iter()
    .collect();
    dangling::findings(&deps, &orgs, &answers)
}
