//! `check_host()` (RFC 7208 sections 4 to 6).

use crate::checks::problem::{Code, problem};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use super::macros::{MacroString, MacroVars};
use super::record::{DomainSpec, DualCidr, Mechanism, Qualifier, Record};
use super::{
    Lookup, MAX_DNS_TERMS, MAX_NAMES_PER_TERM, MAX_VOID_LOOKUPS, SpfDns, canonical_ip,
    is_spf_record, normalize_target,
};

/// Nesting guard on top of the 10-term limit, which already bounds depth
/// to 11; it only matters if the limit were ever raised.
const MAX_DEPTH: u8 = 20;

/// The results of RFC 7208 2.6, with the RFC's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfResult {
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

impl SpfResult {
    /// Lowercase, as in Received-SPF (RFC 7208 9.1) and the test suite.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

impl From<Qualifier> for SpfResult {
    fn from(q: Qualifier) -> Self {
        match q {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What check_host() concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    pub result: SpfResult,
    /// RFC 7208 6.2: only after `fail`, and only when the `exp=` target
    /// yields exactly one valid explain-string. None means the receiver
    /// should use its default explanation.
    pub explanation: Option<String>,
    /// Why the result is temperror or permerror (or none), with a stable
    /// code before the colon, e.g. `lookup-limit: ...`.
    pub problem: Option<String>,
    /// DNS-querying terms evaluated (RFC 7208 4.6.4).
    pub lookups: u32,
    /// Void lookups met (RFC 7208 4.6.4).
    pub void_lookups: u32,
}

/// The inputs of check_host() (RFC 7208 4.1) plus the two values the
/// explanation macros need that a caller may want to fix (`r`, `t`).
#[derive(Debug, Clone)]
pub struct CheckParams<'a> {
    /// `<ip>`; IPv4-mapped IPv6 is evaluated as IPv4.
    pub ip: IpAddr,
    /// `<domain>`: the MAIL FROM domain, or the HELO name (RFC 7208 2.3/2.4).
    pub domain: &'a str,
    /// `<sender>`: MAIL FROM, or `"postmaster@<helo>"` when it was empty. A
    /// missing local-part becomes "postmaster" (RFC 7208 4.3).
    pub sender: &'a str,
    /// HELO/EHLO name, for `%{h}`.
    pub helo: &'a str,
    /// `%{r}`: the checking host's name; "unknown" if none.
    pub receiver: &'a str,
    /// `%{t}`: seconds since the epoch.
    pub timestamp: u64,
}

/// check_host() with `r` = "unknown" and `t` = now.
pub async fn check_host<D: SpfDns>(
    dns: &D,
    ip: IpAddr,
    domain: &str,
    sender: &str,
    helo: &str,
) -> SpfOutcome {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    check_host_with(
        dns,
        &CheckParams {
            ip,
            domain,
            sender,
            helo,
            receiver: "unknown",
            timestamp,
        },
    )
    .await
}

/// check_host() with every input explicit.
pub async fn check_host_with<D: SpfDns>(dns: &D, p: &CheckParams<'_>) -> SpfOutcome {
    let (local, sender_domain) = match p.sender.rsplit_once('@') {
        Some((l, d)) => (l, d),
        None => ("", p.sender),
    };
    // RFC 4.3: "If the <sender> has no local-part, substitute the string
    // "postmaster" for the local-part."
    let local = if local.is_empty() {
        "postmaster"
    } else {
        local
    };
    let sender = format!("{local}@{sender_domain}");
    let mut ev = Evaluator {
        dns,
        ip: canonical_ip(p.ip),
        sender: &sender,
        local,
        sender_domain,
        helo: p.helo,
        receiver: p.receiver,
        timestamp: p.timestamp,
        lookups: 0,
        voids: 0,
    };
    // RFC 7208 4.3: a malformed or single-label <domain> is "none" with
    // no query at all.
    let domain = match initial_domain(p.domain) {
        Some(d) => d,
        None => {
            return SpfOutcome {
                result: SpfResult::None,
                explanation: None,
                problem: Some(problem(
                    Code::InvalidDomain,
                    format_args!("{:?} is not a valid FQDN", truncate(p.domain, 80)),
                )),
                lookups: 0,
                void_lookups: 0,
            };
        }
    };
    let v = ev.check(domain, 0).await;
    SpfOutcome {
        result: v.result,
        explanation: v.explanation,
        problem: v.problem,
        lookups: ev.lookups,
        void_lookups: ev.voids,
    }
}

/// RFC 7208 4.3: labels of 1 to 63 characters, at least two of them, and
/// characters a DNS host name can have (which rules out domain literals).
fn initial_domain(d: &str) -> Option<String> {
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.len() > 253 || !d.contains('.') {
        return None;
    }
    let ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    });
    ok.then(|| d.to_ascii_lowercase())
}

struct Verdict {
    result: SpfResult,
    explanation: Option<String>,
    problem: Option<String>,
}

impl Verdict {
    fn plain(result: SpfResult) -> Self {
        Self {
            result,
            explanation: None,
            problem: None,
        }
    }
    fn error(result: SpfResult, problem: String) -> Self {
        Self {
            result,
            explanation: None,
            problem: Some(problem),
        }
    }
}

/// Early exit of a term: the whole evaluation ends with this verdict.
type Abort = Verdict;

struct Evaluator<'a, D> {
    dns: &'a D,
    ip: IpAddr,
    sender: &'a str,
    local: &'a str,
    sender_domain: &'a str,
    helo: &'a str,
    receiver: &'a str,
    timestamp: u64,
    lookups: u32,
    voids: u32,
}

type BoxFut<'f, T> = Pin<Box<dyn Future<Output = T> + Send + 'f>>;

impl<'a, D: SpfDns> Evaluator<'a, D> {
    /// One check_host() call for `domain` (RFC 7208 4.4 to 4.7). Boxed
    /// because include and redirect recurse.
    fn check(&mut self, domain: String, depth: u8) -> BoxFut<'_, Verdict> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Verdict::error(
                    SpfResult::PermError,
                    problem(
                        Code::DepthLimit,
                        format_args!("nesting deeper than {MAX_DEPTH} at {domain}"),
                    ),
                );
            }
            let record = match fetch_record(self.dns, &domain).await {
                Ok(r) => r,
                Err(v) => return v,
            };
            let record = match super::record::parse(&record) {
                Ok(r) => r,
                Err(e) => {
                    return Verdict::error(SpfResult::PermError, format!("{e} in {domain}"));
                }
            };
            match self.evaluate(&record, &domain, depth).await {
                Ok(v) => v,
                Err(abort) => abort,
            }
        })
    }

    /// RFC 7208 4.6.2 and 4.7: first matching directive wins, then
    /// redirect, then "neutral".
    async fn evaluate(
        &mut self,
        record: &Record,
        domain: &str,
        depth: u8,
    ) -> Result<Verdict, Abort> {
        for directive in &record.directives {
            if self.matches(&directive.mechanism, domain, depth).await? {
                let result = SpfResult::from(directive.qualifier);
                let explanation = if result == SpfResult::Fail {
                    match &record.exp {
                        Some(exp) => self.explain(exp, domain).await,
                        None => None,
                    }
                } else {
                    None
                };
                return Ok(Verdict {
                    result,
                    explanation,
                    problem: None,
                });
            }
        }
        if let Some(redirect) = record.effective_redirect() {
            self.count_term()?;
            // RFC 7208 6.1: a redirect target without a record, or one
            // that is not a valid name, is "permerror".
            let Some(target) = self.target(redirect, domain).await else {
                return Err(Verdict::error(
                    SpfResult::PermError,
                    problem(
                        Code::RedirectInvalid,
                        format_args!("redirect={redirect} expands to no valid name"),
                    ),
                ));
            };
            let v = self.check(target.clone(), depth + 1).await;
            if v.result == SpfResult::None {
                return Err(Verdict::error(
                    SpfResult::PermError,
                    problem(
                        Code::RedirectNone,
                        format_args!("no SPF record at redirect target {target}"),
                    ),
                ));
            }
            return Ok(v);
        }
        Ok(Verdict::plain(SpfResult::Neutral))
    }

    fn count_term(&mut self) -> Result<(), Abort> {
        self.lookups += 1;
        if self.lookups > MAX_DNS_TERMS {
            return Err(Verdict::error(
                SpfResult::PermError,
                problem(
                    Code::LookupLimit,
                    format_args!("more than {MAX_DNS_TERMS} DNS-querying terms"),
                ),
            ));
        }
        Ok(())
    }

    fn count_void(&mut self) -> Result<(), Abort> {
        self.voids += 1;
        if self.voids > MAX_VOID_LOOKUPS {
            return Err(Verdict::error(
                SpfResult::PermError,
                problem(
                    Code::VoidLimit,
                    format_args!("more than {MAX_VOID_LOOKUPS} void lookups"),
                ),
            ));
        }
        Ok(())
    }

    /// Expands a domain-spec for a query, with `%{p}` resolved only when
    /// used. None: the expansion is no valid name (RFC 7208 4.8 / 7.3).
    async fn target(&self, spec: &DomainSpec, domain: &str) -> Option<String> {
        let validated = if spec.0.uses_letter(b'p') {
            self.validated_domain(domain).await
        } else {
            None
        };
        let expanded = spec
            .0
            .expand(&self.vars(domain, validated.as_deref()), true);
        normalize_target(&expanded)
    }

    fn vars<'v>(&'v self, domain: &'v str, validated: Option<&'v str>) -> MacroVars<'v> {
        MacroVars {
            sender: self.sender,
            local: self.local,
            sender_domain: self.sender_domain,
            domain,
            ip: self.ip,
            helo: self.helo,
            validated,
            receiver: self.receiver,
            timestamp: self.timestamp,
        }
    }

    async fn matches(&mut self, m: &Mechanism, domain: &str, depth: u8) -> Result<bool, Abort> {
        if m.queries_dns() {
            self.count_term()?;
        }
        let target = match m.domain_spec() {
            Some(spec) => match self.target(spec, domain).await {
                Some(t) => t,
                None if matches!(m, Mechanism::Include(_)) => {
                    return Err(Verdict::error(
                        SpfResult::PermError,
                        problem(
                            Code::IncludeInvalid,
                            format_args!("include:{spec} expands to no valid name"),
                        ),
                    ));
                }
                None => return Ok(false),
            },
            None => domain.to_owned(),
        };
        match m {
            Mechanism::All => Ok(true),
            Mechanism::Ip4 { addr, prefix } => Ok(match self.ip {
                IpAddr::V4(ip) => in_prefix4(ip.into(), (*addr).into(), *prefix),
                IpAddr::V6(_) => false,
            }),
            Mechanism::Ip6 { addr, prefix } => Ok(match self.ip {
                IpAddr::V6(ip) => in_prefix6(ip.into(), (*addr).into(), *prefix),
                IpAddr::V4(_) => false,
            }),
            Mechanism::A { cidr, .. } => match self.addresses(&target, *cidr).await {
                Lookup::Records(hit) => Ok(hit.contains(&true)),
                Lookup::TempError(e) => Err(temp(&target, &e)),
                _ => {
                    self.count_void()?;
                    Ok(false)
                }
            },
            Mechanism::Mx { cidr, .. } => self.match_mx(&target, *cidr).await,
            Mechanism::Ptr(_) => {
                let names = self.validated_names().await;
                Ok(names
                    .iter()
                    .any(|n| n == &target || is_subdomain(n, &target)))
            }
            Mechanism::Exists(_) => {
                // RFC 7208 5.7: always an A query, whatever the client's family.
                match self.dns.a(&target).await {
                    Lookup::Records(r) if !r.is_empty() => Ok(true),
                    Lookup::TempError(e) => Err(temp(&target, &e)),
                    _ => {
                        self.count_void()?;
                        Ok(false)
                    }
                }
            }
            Mechanism::Include(_) => {
                // RFC 7208 5.2 table: pass matches; fail, softfail and
                // neutral do not; temperror propagates; permerror and none
                // become permerror.
                let v = self.check(target.clone(), depth + 1).await;
                match v.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError => Err(v),
                    SpfResult::PermError => Err(v),
                    SpfResult::None => Err(Verdict::error(
                        SpfResult::PermError,
                        problem(
                            Code::IncludeNone,
                            format_args!("no SPF record at include target {target}"),
                        ),
                    )),
                }
            }
        }
    }

    /// A or AAAA (by the client's family) of `name`, each compared with the
    /// client under the given prefix. Void answers come back as NoData.
    async fn addresses(&self, name: &str, cidr: DualCidr) -> Lookup<bool> {
        match self.ip {
            IpAddr::V4(ip) => match self.dns.a(name).await {
                Lookup::Records(r) if !r.is_empty() => Lookup::Records(
                    r.iter()
                        .map(|a| in_prefix4(ip.into(), (*a).into(), cidr.v4))
                        .collect(),
                ),
                Lookup::TempError(e) => Lookup::TempError(e),
                _ => Lookup::NoData,
            },
            IpAddr::V6(ip) => match self.dns.aaaa(name).await {
                Lookup::Records(r) if !r.is_empty() => Lookup::Records(
                    r.iter()
                        .map(|a| in_prefix6(ip.into(), (*a).into(), cidr.v6))
                        .collect(),
                ),
                Lookup::TempError(e) => Lookup::TempError(e),
                _ => Lookup::NoData,
            },
        }
    }

    /// RFC 7208 5.4; 4.6.4 caps the MX names at 10 ("permerror" beyond,
    /// as the test suite expects).
    async fn match_mx(&mut self, target: &str, cidr: DualCidr) -> Result<bool, Abort> {
        let mut exchanges = match self.dns.mx(target).await {
            Lookup::Records(r) if !r.is_empty() => r,
            Lookup::TempError(e) => return Err(temp(target, &e)),
            _ => {
                self.count_void()?;
                return Ok(false);
            }
        };
        if exchanges.len() > MAX_NAMES_PER_TERM {
            return Err(Verdict::error(
                SpfResult::PermError,
                problem(
                    Code::MxLimit,
                    format_args!(
                        "{target} has {} MX names (max {MAX_NAMES_PER_TERM})",
                        exchanges.len()
                    ),
                ),
            ));
        }
        exchanges.sort();
        for (_, host) in &exchanges {
            let Some(host) = normalize_target(host) else {
                continue;
            };
            match self.addresses(&host, cidr).await {
                Lookup::Records(hit) if hit.contains(&true) => return Ok(true),
                Lookup::TempError(e) => return Err(temp(&host, &e)),
                _ => {}
            }
        }
        Ok(false)
    }

    /// RFC 7208 5.5 steps: PTR names of the client (first 10 only), each
    /// kept when its A/AAAA contains the client. DNS errors skip a name.
    async fn validated_names(&self) -> Vec<String> {
        let names = match self.dns.ptr(self.ip).await {
            Lookup::Records(r) => r,
            _ => return Vec::new(),
        };
        let mut valid = Vec::new();
        for name in names.iter().take(MAX_NAMES_PER_TERM) {
            let Some(name) = normalize_target(name) else {
                continue;
            };
            let ok = match self.addresses(&name, DualCidr::default()).await {
                Lookup::Records(hit) => hit.contains(&true),
                _ => false,
            };
            if ok {
                valid.push(name);
            }
        }
        valid
    }

    /// `%{p}` (RFC 7208 7.3): a validated name equal to `<domain>`, else one
    /// under it, else any; None expands to "unknown".
    async fn validated_domain(&self, domain: &str) -> Option<String> {
        let names = self.validated_names().await;
        names
            .iter()
            .find(|n| *n == domain)
            .or_else(|| names.iter().find(|n| is_subdomain(n, domain)))
            .or_else(|| names.first())
            .cloned()
    }

    /// RFC 7208 6.2: any problem fetching or expanding the explanation
    /// means "no explanation", never a different result.
    async fn explain(&self, exp: &DomainSpec, domain: &str) -> Option<String> {
        let target = self.target(exp, domain).await?;
        let txt = match self.dns.txt(&target).await {
            Lookup::Records(r) if r.len() == 1 => r.into_iter().next()?,
            _ => return None,
        };
        let m = MacroString::parse_explain(&txt).ok()?;
        let validated = if m.uses_letter(b'p') {
            self.validated_domain(domain).await
        } else {
            None
        };
        Some(m.expand(&self.vars(domain, validated.as_deref()), false))
    }
}

/// RFC 7208 4.4 and 4.5: fetch TXT, keep the records that start with
/// "v=spf1", require exactly one.
async fn fetch_record<D: SpfDns>(dns: &D, domain: &str) -> Result<String, Verdict> {
    let txts = match dns.txt(domain).await {
        Lookup::Records(r) => r,
        Lookup::NoData | Lookup::NxDomain => {
            return Err(Verdict::error(
                SpfResult::None,
                problem(Code::NoRecord, format_args!("no TXT records at {domain}")),
            ));
        }
        Lookup::TempError(e) => return Err(temp(domain, &e)),
    };
    let mut spf = txts.into_iter().filter(|t| is_spf_record(t));
    match (spf.next(), spf.next()) {
        (None, _) => Err(Verdict::error(
            SpfResult::None,
            problem(Code::NoRecord, format_args!("no v=spf1 record at {domain}")),
        )),
        (Some(r), None) => Ok(r),
        (Some(_), Some(_)) => Err(Verdict::error(
            SpfResult::PermError,
            problem(
                Code::MultipleRecords,
                format_args!("{} v=spf1 records at {domain}", 2 + spf.count()),
            ),
        )),
    }
}

/// Caller-supplied text quoted in a message is cut so messages stay bounded.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn temp(name: &str, e: &str) -> Verdict {
    Verdict::error(
        SpfResult::TempError,
        problem(
            Code::DnsTempError,
            format_args!("{name}: {}", truncate(e, 200)),
        ),
    )
}

fn is_subdomain(name: &str, parent: &str) -> bool {
    name.len() > parent.len()
        && name.ends_with(parent)
        && name.as_bytes()[name.len() - parent.len() - 1] == b'.'
}

pub(super) fn in_prefix4(ip: u32, net: u32, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    ip & mask == net & mask
}

pub(super) fn in_prefix6(ip: u128, net: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix.min(128)))
    };
    ip & mask == net & mask
}

#[cfg(test)]
mod tests {
    use super::super::testdns::Zone;
    use super::*;

    fn check(zone: &Zone, ip: &str, domain: &str) -> SpfOutcome {
        let params = CheckParams {
            ip: ip.parse().unwrap(),
            domain,
            sender: &format!("user@{domain}"),
            helo: "mail.example.org",
            receiver: "mx.example.net",
            timestamp: 0,
        };
        let out = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(check_host_with(zone, &params));
        crate::checks::problem::assert_problems(&out.problem);
        out
    }

    fn zone() -> Zone {
        let mut z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 ip4:192.0.2.0/24 include:inc.example.com -all exp=why.example.com",
            )
            .txt("why.example.com", "%{i} is not one of %{d}'s servers")
            .txt(
                "inc.example.com",
                "v=spf1 a:host.example.com/28 ip6:2001:db8::/32 ~all",
            )
            .a("host.example.com", "198.51.100.1")
            .txt("perm.example.com", "v=spf1 include:none.example.com")
            .txt("temp.example.com", "v=spf1 include:down.example.com -all")
            .fail("down.example.com")
            .txt("redir.example.com", "v=spf1 redirect=example.com")
            .txt("badredir.example.com", "v=spf1 redirect=none.example.com")
            .txt(
                "void.example.com",
                "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com +all",
            )
            .txt("many.example.com", "v=spf1 mx -all");
        for i in 0..11 {
            z = z.mx("many.example.com", i, &format!("mx{i}.example.com"));
        }
        let mut deep = String::from("v=spf1");
        for _ in 0..11 {
            deep.push_str(" a:host.example.com");
        }
        z.txt("limit.example.com", &(deep + " +all"))
    }

    #[test]
    fn results_by_case() {
        let z = zone();
        let cases = [
            ("192.0.2.9", "example.com", SpfResult::Pass),
            ("::ffff:192.0.2.9", "example.com", SpfResult::Pass),
            ("198.51.100.14", "example.com", SpfResult::Pass),
            ("198.51.100.17", "example.com", SpfResult::Fail),
            ("2001:db8::5", "example.com", SpfResult::Pass),
            ("203.0.113.1", "redir.example.com", SpfResult::Fail),
            ("203.0.113.1", "perm.example.com", SpfResult::PermError),
            ("203.0.113.1", "temp.example.com", SpfResult::TempError),
            ("203.0.113.1", "badredir.example.com", SpfResult::PermError),
            ("203.0.113.1", "void.example.com", SpfResult::PermError),
            ("203.0.113.1", "many.example.com", SpfResult::PermError),
            ("203.0.113.1", "limit.example.com", SpfResult::PermError),
            ("203.0.113.1", "nothing.example.com", SpfResult::None),
            ("203.0.113.1", "nodot", SpfResult::None),
        ];
        for (ip, domain, want) in cases {
            let out = check(&z, ip, domain);
            assert_eq!(out.result, want, "{ip} {domain}: {:?}", out.problem);
        }
    }

    #[test]
    fn explanation_and_problems() {
        let z = zone();
        let out = check(&z, "203.0.113.1", "example.com");
        assert_eq!(
            out.explanation.as_deref(),
            Some("203.0.113.1 is not one of example.com's servers")
        );
        assert_eq!(out.lookups, 2);
        // redirect: the target's exp applies, with %{d} = the target.
        let out = check(&z, "203.0.113.1", "redir.example.com");
        assert_eq!(
            out.explanation.as_deref(),
            Some("203.0.113.1 is not one of example.com's servers")
        );
        let out = check(&z, "203.0.113.1", "limit.example.com");
        assert!(out.problem.unwrap().starts_with("lookup-limit: "));
        let out = check(&z, "203.0.113.1", "void.example.com");
        assert!(out.problem.unwrap().starts_with("void-limit: "));
        assert_eq!(out.void_lookups, 3);
        let out = check(&z, "203.0.113.1", "perm.example.com");
        assert!(out.problem.unwrap().starts_with("include-none: "));
    }
}
