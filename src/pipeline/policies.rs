//! A domain's mail policies beyond SPF, fetched through the shared cache and judged by
//! [`crate::checks`]: DMARC discovery (RFC 7489 6.6.3, or the DMARCbis DNS Tree Walk) with the
//! external report destinations' authorisation (RFC 7489 7.1), DKIM keys under a list of known
//! selectors (RFC 6376 3.6.2.1), MTA-STS (RFC 8461 3.1), TLS-RPT (RFC 8460 3), BIMI, and the SOA
//! contact (RFC 1035 3.3.13).
//!
//! Queries per domain: the `_dmarc` names of the discovery plan until a record is found (1 or 2
//! with RFC 7489), one TXT per external report destination, `_domainkey.<domain>` and, unless it
//! is NXDOMAIN (RFC 8020: nothing exists below it), one TXT per selector; one TXT each for
//! `_mta-sts`, `_smtp._tls` and `default._bimi`; one SOA. All run concurrently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::checks::bimi::{self, BimiFindings};
use crate::checks::dkim::{self, DkimFindings, SelectorKey};
use crate::checks::dmarc::{
    self, DiscoveryMode, DmarcFindings, DmarcSource, DmarcStatus, SuffixList,
};
use crate::checks::mta_sts::{self, StsPolicy, StsStatus, StsTxtFindings};
use crate::checks::soa;
use crate::checks::tls_rpt::{TlsRptFindings, TlsRptStatus};
use crate::checks::{Lookup, TxtPolicy};
use crate::dns::{Answer, Rdata, RecordType, Resolver, Status};
use crate::https::{FetchError, FetchOptions, Fetcher};
use crate::output::{DkimKeyRow, DomainRow};

/// How the policy stage behaves. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// Where a domain without a `_dmarc` record of its own finds its policy. Default
    /// [`DiscoveryMode::Rfc7489`] (the Organizational Domain, from the Public Suffix List).
    pub dmarc_discovery: DiscoveryMode,
    /// A Public Suffix List to use instead of the one built into the `psl` crate. Default None.
    pub psl: Option<Arc<SuffixList>>,
    /// Probe DKIM selectors. Default true.
    pub dkim: bool,
    /// The selectors probed at `<selector>._domainkey.<domain>`. Default None: each domain's
    /// own plan, the selectors of the providers its SPF includes and MX hosts name
    /// (`datasets/dkim-providers.csv`) then the short common list ([`dkim::probe_plan`]).
    /// Some: exactly this list at every domain (the full built-in list is
    /// [`dkim::builtin_selectors`]).
    pub dkim_selectors: Option<Arc<Vec<String>>>,
    /// The provider table of the default plan. Default: `datasets/dkim-providers.csv`, built in.
    pub dkim_providers: Arc<Vec<dkim::ProviderSelectors>>,
    /// Fetch the MTA-STS policy over HTTPS where a valid `_mta-sts` record is published
    /// (`--mta-sts-fetch`). Default None: not fetched.
    pub mta_sts_fetch: Option<FetchOptions>,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        PolicyOptions {
            dmarc_discovery: DiscoveryMode::Rfc7489,
            psl: None,
            dkim: true,
            dkim_selectors: None,
            dkim_providers: Arc::new(dkim::builtin_provider_selectors()),
            mta_sts_fetch: None,
        }
    }
}

/// The policy stage of a scan: its options and what is built from them once (the TLS client).
#[derive(Debug)]
pub struct PolicyStage {
    pub opts: PolicyOptions,
    pub fetcher: Option<Fetcher>,
}

impl PolicyStage {
    pub fn new(opts: PolicyOptions) -> Result<PolicyStage, String> {
        let fetcher = match &opts.mta_sts_fetch {
            Some(f) => Some(Fetcher::new(f.clone())?),
            None => None,
        };
        Ok(PolicyStage { opts, fetcher })
    }
}

/// Counters of the policy stage, for run.json.
#[derive(Debug, Default)]
pub struct PolicyStats {
    /// Selector queries not sent because `_domainkey.<domain>` was NXDOMAIN.
    pub dkim_probes_saved: AtomicU64,
    /// Selector queries sent (the plans of the domains with a `_domainkey` subtree).
    pub dkim_probes_sent: AtomicU64,
    /// Length of every domain's probe plan, summed (sent, saved, or not sent after a failure).
    pub dkim_probes: AtomicU64,
}

/// What the policy stage found for one domain.
#[derive(Debug, Clone)]
pub struct Policies {
    pub dmarc: DmarcFindings,
    pub dkim: DkimFindings,
    pub mta_sts: StsTxtFindings,
    /// The fetched policy, parsed, or why there is none; None when not fetched.
    pub sts_policy: Option<Result<StsPolicy, FetchError>>,
    pub tls_rpt: TlsRptFindings,
    pub bimi: BimiFindings,
    pub soa_status: Status,
    pub soa_rname: Option<String>,
}

impl Policies {
    /// What each check finds for a domain that does not exist (RFC 8020).
    pub fn nxdomain(opts: &PolicyOptions) -> Policies {
        Policies {
            dmarc: DmarcFindings::nxdomain(),
            dkim: if opts.dkim {
                DkimFindings::nxdomain()
            } else {
                DkimFindings::skipped()
            },
            mta_sts: StsTxtFindings::nxdomain(),
            sts_policy: None,
            tls_rpt: TlsRptFindings::nxdomain(),
            bimi: BimiFindings::nxdomain(),
            soa_status: Status::NxDomain,
            soa_rname: None,
        }
    }
}

fn txt(a: &Answer) -> Vec<String> {
    a.txt_joined().collect()
}

fn txt_lookup(a: &Answer) -> Lookup<String> {
    Lookup::from_answer(a, txt)
}

/// What the DKIM probes of a domain depend on: the providers its SPF tree names, which the SPF
/// walk finds while the other policy lookups run.
pub type DkimHints = tokio::sync::oneshot::Receiver<Vec<String>>;

impl PolicyOptions {
    /// The selectors to probe at a domain with these SPF providers and MX exchanges.
    pub fn dkim_plan(&self, spf_providers: &[String], exchanges: &[String]) -> Vec<String> {
        match &self.dkim_selectors {
            Some(list) => list.to_vec(),
            None => dkim::probe_plan(&self.dkim_providers, spf_providers, exchanges),
        }
    }
}

/// Runs every policy lookup of `domain` concurrently. The DKIM selector probes wait for
/// `spf_providers` (sent when the SPF walk is done; a dropped sender means none); `exchanges` are
/// the MX hosts.
pub async fn scan(
    res: &Resolver,
    domain: &str,
    stage: &PolicyStage,
    stats: &PolicyStats,
    exchanges: &[String],
    spf_providers: DkimHints,
) -> Policies {
    let opts = &stage.opts;
    let sts_name = format!("_mta-sts.{domain}");
    let rpt_name = format!("_smtp._tls.{domain}");
    let bimi_name = bimi::query_name(domain);
    let (dmarc, dkim, sts, rpt, bimi_answer, soa_answer) = tokio::join!(
        dmarc_stage(res, domain, opts),
        dkim_stage(res, domain, opts, stats, exchanges, spf_providers),
        sts_stage(res, domain, &sts_name, stage.fetcher.as_ref()),
        res.lookup(&rpt_name, RecordType::TXT),
        res.lookup(&bimi_name, RecordType::TXT),
        res.lookup(domain, RecordType::SOA),
    );
    let (mta_sts, sts_policy) = sts;
    let tls_rpt = TlsRptFindings::from_lookup(&rpt_name, &txt_lookup(&rpt));
    let mut bimi = BimiFindings::from_lookup(&bimi_name, &txt_lookup(&bimi_answer));
    bimi.dmarc_not_enforcing = bimi::dmarc_not_enforcing(bimi.status, &dmarc);
    let soa_rname = soa_answer.records.iter().find_map(|r| match r {
        Rdata::Soa { rname, .. } => soa::soa_rname_to_email(rname),
        _ => None,
    });
    Policies {
        dmarc,
        dkim,
        mta_sts,
        sts_policy,
        tls_rpt,
        bimi,
        soa_status: soa_answer.status,
        soa_rname,
    }
}

/// The `_mta-sts` record, then, with a fetcher and a valid record, the policy itself (RFC 8461
/// 3.3: senders fetch it when the record is present).
async fn sts_stage(
    res: &Resolver,
    domain: &str,
    name: &str,
    fetcher: Option<&Fetcher>,
) -> (StsTxtFindings, Option<Result<StsPolicy, FetchError>>) {
    let a = res.lookup(name, RecordType::TXT).await;
    let f = StsTxtFindings::from_lookup(name, &txt_lookup(&a));
    let policy = match fetcher {
        Some(fetcher) if f.status == StsStatus::Valid => Some(
            fetcher
                .fetch(res, domain)
                .await
                .map(|body| mta_sts::parse_policy(&body)),
        ),
        _ => None,
    };
    (f, policy)
}

/// The discovery loop (one `_dmarc` name at a time, stopping at the first record), then the
/// authorisation of the external `rua` destinations (RFC 7489 7.1), queried concurrently.
async fn dmarc_stage(res: &Resolver, domain: &str, opts: &PolicyOptions) -> DmarcFindings {
    let (mode, psl) = (opts.dmarc_discovery, opts.psl.as_deref());
    let mut answers: Vec<Lookup<String>> = Vec::new();
    while let Some(name) = dmarc::next_query(domain, mode, psl, &answers) {
        let a = res.lookup(&name, RecordType::TXT).await;
        answers.push(txt_lookup(&a));
    }
    let f = dmarc::discover(domain, mode, psl, &answers);
    let Some(parsed) = &f.parsed else {
        return f;
    };
    let record_domain = dmarc::record_domain(domain, f.source.as_ref(), psl);
    // Both report kinds need the destination's consent (RFC 7489 7.1 covers rua and ruf).
    let dests =
        dmarc::external_destinations(&record_domain, parsed.rua.iter().chain(&parsed.ruf), psl);
    let answers = futures::future::join_all(dests.iter().map(|(dest, name)| async move {
        let a = res.lookup(name, RecordType::TXT).await;
        (dest.as_str(), name.as_str(), txt_lookup(&a))
    }))
    .await;
    let auth = dmarc::authorization(answers.iter().map(|(d, n, a)| (*d, *n, a)));
    f.authorized(auth)
}

/// RFC 6376 3.6.2.1 key lookups under every selector, unless the `_domainkey.<domain>` answer
/// says they are not worth asking ([`dkim::probe_selectors`]).
async fn dkim_stage(
    res: &Resolver,
    domain: &str,
    opts: &PolicyOptions,
    stats: &PolicyStats,
    exchanges: &[String],
    spf_providers: DkimHints,
) -> DkimFindings {
    if !opts.dkim {
        return DkimFindings::skipped();
    }
    // The parent goes out at once, beside the SPF walk; only the selectors wait for it.
    let parent_name = dkim::parent_name(domain);
    let (parent, providers) =
        tokio::join!(res.lookup(&parent_name, RecordType::TXT), spf_providers);
    let parent = txt_lookup(&parent);
    let plan = opts.dkim_plan(&providers.unwrap_or_default(), exchanges);
    stats.dkim_probes.fetch_add(plan.len() as u64, Relaxed);
    let probes: Vec<(&str, Lookup<String>)> = if dkim::probe_selectors(&parent) {
        stats.dkim_probes_sent.fetch_add(plan.len() as u64, Relaxed);
        futures::future::join_all(plan.iter().map(|sel| async move {
            let a = res
                .lookup(&dkim::key_query_name(sel, domain), RecordType::TXT)
                .await;
            (sel.as_str(), txt_lookup(&a))
        }))
        .await
    } else {
        if parent == Lookup::NxDomain {
            stats
                .dkim_probes_saved
                .fetch_add(plan.len() as u64, Relaxed);
        }
        Vec::new()
    };
    dkim::findings(domain, &parent, &probes)
}

/// Writes the findings into the row's policy columns. `dnssec_ad` is set by the caller, which
/// holds the MX answer.
pub fn fill(row: &mut DomainRow, p: Policies) {
    let d = p.dmarc;
    row.dmarc_status = d.status.as_str();
    row.dmarc_source = d.source.as_ref().map(DmarcSource::to_string);
    row.dmarc_record = d.record;
    row.dmarc_p = d.p;
    row.dmarc_sp = d.sp;
    row.dmarc_np = d.np;
    row.dmarc_pct = d.pct;
    row.dmarc_adkim = d.adkim;
    row.dmarc_aspf = d.aspf;
    // Only a record that is used has report destinations.
    let used = d.status == DmarcStatus::Valid;
    row.dmarc_rua = used.then_some(d.rua);
    row.dmarc_ruf = used.then_some(d.ruf);
    row.dmarc_effective_p = d.effective_p;
    row.dmarc_errors = d.errors;
    row.dmarc_rua_authorized = d.rua_authorized;
    row.dmarc_rua_unauthorized = d.rua_unauthorized;

    row.dkim_status = p.dkim.status.as_str();
    row.dkim_selectors = p.dkim.selectors;
    row.dkim_keys = p.dkim.keys.map(|keys| keys.iter().map(key_row).collect());
    row.dkim_errors = p.dkim.errors;

    row.mta_sts_status = p.mta_sts.status.as_str();
    row.mta_sts = p.mta_sts.record;
    row.mta_sts_id = p.mta_sts.id;
    row.mta_sts_errors = p.mta_sts.errors;
    match p.sts_policy {
        Some(Ok(policy)) => {
            row.mta_sts_policy_status = Some(if policy.valid() { "valid" } else { "invalid" });
            row.mta_sts_mode = policy.mode.map(|m| m.as_str());
            row.mta_sts_max_age = policy.max_age;
            row.mta_sts_mx = Some(policy.mx);
            row.mta_sts_policy_errors = policy.errors;
        }
        Some(Err(e)) => {
            row.mta_sts_policy_status = Some(e.as_str());
            row.mta_sts_policy_errors = vec![e.describe()];
        }
        None => {}
    }

    row.tls_rpt_status = p.tls_rpt.status.as_str();
    // Only a record that is used has destinations (RFC 8460 3).
    row.tls_rpt_rua = (p.tls_rpt.status == TlsRptStatus::Valid).then_some(p.tls_rpt.rua);
    row.tls_rpt = p.tls_rpt.record;
    row.tls_rpt_errors = p.tls_rpt.errors;

    row.bimi_status = p.bimi.status.as_str();
    row.bimi_dmarc_not_enforcing = p.bimi.dmarc_not_enforcing;
    row.bimi = p.bimi.record;
    row.bimi_errors = p.bimi.errors;

    row.soa_status = p.soa_status.as_str();
    row.soa_rname = p.soa_rname;
}

fn key_row(k: &SelectorKey) -> DkimKeyRow {
    DkimKeyRow {
        selector: k.selector.clone(),
        key_type: k.key.key_type.as_str().to_string(),
        bits: k.key.bits,
        testing: k.key.testing,
        revoked: k.key.revoked,
        usable: k.key.usable(),
        errors: k.key.errors.clone(),
    }
}

/// The policy columns of a domain whose questions were not asked because its zone does not
/// answer: every check says temperror with `reason`.
pub fn fill_unasked(row: &mut DomainRow, opts: &PolicyOptions, reason: &str) {
    fill(
        row,
        Policies {
            dmarc: DmarcFindings::temperror(reason),
            dkim: if opts.dkim {
                DkimFindings::temperror(reason)
            } else {
                DkimFindings::skipped()
            },
            mta_sts: StsTxtFindings::temperror(reason),
            sts_policy: None,
            tls_rpt: TlsRptFindings::temperror(reason),
            bimi: BimiFindings::temperror(reason),
            soa_status: Status::Timeout,
            soa_rname: None,
        },
    );
}

/// The policy columns of a domain that does not exist (RFC 8020: nothing exists below it, so
/// every policy name would be NXDOMAIN too; no query is sent).
pub fn fill_nxdomain(row: &mut DomainRow, opts: &PolicyOptions) {
    fill(row, Policies::nxdomain(opts));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nxdomain_columns() {
        for dkim in [true, false] {
            let opts = PolicyOptions {
                dkim,
                ..PolicyOptions::default()
            };
            let mut row = DomainRow::default();
            fill_nxdomain(&mut row, &opts);
            let mut want = DomainRow {
                dmarc_status: "none",
                dkim_status: "skipped",
                mta_sts_status: "none",
                tls_rpt_status: "none",
                bimi_status: "none",
                soa_status: "nxdomain",
                ..DomainRow::default()
            };
            if dkim {
                want.dkim_status = "none";
                want.dkim_selectors = Some(Vec::new());
                want.dkim_keys = Some(Vec::new());
            }
            assert_eq!(row, want, "dkim {dkim}");
        }
    }
}
