//! The checks of one domain: the queries it needs (through the shared cache) and the row they make.

use crate::checks::problem::{Code, problem};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use crate::checks::dmarc::DmarcFindings;
use crate::checks::mx::{MxFindings, mx_findings};
use crate::checks::mx_policy;
use crate::checks::spf::{self, ProviderRow, SpfFindings, SpfResult, SpfStatus};
use crate::checks::{Lookup, dane, mta_sts};
use crate::dns::{Answer, Rdata, RecordType, Resolver, Status};
use crate::output::DomainRow;
use crate::output::status::{Checked, DomainStatus};
use crate::pipeline::policies::{self, Policies, PolicyStage, PolicyStats};

/// The curated table of major senders' SPF includes, built in.
static PROVIDERS: LazyLock<Vec<ProviderRow>> =
    LazyLock::new(|| spf::load_providers(include_str!("../../datasets/spf_providers.csv")));

/// MX addresses checked against the domain's own SPF (each is a full check_host through the
/// cache, so a domain with dozens of MX addresses must not cost dozens of evaluations).
pub const MAX_SPF_MX_CHECKS: usize = 4;

/// Exchanges whose addresses are looked up per domain; a domain publishing hundreds of MX records
/// must not cost hundreds of queries.
pub const MAX_EXCHANGES: usize = 16;

/// What the domain stage does beyond the fixed queries.
#[derive(Debug, Clone)]
pub struct DomainOptions {
    /// Walk every SPF include and redirect for the analysis columns. Default true; false only
    /// selects and parses the record (one TXT query).
    pub spf_walk: bool,
    /// Also ask for RR type 99 (SPF) records, which RFC 7208 3.1 removed: flags `spf_type99` where
    /// one is still published. Default false (one more query per domain).
    pub spf_type99: bool,
    /// When the MX query times out (after its retries and the engine's second pass), report the
    /// domain's other checks as temperror without asking them. Default true: a zone whose
    /// servers do not answer costs the resolver a request-list entry per question for as long as
    /// it keeps trying, and ten of them per dead domain crowd out live ones (issue 10).
    pub skip_after_mx_timeout: bool,
}

impl Default for DomainOptions {
    fn default() -> Self {
        DomainOptions {
            spf_walk: true,
            spf_type99: false,
            skip_after_mx_timeout: true,
        }
    }
}

fn tlsa_records(a: &crate::dns::Answer) -> Vec<dane::Tlsa> {
    a.records
        .iter()
        .filter_map(|r| match r {
            Rdata::Tlsa {
                usage,
                selector,
                matching,
            } => Some(dane::Tlsa {
                usage: *usage,
                selector: *selector,
                matching: *matching,
            }),
            _ => None,
        })
        .collect()
}

/// Scans one domain. Returns its row and the distinct MX addresses found (for the hosts table).
pub async fn scan_domain(
    res: &Resolver,
    domain: &str,
    opts: &DomainOptions,
    policy: &PolicyStage,
    stats: &PolicyStats,
    now_ms: impl Fn() -> i64,
) -> (DomainRow, Vec<IpAddr>, Vec<String>) {
    let mx = res.lookup(domain, RecordType::MX).await;
    let mut mxf = mx_findings(&mx);
    if mx.status.is_failure() {
        mxf.errors.push(problem(
            Code::Dns(mx.status),
            format_args!("MX query {}", mx.describe()),
        ));
    }
    // With DO set (EngineOptions::dnssec_ok), a validating resolver's AD bit says whether it
    // validated the answer (RFC 4035 3.2.3, RFC 6840 5.8).
    let dnssec_ad =
        (res.engine().options().dnssec_ok && !mx.status.is_failure()).then_some(mx.authentic);
    if let Some((spf, mut policies)) = short_cut(domain, &mx, opts, policy) {
        if mx.status == Status::NxDomain {
            mxf.ips = Some(Vec::new());
            // Nothing exists below it, but the names above it do: DMARC discovery goes on at
            // its parents, and RFC 9989 4.10.1 applies their `np` to exactly such a domain.
            policies.dmarc = policies::dmarc_stage(res, domain, &policy.opts, false).await;
        }
        let mut row = DomainRow::new(domain, mxf, dnssec_ad, spf, policies);
        row.scanned_at = now_ms();
        return (row, Vec::new(), Vec::new());
    }
    let exchanges = mxf.exchanges[..mxf.exchanges.len().min(MAX_EXCHANGES)].to_vec();
    let ((mut spf, mut found), lookups, type99) = tokio::join!(
        spf_and_policies(res, domain, opts, policy, stats, &exchanges),
        exchange_lookups(res, &exchanges),
        type99_lookup(res, domain, opts),
    );
    let ex = Exchanges::from_lookups(&lookups);
    let spf_targets = std::mem::take(&mut spf.targets);
    let spf = spf_findings(res, domain, spf, &ex.ips, type99).await;
    exchange_problems(&mut mxf, &ex);
    let mut dane_findings = None;
    if !mx.status.is_failure() {
        mxf.ips = Some(ex.ips.iter().map(|ip| ip.to_string()).collect());
        if !exchanges.is_empty() {
            mxf.ips_status = Some(ex.first_failure.unwrap_or(Status::Ok));
            let aaaa: Vec<(Status, usize)> = (lookups.iter())
                .map(|l| (l.aaaa.status, l.aaaa.ips().count()))
                .collect();
            mxf.ipv6 = crate::checks::mx::all_ipv6(&aaaa);
            dane_findings = Some(dane::dane(&ex.tlsa));
        }
    }
    if let (Some(p), false) = (&mut found.mta_sts.policy, mx.status.is_failure())
        && let Some(patterns) = &p.mx
    {
        p.mx_uncovered = Some(mta_sts::uncovered_mx(patterns, &mxf.exchanges));
    }
    let mut row = DomainRow::new(domain, mxf, dnssec_ad, spf, found);
    row.dane = dane_findings;
    // Only a domain whose MX answer came: otherwise its exchanges, and so its set-up, are unknown.
    if !mx.status.is_failure() {
        let psl = policy.opts.psl.as_deref();
        row.dangling = Some(super::dangling::findings(res, &row, &spf_targets, psl).await);
    }
    row.scanned_at = now_ms();
    (row, ex.ips, ex.exchange_of)
}

/// The SPF and policy findings of a domain whose other questions are not asked: one that does
/// not exist (RFC 8020: nothing exists at or below it, so the apex TXT and _dmarc queries
/// would only return NXDOMAIN again; its DMARC discovery above it is the caller's), or whose MX
/// query timed out (`skip_after_mx_timeout`).
fn short_cut(
    domain: &str,
    mx: &Answer,
    opts: &DomainOptions,
    policy: &PolicyStage,
) -> Option<(SpfFindings, Policies)> {
    if mx.status == Status::NxDomain {
        return Some((SpfFindings::nxdomain(), Policies::nxdomain(&policy.opts)));
    }
    if mx.status == Status::Timeout && opts.skip_after_mx_timeout {
        let reason = format!("not asked: the MX query of {domain} timed out");
        let spf = SpfFindings::temperror(&reason);
        return Some((spf, Policies::unasked(&policy.opts, &reason)));
    }
    None
}

/// SPF's walk and the mail policies together: the DKIM probe plan starts from the providers the
/// SPF tree names, so the walk hands them over as soon as it ends.
async fn spf_and_policies(
    res: &Resolver,
    domain: &str,
    opts: &DomainOptions,
    policy: &PolicyStage,
    stats: &PolicyStats,
    exchanges: &[String],
) -> (spf::SpfAnalysis, Policies) {
    let (hints_tx, hints) = tokio::sync::oneshot::channel();
    let walk = async {
        let spf = spf::analyze_with(res, domain, opts.spf_walk).await;
        let _ = hints_tx.send(spf::providers(&spf.include_tree, &PROVIDERS));
        spf
    };
    tokio::join!(
        walk,
        policies::scan(res, domain, policy, stats, exchanges, hints)
    )
}

/// The RR type 99 (SPF) query, with `spf_type99`.
async fn type99_lookup(res: &Resolver, domain: &str, opts: &DomainOptions) -> Option<Arc<Answer>> {
    match opts.spf_type99 {
        true => Some(res.lookup(domain, RecordType::from(99u16)).await),
        false => None,
    }
}

/// Each exchange's A, AAAA, CNAME and TLSA answers. The CNAME query tells an alias exchange
/// (RFC 2181 10.3) apart: the A/AAAA answers follow the chain and keep only the asked type.
/// TLSA at _25._tcp.<exchange> is DANE for SMTP (RFC 7672 2.2); the cache asks it once per
/// exchange however many domains share it.
async fn exchange_lookups(res: &Resolver, exchanges: &[String]) -> Vec<ExchangeLookups> {
    futures::future::join_all(exchanges.iter().map(|e| async move {
        let tlsa_name = format!("_25._tcp.{e}");
        let (a, aaaa, cname, tlsa) = tokio::join!(
            res.lookup(e, RecordType::A),
            res.lookup(e, RecordType::AAAA),
            res.lookup(e, RecordType::CNAME),
            res.lookup(&tlsa_name, RecordType::TLSA)
        );
        ExchangeLookups {
            exchange: e.clone(),
            a,
            aaaa,
            cname,
            tlsa,
        }
    }))
    .await
}

struct ExchangeLookups {
    exchange: String,
    a: Arc<Answer>,
    aaaa: Arc<Answer>,
    cname: Arc<Answer>,
    tlsa: Arc<Answer>,
}

/// What the exchanges' answers say.
#[derive(Default)]
struct Exchanges {
    /// The distinct addresses, in MX order.
    ips: Vec<IpAddr>,
    /// The exchange that first gave each address (the SMTP stage verifies certificates for it).
    exchange_of: Vec<String>,
    first_failure: Option<Status>,
    aliases: HashSet<String>,
    addressless: HashSet<String>,
    tlsa: Vec<dane::ExchangeTlsa>,
    /// Failed address and TLSA lookups, in MX order.
    problems: Vec<String>,
}

impl Exchanges {
    fn from_lookups(lookups: &[ExchangeLookups]) -> Exchanges {
        let mut x = Exchanges::default();
        for l in lookups {
            let exchange = &l.exchange;
            if l.cname.status == Status::Ok {
                x.aliases.insert(exchange.clone());
            }
            let tlsa = dane::ExchangeTlsa {
                exchange: exchange.clone(),
                tlsa: Lookup::from_answer(&l.tlsa, tlsa_records),
                authentic: l.tlsa.authentic,
                status: l.tlsa.status,
            };
            x.problems.extend(dane::lookup_error(&tlsa));
            x.tlsa.push(tlsa);
            for ans in [&l.a, &l.aaaa] {
                if ans.status.is_failure() {
                    x.first_failure.get_or_insert(ans.status);
                    x.problems.push(problem(
                        Code::MxAddressLookup,
                        format_args!("{exchange}: {}", ans.describe()),
                    ));
                }
                for ip in ans.ips() {
                    if !x.ips.contains(&ip) {
                        x.ips.push(ip);
                        x.exchange_of.push(exchange.clone());
                    }
                }
            }
            let no_address = [&l.a, &l.aaaa]
                .iter()
                .all(|a| !a.status.is_failure() && a.records.is_empty());
            if no_address {
                x.addressless.insert(exchange.clone());
            }
        }
        x
    }
}

/// The exchanges' problems, after the MX answer's own: too many exchanges, failed lookups,
/// and the exchanges' own (aliases, no address, RFC 5321 5.1 / RFC 2181 10.3).
fn exchange_problems(mxf: &mut MxFindings, ex: &Exchanges) {
    if mxf.exchanges.len() > MAX_EXCHANGES {
        mxf.errors.push(problem(
            Code::MxTooMany,
            format_args!(
                "{} exchanges, addresses of the first {MAX_EXCHANGES} looked up",
                mxf.exchanges.len()
            ),
        ));
    }
    mxf.errors.extend(ex.problems.iter().cloned());
    if let Some(records) = &mxf.records {
        let problems = mx_policy::exchange_problems(records, &ex.aliases, &ex.addressless);
        mxf.errors.extend(problems);
    }
}

/// SPF's findings: the analysis, whether the MX addresses pass the domain's own SPF (at most
/// [`MAX_SPF_MX_CHECKS`] of them), and a type 99 record still published.
async fn spf_findings(
    res: &Resolver,
    domain: &str,
    analysis: spf::SpfAnalysis,
    ips: &[IpAddr],
    type99: Option<Arc<Answer>>,
) -> SpfFindings {
    let mut spf = SpfFindings::from_analysis(analysis, &PROVIDERS);
    if spf.status == SpfStatus::Valid && !ips.is_empty() {
        let sender = format!("postmaster@{domain}");
        let mut all_pass = true;
        for ip in ips.iter().take(MAX_SPF_MX_CHECKS) {
            let outcome = spf::check_host(res, *ip, domain, &sender, domain).await;
            all_pass &= outcome.result == SpfResult::Pass;
        }
        spf.mx_pass = Some(all_pass);
    }
    if let Some(a) = type99 {
        if a.status == Status::Ok {
            spf.flags.push("spf_type99".into());
        } else if a.status.is_failure() {
            spf.errors.push(problem(
                Code::DnsTempError,
                format_args!("type 99 (SPF) query {}", a.describe()),
            ));
        }
    }
    spf
}

/// What one domain probe hands on: its row, and the distinct MX addresses for the host stage.
#[derive(Debug)]
pub struct DomainOutput {
    pub row: DomainRow,
    pub ips: Vec<IpAddr>,
    /// For each of `ips`, the MX exchange that gave it.
    pub exchanges: Vec<String>,
}

/// The domain stage's probe: every DNS check of one domain (MX, SPF, the mail policies, DANE,
/// RHSBL), through the shared cache.
pub struct DomainProbe {
    pub resolver: Resolver,
    pub opts: DomainOptions,
    pub policy: std::sync::Arc<PolicyStage>,
    pub stats: std::sync::Arc<crate::pipeline::ScanStats>,
    pub checker: std::sync::Arc<crate::pipeline::host::HostChecker>,
    pub concurrency: usize,
}

impl crate::pipeline::stage::Probe for DomainProbe {
    type Target = String;
    type Output = DomainOutput;

    fn name(&self) -> &'static str {
        "domains"
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// One DNS query's deadline (every attempt and a TCP fallback each) plus the MTA-STS fetch:
    /// the domain's queries run concurrently, and on a stop a deeper SPF walk is abandoned
    /// rather than waited for.
    fn worst_case(&self) -> std::time::Duration {
        let mut d = self.resolver.engine().options().query_deadline();
        if let Some(f) = &self.policy.opts.mta_sts_fetch {
            d += f.timeout;
        }
        d + std::time::Duration::from_secs(1)
    }

    async fn admit(&self) {
        crate::pipeline::stage::dns_room(&self.resolver).await
    }

    async fn probe(&self, domain: String) -> DomainOutput {
        let (mut row, ips, exchanges) = scan_domain(
            &self.resolver,
            &domain,
            &self.opts,
            &self.policy,
            &self.stats.policies,
            crate::pipeline::now_ms,
        )
        .await;
        if self.checker.has_domain_zones() {
            row.dnsbl_domain = Some(self.checker.rhsbl(&self.resolver, &domain).await);
        }
        DomainOutput {
            row,
            ips,
            exchanges,
        }
    }

    fn failed(&self, domain: &String, why: &str) -> DomainOutput {
        DomainOutput {
            row: DomainRow::failed(domain, why, crate::pipeline::now_ms()),
            ips: Vec::new(),
            exchanges: Vec::new(),
        }
    }
}

impl DomainRow {
    /// The row of a domain whose checks answered (or, for a domain that does not exist or does
    /// not answer, were answered for without a question): each check's part from its findings;
    /// the DANE and RHSBL parts start absent and are set by the caller when it has them.
    pub fn new(
        domain: &str,
        mx: MxFindings,
        dnssec_ad: Option<bool>,
        spf: SpfFindings,
        p: Policies,
    ) -> DomainRow {
        DomainRow {
            domain: domain.to_string(),
            scanned_at: 0,
            mx: mx.into(),
            spf: spf.into(),
            // The parse served the follow-up queries; the row keeps what the columns show.
            dmarc: DmarcFindings {
                parsed: None,
                ..p.dmarc
            }
            .into(),
            dnsbl_domain: None,
            dane: None,
            dkim: p.dkim.into(),
            mta_sts: p.mta_sts.into(),
            soa_rname: p.soa_rname,
            txt: p.txt.into(),
            soa_status: p.soa_status,
            dnssec_ad,
            domain_status: DomainStatus::Ok,
            domain_error: None,
            dangling: None,
        }
    }

    /// The row of a domain whose probe failed itself: every status `error`, nothing measured.
    pub fn failed(domain: &str, why: &str, now_ms: i64) -> DomainRow {
        DomainRow {
            domain: domain.to_string(),
            scanned_at: now_ms,
            mx: Checked::ProbeError,
            spf: Checked::ProbeError,
            dmarc: Checked::ProbeError,
            dnsbl_domain: None,
            dane: None,
            dkim: Checked::ProbeError,
            mta_sts: Checked::ProbeError,
            soa_rname: None,
            txt: Checked::ProbeError,
            soa_status: Status::Error,
            dnssec_ad: None,
            domain_status: DomainStatus::Error,
            domain_error: Some(why.to_string()),
            dangling: Some(crate::checks::dangling::DanglingFindings::error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use crate::dns::{CacheOptions, MockDns};
    use crate::output::columns::Row;
    use crate::pipeline::PolicyOptions;

    fn spf(row: &DomainRow) -> &SpfFindings {
        row.spf.done().expect("the probe ran")
    }

    fn mx(row: &DomainRow) -> &MxFindings {
        row.mx.done().expect("the probe ran")
    }

    fn dmarc(row: &DomainRow) -> &DmarcFindings {
        row.dmarc.done().expect("the probe ran")
    }

    fn dkim_selectors(row: &DomainRow) -> Option<Vec<String>> {
        row.dkim.done().expect("the probe ran").selectors.clone()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A domain with MX, SPF and DMARC, its exchange with an address.
    fn world() -> MockDns {
        MockDns::new()
            .mx("d.example", &[(10, "mx.d.example")])
            .addr("mx.d.example", ip("192.0.2.1"))
            .txt("d.example", &["v=spf1 mx -all"])
            .txt("_dmarc.d.example", &["v=DMARC1; p=reject"])
    }

    async fn scan(dns: MockDns, domain: &str) -> (DomainRow, Vec<IpAddr>, Arc<MockDns>, u64) {
        let dns = Arc::new(dns);
        let res = Resolver::with_dns(dns.clone(), CacheOptions::default());
        let policy = PolicyStage::new(PolicyOptions::default()).unwrap();
        let stats = PolicyStats::default();
        let (row, ips, _) = scan_domain(
            &res,
            domain,
            &DomainOptions::default(),
            &policy,
            &stats,
            || 0,
        )
        .await;
        (row, ips, dns, stats.dkim_probes_saved.load(Relaxed))
    }

    fn asked_names(dns: &MockDns) -> Vec<String> {
        let mut v: Vec<String> = dns
            .asked()
            .iter()
            .map(|(n, t)| format!("{t} {n}"))
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn the_queries_of_one_domain_are_the_budgeted_ones() {
        let (row, ips, dns, saved) = scan(world(), "d.example").await;
        assert_eq!(mx(&row).status.as_str(), "ok");
        assert_eq!(spf(&row).status.as_str(), "valid");
        assert_eq!(dmarc(&row).status.as_str(), "valid");
        assert_eq!(spf(&row).mx_pass, Some(true));
        assert_eq!(ips, [ip("192.0.2.1")]);
        // Each asked once (the cache answers SPF's own mx and a lookups), no DKIM selector
        // because _domainkey.d.example does not exist (RFC 8020).
        assert_eq!(
            asked_names(&dns),
            [
                "A mx.d.example",
                "AAAA mx.d.example",
                "CNAME mx.d.example",
                "MX d.example",
                "SOA d.example",
                "TLSA _25._tcp.mx.d.example",
                "TXT _dmarc.d.example",
                "TXT _domainkey.d.example",
                "TXT _mta-sts.d.example",
                "TXT _smtp._tls.d.example",
                "TXT d.example",
                "TXT default._bimi.d.example",
            ]
        );
        assert_eq!(
            saved,
            crate::checks::dkim::COMMON_SELECTORS.len() as u64,
            "the common selectors' probes were not sent"
        );
    }

    #[tokio::test]
    async fn an_existing_domainkey_subtree_is_probed_selector_by_selector() {
        let dns = world().txt("google._domainkey.d.example", &["v=DKIM1; p="]);
        let (row, _, dns, saved) = scan(dns, "d.example").await;
        let selectors = dns
            .asked()
            .iter()
            .filter(|(n, _)| n.ends_with("._domainkey.d.example"))
            .count();
        let common = crate::checks::dkim::COMMON_SELECTORS.len();
        assert_eq!((selectors, saved), (common, 0));
        assert_eq!(dkim_selectors(&row), Some(vec!["google".to_string()]));
    }

    #[tokio::test]
    async fn the_providers_an_spf_include_names_add_their_selectors() {
        // SendGrid's s1 is in the common list; s2 and smtpapi come from the include.
        let dns = world()
            .txt("d.example", &["v=spf1 mx include:sendgrid.net -all"])
            .txt("sendgrid.net", &["v=spf1 -all"])
            .txt("s2._domainkey.d.example", &["v=DKIM1; p="]);
        let (row, _, dns, _) = scan(dns, "d.example").await;
        let mut asked: Vec<String> = dns
            .asked()
            .iter()
            .filter_map(|(n, _)| n.strip_suffix("._domainkey.d.example").map(String::from))
            .collect();
        asked.sort();
        let mut want: Vec<String> = crate::checks::dkim::COMMON_SELECTORS
            .iter()
            .map(|s| s.to_string())
            .chain(["s2".to_string(), "smtpapi".to_string()])
            .collect();
        want.sort();
        assert_eq!(asked, want);
        assert_eq!(spf(&row).providers, ["sendgrid"]);
        assert_eq!(dkim_selectors(&row), Some(vec!["s2".to_string()]));
    }

    /// RFC 8020: nothing exists below an NXDOMAIN name, so only its MX is asked of it; DMARC
    /// discovery goes on above it (RFC 9989 4.10.1), where `np` applies.
    #[tokio::test]
    async fn a_domain_that_does_not_exist_asks_only_dmarc_above_it() {
        let (row, ips, dns, _) = scan(world(), "gone.example").await;
        assert_eq!(asked_names(&dns), ["MX gone.example", "TXT _dmarc.example"]);
        assert_eq!(
            (mx(&row).status.as_str(), spf(&row).status.as_str()),
            ("nxdomain", "none")
        );
        assert_eq!(dmarc(&row).status.as_str(), "none");
        assert_eq!(mx(&row).ips, Some(vec![]));
        assert!(ips.is_empty());

        // (the Organizational Domain's record, effective policy of the non-existent subdomain)
        for (record, want) in [
            ("v=DMARC1; p=reject", "reject"),
            ("v=DMARC1; p=none; sp=quarantine", "quarantine"),
            ("v=DMARC1; p=none; sp=quarantine; np=reject", "reject"),
        ] {
            let dns = MockDns::new().txt("_dmarc.d.example", &[record]);
            let (row, _, dns, _) = scan(dns, "gone.d.example").await;
            assert_eq!(
                asked_names(&dns),
                [
                    "MX gone.d.example",
                    "TXT _dmarc.d.example",
                    "TXT _dmarc.example"
                ],
                "{record}"
            );
            let f = dmarc(&row);
            assert_eq!(
                (f.effective_p.as_deref(), f.policy_domain.as_deref()),
                (Some(want), Some("d.example")),
                "{record}"
            );
            // RFC 7489 has no np: the two methods disagree exactly when np is used.
            assert_eq!(f.methods_differ, Some(record.contains("np=")), "{record}");
        }
    }

    #[tokio::test]
    async fn failures_are_statuses_never_no_record() {
        use crate::dns::Status::*;
        let dns = world()
            .fail("d.example", RecordType::TXT, Timeout)
            .fail("_dmarc.d.example", RecordType::TXT, ServFail)
            .fail("mx.d.example", RecordType::AAAA, Timeout);
        let (row, ips, _, _) = scan(dns, "d.example").await;
        assert_eq!(spf(&row).status.as_str(), "temperror");
        assert_eq!(spf(&row).records.clone(), None, "unknown, not empty");
        assert_eq!(spf(&row).mx_pass, None);
        assert_eq!(dmarc(&row).status.as_str(), "temperror");
        assert_eq!(mx(&row).ips_status.map(Status::as_str), Some("timeout"));
        assert_eq!(ips, [ip("192.0.2.1")], "the A answer still counts");
        assert!(
            mx(&row)
                .errors
                .iter()
                .any(|e| e.starts_with("mx-address-lookup: mx.d.example: timeout")),
            "{:?}",
            mx(&row).errors
        );

        let dns = MockDns::new().fail("d.example", RecordType::MX, Timeout);
        let (row, ips, _, _) = scan(dns, "d.example").await;
        assert_eq!(mx(&row).status.as_str(), "timeout");
        assert_eq!(
            (&mx(&row).records, mx(&row).null, &mx(&row).ips),
            (&None, None, &None)
        );
        assert!(ips.is_empty());
    }

    #[tokio::test]
    async fn a_domain_whose_mx_times_out_is_not_asked_further() {
        use crate::dns::Status::*;
        let dns = world().fail("d.example", RecordType::MX, Timeout);
        let (row, _, dns, _) = scan(dns, "d.example").await;
        assert_eq!(asked_names(&dns), ["MX d.example"]);
        let statuses = [
            spf(&row).status.as_str(),
            dmarc(&row).status.as_str(),
            row.status("dkim_status").unwrap(),
            row.status("mta_sts_status").unwrap(),
            row.status("tls_rpt_status").unwrap(),
            row.status("bimi_status").unwrap(),
        ];
        assert_eq!(statuses, ["temperror"; 6]);
        assert_eq!(row.soa_status.as_str(), "timeout");
        assert_eq!(
            (
                spf(&row).records.clone(),
                dmarc(&row).p.clone(),
                dkim_selectors(&row)
            ),
            (None, None, None)
        );
        assert!(
            dmarc(&row).errors.iter().any(|e| e.contains("not asked")),
            "{:?}",
            dmarc(&row).errors
        );
    }
}
