//! A domain's mail policies beyond SPF, fetched through the shared cache and judged by
//! [`crate::checks`]: DMARC discovery (RFC 9989's DNS Tree Walk, or RFC 7489 6.6.3) with the
//! external report destinations' authorisation (RFC 7489 7.1), DKIM keys under a list of known
//! selectors (RFC 6376 3.6.2.1), MTA-STS (RFC 8461 3.1), TLS-RPT (RFC 8460 3), BIMI, and the SOA
//! contact (RFC 1035 3.3.13).
//!
//! Queries per domain: the `_dmarc` names of both discovery methods' plans until each is done
//! (the domain's own, then, without one, its parents up to the TLD, shared through the cache
//! with every other domain below them), one TXT per external report destination, `_domainkey.<domain>` and, unless it
//! is NXDOMAIN (RFC 8020: nothing exists below it), one TXT per selector; one TXT each for
//! `_mta-sts`, `_smtp._tls` and `default._bimi`; one SOA. All run concurrently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::checks::dkim::{self, DkimFindings};
use crate::checks::dmarc::{self, DiscoveryMode, DmarcFindings, SuffixList};
use crate::checks::mta_sts::{
    self, StsFindings, StsPolicyFindings, StsPolicyStatus, StsStatus, StsTxtFindings,
};
use crate::checks::soa;
pub use crate::checks::txt_policies::TxtPolicies;
use crate::checks::{Lookup, TxtPolicy};
use crate::dns::{Answer, Rdata, RecordType, Resolver, Status};
use crate::https::{FetchError, FetchOptions, Fetcher};
#[cfg(test)]
use crate::output::DomainRow;

/// How the policy stage behaves. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// Where a domain without a `_dmarc` record of its own finds its policy. Default
    /// [`DiscoveryMode::Rfc9989`] (the DNS Tree Walk). The other method is computed too, from
    /// the same answers, to tell where the two differ.
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
            dmarc_discovery: DiscoveryMode::Rfc9989,
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
    pub fn new(opts: PolicyOptions) -> Result<PolicyStage, crate::https::FetcherError> {
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
    /// The record and, when fetched, the policy.
    pub mta_sts: StsFindings,
    pub txt: TxtPolicies,
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
            mta_sts: StsFindings {
                txt: StsTxtFindings::nxdomain(),
                policy: None,
            },
            txt: TxtPolicies::nxdomain(),
            soa_status: Status::NxDomain,
            soa_rname: None,
        }
    }

    /// What each check says of a domain whose questions were not asked because its zone does
    /// not answer: temperror with `reason`.
    pub fn unasked(opts: &PolicyOptions, reason: &str) -> Policies {
        Policies {
            dmarc: DmarcFindings::temperror(reason),
            dkim: if opts.dkim {
                DkimFindings::temperror(reason)
            } else {
                DkimFindings::skipped()
            },
            mta_sts: StsFindings {
                txt: StsTxtFindings::temperror(reason),
                policy: None,
            },
            txt: TxtPolicies::temperror(reason),
            soa_status: Status::Timeout,
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
    let (dmarc, dkim, mta_sts, mut txt, soa_answer) = tokio::join!(
        dmarc_stage(res, domain, opts, true),
        dkim_stage(res, domain, opts, stats, exchanges, spf_providers),
        sts_stage(res, domain, &sts_name, stage.fetcher.as_ref()),
        // Each at the target's own name (`_smtp._tls.<domain>`, `default._bimi.<domain>`): no
        // other lookup of the scan asks it, so it skips the cache.
        TxtPolicies::lookup(domain, |name| async move {
            let answer = res.lookup_unshared(&name, RecordType::TXT).await;
            txt_lookup(&answer)
        }),
        // Only this stage asks a domain's SOA, and targets are distinct.
        res.lookup_unshared(domain, RecordType::SOA),
    );
    txt.with_dmarc(&dmarc);
    let soa_rname = soa_answer.records.iter().find_map(|r| match r {
        Rdata::Soa { rname, .. } => soa::soa_rname_to_email(rname),
        _ => None,
    });
    Policies {
        dmarc,
        dkim,
        mta_sts,
        txt,
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
) -> StsFindings {
    // `_mta-sts.<domain>`: the target's own name, asked by nothing else.
    let a = res.lookup_unshared(name, RecordType::TXT).await;
    let f = StsTxtFindings::from_lookup(name, &txt_lookup(&a));
    let policy = match fetcher {
        // Boxed: few domains publish MTA-STS, and inline the HTTPS exchange's state (DNS, TCP,
        // TLS, HTTP) made every domain's future several kilobytes larger, live or not, for the
        // whole of its scan.
        Some(fetcher) if f.status == StsStatus::Valid => {
            Some(match Box::pin(fetcher.fetch(res, domain)).await {
                Ok(body) => StsPolicyFindings::fetched(mta_sts::parse_policy(&body)),
                Err(e) => StsPolicyFindings::not_fetched(fetch_failed(&e), e.describe()),
            })
        }
        _ => None,
    };
    StsFindings { txt: f, policy }
}

/// Why no policy was fetched, as `mta_sts_policy_status` says it.
fn fetch_failed(e: &FetchError) -> StsPolicyStatus {
    match e {
        FetchError::Dns(_) => StsPolicyStatus::DnsError,
        FetchError::Connect(_) => StsPolicyStatus::ConnectError,
        FetchError::Tls(_) => StsPolicyStatus::TlsError,
        FetchError::Http(_) => StsPolicyStatus::HttpError,
        FetchError::Timeout => StsPolicyStatus::Timeout,
    }
}

/// One discovery method's loop, one `_dmarc` name at a time, each asked once per domain however
/// many methods want it (`asked`), through the shared cache (parents are shared between domains).
/// A domain that does not exist is not asked for its own record: NXDOMAIN (RFC 8020).
async fn discover(
    res: &Resolver,
    domain: &str,
    mode: DiscoveryMode,
    psl: Option<&SuffixList>,
    exists: bool,
    asked: &mut Vec<(String, Lookup<String>)>,
) -> DmarcFindings {
    let own = format!("_dmarc.{domain}");
    let mut answers: Vec<Lookup<String>> = Vec::new();
    while let Some(name) = dmarc::next_query(domain, mode, psl, &answers) {
        let answer = match asked.iter().find(|(n, _)| *n == name) {
            Some((_, a)) => a.clone(),
            None if !exists && name.eq_ignore_ascii_case(&own) => Lookup::NxDomain,
            None => {
                let a = res.lookup(&name, RecordType::TXT).await;
                let a = txt_lookup(&a);
                asked.push((name, a.clone()));
                a
            }
        };
        answers.push(answer);
    }
    dmarc::discover_for(domain, mode, psl, exists, &answers)
}

/// Discovery by the chosen method, then by the other from the same answers (asking only what
/// the first did not), then the authorisation of the external `rua` destinations (RFC 7489
/// 7.1), queried concurrently. `exists` is false for a domain whose MX query was NXDOMAIN.
pub async fn dmarc_stage(
    res: &Resolver,
    domain: &str,
    opts: &PolicyOptions,
    exists: bool,
) -> DmarcFindings {
    let (mode, psl) = (opts.dmarc_discovery, opts.psl.as_deref());
    let mut asked = Vec::new();
    let mut f = discover(res, domain, mode, psl, exists, &mut asked).await;
    let other = discover(res, domain, mode.other(), psl, exists, &mut asked).await;
    // Only two answers compare: a walk that met a failure (temperror) judged nothing.
    let judged = |d: &DmarcFindings| d.status != dmarc::DmarcStatus::TempError;
    f.methods_differ = (judged(&f) && judged(&other))
        .then(|| f.effective_p != other.effective_p || f.policy_domain != other.policy_domain);
    let (Some(parsed), Some(record_domain)) = (&f.parsed, &f.policy_domain) else {
        return f;
    };
    // Both report kinds need the destination's consent (RFC 7489 7.1 covers rua and ruf).
    let dests =
        dmarc::external_destinations(record_domain, parsed.rua.iter().chain(&parsed.ruf), psl);
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
    let (parent, providers) = tokio::join!(
        res.lookup_unshared(&parent_name, RecordType::TXT),
        spf_providers
    );
    let parent = txt_lookup(&parent);
    let plan = opts.dkim_plan(&providers.unwrap_or_default(), exchanges);
    stats.dkim_probes.fetch_add(plan.len() as u64, Relaxed);
    let probes: Vec<(&str, Lookup<String>)> = if dkim::probe_selectors(&parent) {
        stats.dkim_probes_sent.fetch_add(plan.len() as u64, Relaxed);
        futures::future::join_all(plan.iter().map(|sel| async move {
            // Under the target's own name: no other domain asks it.
            let a = res
                .lookup_unshared(&dkim::key_query_name(sel, domain), RecordType::TXT)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Row;

    #[test]
    fn nxdomain_columns() {
        for dkim in [true, false] {
            let opts = PolicyOptions {
                dkim,
                ..PolicyOptions::default()
            };
            let row = DomainRow::new(
                "x.example",
                crate::checks::mx::MxFindings {
                    status: Status::NxDomain,
                    ..crate::checks::mx::MxFindings::failed()
                },
                None,
                crate::checks::spf::SpfFindings::nxdomain(),
                Policies::nxdomain(&opts),
            );
            let status = |c| row.status(c).unwrap();
            assert_eq!(
                (status("dmarc_status"), status("mta_sts_status")),
                ("none", "none"),
                "dkim {dkim}"
            );
            assert_eq!(status("tls_rpt_status"), "none");
            assert_eq!(status("bimi_status"), "none");
            assert_eq!(row.soa_status, Status::NxDomain);
            let (want, listed) = if dkim {
                ("none", Some(Vec::new()))
            } else {
                ("skipped", None)
            };
            let found = row.dkim.done().unwrap();
            assert_eq!(status("dkim_status"), want, "dkim {dkim}");
            assert_eq!(found.selectors, listed, "dkim {dkim}");
            assert_eq!(found.keys.is_some(), dkim);
            assert_eq!(row.mta_sts.done().unwrap().policy, None);
        }
    }

    #[test]
    fn a_failed_fetch_keeps_the_fetch_error_code() {
        for e in [
            FetchError::Dns(String::new()),
            FetchError::Connect(String::new()),
            FetchError::Tls(String::new()),
            FetchError::Http(String::new()),
            FetchError::Timeout,
        ] {
            assert_eq!(fetch_failed(&e).as_str(), e.as_str());
        }
    }
}
