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

use crate::checks::bimi::{self, BimiFindings, BimiStatus};
use crate::checks::dkim;
use crate::checks::dmarc::{self, DiscoveryMode, DmarcFindings, DmarcSource, SuffixList};
use crate::checks::mta_sts::{self, StsPolicy, StsStatus, StsTxtFindings};
use crate::checks::soa;
use crate::checks::tls_rpt::{self, TlsRptFindings};
use crate::checks::{Lookup, TxtPolicy};
use crate::dns::{Answer, Rdata, RecordType, Resolver, Status};
use crate::output::{DkimKeyRow, DomainRow};
use crate::pipeline::sts_fetch::{FetchError, FetchOptions, Fetcher};

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
    /// The selectors probed at `<selector>._domainkey.<domain>`. Default: the 40 of
    /// `datasets/dkim-selectors.txt`, built in.
    pub dkim_selectors: Arc<Vec<String>>,
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
            dkim_selectors: Arc::new(dkim::builtin_selectors()),
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
}

/// What the policy stage found for one domain.
#[derive(Debug, Clone)]
pub struct Policies {
    pub dmarc: DmarcFindings,
    /// External destinations authorised and not, or None without a record to read them from.
    pub rua_authorized: Option<Vec<String>>,
    pub rua_unauthorized: Option<Vec<String>>,
    pub dkim: DkimOutcome,
    pub mta_sts: StsTxtFindings,
    /// The fetched policy, parsed, or why there is none; None when not fetched.
    pub sts_policy: Option<Result<StsPolicy, FetchError>>,
    pub tls_rpt: TlsRptFindings,
    pub bimi: BimiFindings,
    pub soa_status: Status,
    pub soa_rname: Option<String>,
}

/// DKIM over the probed selectors.
#[derive(Debug, Clone, PartialEq)]
pub struct DkimOutcome {
    /// `none`, `valid` (a usable key), `invalid` (key records, none usable), `temperror`,
    /// `skipped` (--no-dkim).
    pub status: &'static str,
    pub selectors: Option<Vec<String>>,
    pub keys: Option<Vec<DkimKeyRow>>,
    pub errors: Vec<String>,
}

fn txt(a: &Answer) -> Vec<String> {
    a.txt_joined().collect()
}

fn txt_lookup(a: &Answer) -> Lookup<String> {
    Lookup::from_answer(a, txt)
}

/// Runs every policy lookup of `domain` concurrently.
pub async fn scan(
    res: &Resolver,
    domain: &str,
    stage: &PolicyStage,
    stats: &PolicyStats,
) -> Policies {
    let opts = &stage.opts;
    let sts_name = format!("_mta-sts.{domain}");
    let rpt_name = format!("_smtp._tls.{domain}");
    let bimi_name = bimi::query_name(domain);
    let (dmarc_part, dkim, sts, rpt, bimi_answer, soa_answer) = tokio::join!(
        dmarc_stage(res, domain, opts),
        dkim_stage(res, domain, opts, stats),
        sts_stage(res, domain, &sts_name, stage.fetcher.as_ref()),
        res.lookup(&rpt_name, RecordType::TXT),
        res.lookup(&bimi_name, RecordType::TXT),
        res.lookup(domain, RecordType::SOA),
    );
    let (dmarc, rua_authorized, rua_unauthorized) = dmarc_part;
    let (mta_sts, sts_policy) = sts;
    let tls_rpt = TlsRptFindings::from_lookup(&rpt_name, &txt_lookup(&rpt));
    let bimi = BimiFindings::from_lookup(&bimi_name, &txt_lookup(&bimi_answer));
    let soa_rname = soa_answer.records.iter().find_map(|r| match r {
        Rdata::Soa { rname, .. } => soa::soa_rname_to_email(rname),
        _ => None,
    });
    Policies {
        dmarc,
        rua_authorized,
        rua_unauthorized,
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

type DmarcPart = (DmarcFindings, Option<Vec<String>>, Option<Vec<String>>);

/// The discovery loop (one `_dmarc` name at a time, stopping at the first record), then the
/// authorisation of the external `rua` destinations (RFC 7489 7.1), queried concurrently.
async fn dmarc_stage(res: &Resolver, domain: &str, opts: &PolicyOptions) -> DmarcPart {
    let (mode, psl) = (opts.dmarc_discovery, opts.psl.as_deref());
    let mut answers: Vec<Lookup<String>> = Vec::new();
    while let Some(name) = dmarc::next_query(domain, mode, psl, &answers) {
        let a = res.lookup(&name, RecordType::TXT).await;
        answers.push(txt_lookup(&a));
    }
    let mut f = dmarc::discover(domain, mode, psl, &answers);
    let Some(parsed) = &f.parsed else {
        return (f, None, None);
    };
    // RFC 7489 7.1: the destinations are judged against the domain whose record named them.
    let record_domain = match &f.source {
        Some(DmarcSource::Organizational) => {
            dmarc::organizational_domain_with(domain, psl).unwrap_or_else(|| domain.to_string())
        }
        Some(DmarcSource::TreeWalk(name)) => name.clone(),
        _ => domain.to_string(),
    };
    // Both report kinds need the destination's consent (RFC 7489 7.1 covers rua and ruf).
    let dests =
        dmarc::external_destinations(&record_domain, parsed.rua.iter().chain(&parsed.ruf), psl);
    let checks =
        futures::future::join_all(dests.iter().map(|(dest, name)| async move {
            (dest, name, res.lookup(name, RecordType::TXT).await)
        }))
        .await;
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for (dest, name, a) in checks {
        if a.status.is_failure() {
            f.errors.push(format!(
                "rua-authorization-temperror: {dest}: {name} TXT {}",
                a.describe()
            ));
        } else if dmarc::authorizes(&txt(&a)) {
            yes.push(dest.clone());
        } else {
            no.push(dest.clone());
        }
    }
    (f, Some(yes), Some(no))
}

/// RFC 6376 3.6.2.1 key lookups under every selector, unless `_domainkey.<domain>` does not
/// exist (RFC 8020) or its query failed (the selectors' would fail alike).
async fn dkim_stage(
    res: &Resolver,
    domain: &str,
    opts: &PolicyOptions,
    stats: &PolicyStats,
) -> DkimOutcome {
    let mut out = DkimOutcome {
        status: "none",
        selectors: None,
        keys: None,
        errors: Vec::new(),
    };
    if !opts.dkim {
        out.status = "skipped";
        return out;
    }
    let parent = format!("_domainkey.{domain}");
    let p = res.lookup(&parent, RecordType::TXT).await;
    if p.status.is_failure() {
        out.status = "temperror";
        out.errors
            .push(format!("dns-temperror: {parent} TXT {}", p.describe()));
        return out;
    }
    if p.status == Status::NxDomain {
        stats
            .dkim_probes_saved
            .fetch_add(opts.dkim_selectors.len() as u64, Relaxed);
        out.selectors = Some(Vec::new());
        out.keys = Some(Vec::new());
        return out;
    }
    for t in txt(&p) {
        if let Some(policy) = dkim::domainkeys_policy(&t) {
            out.errors
                .push(format!("domainkeys-policy: {parent}: {policy}"));
        }
    }
    let probes = futures::future::join_all(opts.dkim_selectors.iter().map(|sel| async move {
        let a = res
            .lookup(&dkim::key_query_name(sel, domain), RecordType::TXT)
            .await;
        (sel, a)
    }))
    .await;
    let (mut selectors, mut keys) = (Vec::new(), Vec::new());
    let mut failed = false;
    for (sel, a) in probes {
        if a.status.is_failure() {
            failed = true;
            out.errors.push(format!(
                "dns-temperror: {} TXT {}",
                dkim::key_query_name(sel, domain),
                a.describe()
            ));
            continue;
        }
        let Some(key) = dkim::select_key(&txt(&a)) else {
            continue;
        };
        for e in &key.errors {
            // `code: text` -> `code: selector: text`, so the code stays first.
            let (code, text) = e.split_once(": ").unwrap_or((e, ""));
            out.errors.push(format!("{code}: {sel}: {text}"));
        }
        selectors.push(sel.clone());
        keys.push(DkimKeyRow {
            selector: sel.clone(),
            key_type: key.key_type.as_str().to_string(),
            bits: key.bits,
            testing: key.testing,
            revoked: key.revoked,
            usable: key.usable(),
            errors: key.errors.clone(),
        });
    }
    out.status = if failed {
        "temperror"
    } else if keys.iter().any(|k| k.usable) {
        "valid"
    } else if keys.is_empty() {
        "none"
    } else {
        "invalid"
    };
    out.selectors = Some(selectors);
    out.keys = Some(keys);
    out
}

/// Writes the findings into the row's policy columns. `dnssec_ad` is set by the caller, which
/// holds the MX answer.
pub fn fill(row: &mut DomainRow, p: Policies) {
    let d = p.dmarc;
    row.dmarc_status = d.status.as_str();
    row.dmarc_source = d.source.as_ref().map(DmarcSource::to_string);
    row.dmarc_record = d.record;
    row.dmarc_p = d.p.clone();
    row.dmarc_sp = d.sp.clone();
    row.dmarc_np = d.np;
    row.dmarc_pct = d.pct;
    row.dmarc_adkim = d.adkim;
    row.dmarc_aspf = d.aspf;
    row.dmarc_rua = d.rua;
    row.dmarc_ruf = d.ruf;
    row.dmarc_errors = d.errors;
    row.dmarc_rua_authorized = p.rua_authorized;
    row.dmarc_rua_unauthorized = p.rua_unauthorized;

    row.dkim_status = p.dkim.status;
    row.dkim_selectors = p.dkim.selectors;
    row.dkim_keys = p.dkim.keys;
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
    row.tls_rpt = p.tls_rpt.record;
    row.tls_rpt_errors = p.tls_rpt.errors;

    row.bimi_status = p.bimi.status.as_str();
    // The BIMI draft: the indicator is shown only under an enforcing DMARC policy (quarantine at
    // pct=100 or reject, and a subdomain policy other than none). Judged where a record is
    // published and the DMARC lookup did not fail, on the policy that applies to the domain: a
    // record found at a parent applies its `sp` (else `p`) to it (RFC 7489 6.6.3 step 6).
    let published = matches!(p.bimi.status, BimiStatus::Valid | BimiStatus::Declined);
    if published && d.status != dmarc::DmarcStatus::TempError {
        let own = matches!(d.source, None | Some(DmarcSource::Domain));
        let applies = if own {
            d.p.as_deref()
        } else {
            d.sp.as_deref().or(d.p.as_deref())
        };
        row.bimi_dmarc_not_enforcing = Some(
            bimi::bimi_without_enforcing_dmarc(applies, d.pct)
                || (own && d.sp.as_deref() == Some("none")),
        );
    }
    row.bimi = p.bimi.record;
    row.bimi_errors = p.bimi.errors;

    row.soa_status = p.soa_status.as_str();
    row.soa_rname = p.soa_rname;
}

/// The policy columns of a domain that does not exist (RFC 8020: nothing exists below it, so
/// every policy name would be NXDOMAIN too; no query is sent).
pub fn fill_nxdomain(row: &mut DomainRow, opts: &PolicyOptions) {
    row.dmarc_status = dmarc::DmarcStatus::None.as_str();
    if opts.dkim {
        row.dkim_status = "none";
        row.dkim_selectors = Some(Vec::new());
        row.dkim_keys = Some(Vec::new());
    } else {
        row.dkim_status = "skipped";
    }
    row.mta_sts_status = mta_sts::StsStatus::None.as_str();
    row.tls_rpt_status = tls_rpt::TlsRptStatus::None.as_str();
    row.bimi_status = BimiStatus::None.as_str();
    row.soa_status = Status::NxDomain.as_str();
}
