//! Whole-tree analysis of a domain's SPF policy, for scanner output.
//!
//! check_host() answers "may this IP send?"; a scanner has no client IP and
//! wants to know what the policy *is*: how many lookups the whole tree costs,
//! which senders it includes, how much address space it lets pass. So this
//! walks every include and the redirect instead of stopping at the first
//! match, and keeps counting past the RFC 7208 4.6.4 limits so a tree with 23
//! lookups reports 23 (evaluation would stop at the 11th with "permerror").
//!
//! # Which IPv4 addresses count as authorized
//!
//! `ipv4_authorized` is the number of addresses for which evaluation would
//! end in `pass`, computed with the RFC's first-match order over address
//! sets instead of one address at a time. Per record, terms are taken in
//! order with a running set of already-decided addresses:
//!
//! - `ip4`, `a`, `mx`: the term's ranges (A answers widened by the CIDR
//!   length) decide every not-yet-decided address in them; if the
//!   qualifier is `+` those become pass. A `-ip4:192.0.2.1 +ip4:192.0.2.0/24`
//!   therefore authorizes 255 addresses, not 256.
//! - `include:X` matches exactly where X evaluates to pass (RFC 7208 5.2), so
//!   its ranges are X's own pass set, computed recursively the same way; a
//!   `+include` makes them pass, a `-`/`~`/`?include` only decides them.
//! - `all` decides everything left; `+all` (anywhere evaluation can reach it
//!   with a pass outcome, i.e. at the top, through `redirect=`, or inside
//!   `+include`s) reports 4294967296 as the output contract requires.
//! - `redirect=` (only without `all`) gives the addresses still undecided
//!   the target's outcome, so its pass set joins for those.
//!
//! Overlaps are counted once (interval sets are merged). The count is None
//! when the tree cannot be enumerated without a client: `exists`, `ptr`,
//! macros in a target, or a DNS failure that hid part of the tree.
//!
//! `ipv6_prefixes` is simpler: the number of distinct pass-authorized IPv6
//! prefixes (ip6 terms, AAAA answers of a/mx) reachable with a pass outcome.

use crate::checks::problem::{Code, problem};
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::Pin;

use super::record::{DomainSpec, DualCidr, Mechanism, Qualifier, Record, parse};
use super::{Lookup, MAX_DNS_TERMS, MAX_NAMES_PER_TERM, MAX_VOID_LOOKUPS, SpfDns, is_spf_record};

/// Recursion cap for the walk. The 10-term limit does not stop a walk that
/// counts on past it, so this is what ends a deep chain.
pub const MAX_WALK_DEPTH: u8 = 20;
/// Records fetched per analysis: bounds the work a wide tree can cause.
pub const MAX_WALK_RECORDS: usize = 100;
/// DNS queries per analysis (TXT, A, AAAA, MX), for the same reason.
pub const MAX_WALK_QUERIES: usize = 500;
/// RFC 7208 3.4: records should fit one 512-byte UDP answer.
pub const MAX_RECORD_BYTES: usize = 512;
/// Names kept in `include_tree` (past the walk limits names are still
/// listed, up to this many).
pub const MAX_TREE_NAMES: usize = 1000;
/// Errors kept per analysis, so output stays bounded on a hostile tree.
const MAX_ERRORS: usize = 50;

/// The output contract's `spf_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfStatus {
    /// No `v=spf1` record at the domain.
    None,
    Valid,
    /// Evaluation would end in permerror for some or every client.
    PermError,
    /// A DNS lookup failed: the top record's, or one in the tree that evaluation would reach
    /// before it ended otherwise (RFC 7208 5.2: an include whose check_host() returns temperror
    /// returns temperror, and so does the domain's evaluation). The walk goes on past a failure,
    /// so the counts are still filled; `ipv4_authorized` is None.
    TempError,
}

impl SpfStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpfStatus::None => "none",
            SpfStatus::Valid => "valid",
            SpfStatus::PermError => "permerror",
            SpfStatus::TempError => "temperror",
        }
    }
}

impl fmt::Display for SpfStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a scan records about one domain's SPF policy. On any error the
/// records, tree and counts gathered so far are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfAnalysis {
    pub status: SpfStatus,
    /// Every TXT record at the domain that is an SPF record.
    pub records: Vec<String>,
    /// The `all` that ends evaluation at the top, after following redirect=.
    pub all: Option<Qualifier>,
    /// DNS-querying terms over the whole tree (include, a, mx, ptr, exists,
    /// effective redirect), counted past 10. Terms after a record's `all`
    /// are unreachable and not counted, like the redirect beside an `all`.
    pub lookups: u32,
    /// Queries of the tree that returned NXDOMAIN or no records: `a` targets
    /// with neither A nor AAAA, empty `mx`, `exists` targets without macros
    /// and without A, include/redirect targets that do not exist.
    pub void_lookups: u32,
    /// See the module docs for the rule.
    pub ipv4_authorized: Option<u64>,
    pub ipv6_prefixes: u32,
    /// `code: text`, codes stable.
    pub errors: Vec<String>,
    /// The top domain at depth 0, then every include and redirect target
    /// with its depth, in walk order.
    pub include_tree: Vec<(String, u8)>,
    /// `+all` reachable with a pass outcome.
    pub plus_all: bool,
    /// The top-level `all` is `?all`.
    pub neutral_all: bool,
    /// A pass-authorized ip4/a/mx range shorter than /16, or ip6 shorter than /32.
    pub wide_ranges: bool,
    /// `ptr` anywhere (RFC 7208 5.5: "SHOULD NOT be published").
    pub ptr_used: bool,
    /// A record at the domain longer than 512 bytes.
    pub too_long: bool,
    /// A record with both `all` and `redirect=` (the redirect is ignored).
    pub redirect_with_all: bool,
    /// An include/redirect chain came back to a domain already on the path.
    pub loop_detected: bool,
    /// The tree was walked: the counts, `all` and address figures are meaningful.
    pub walked: bool,
    /// Every name a term of the tree names (not the implicit current domain of a bare `a`/`mx`),
    /// with its term, in walk order, at most [`MAX_TREE_NAMES`]: what the policy depends on
    /// (`checks::dangling`).
    pub targets: Vec<(SpfTerm, String)>,
}

/// The SPF terms that name another domain (RFC 7208 5 and 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfTerm {
    Include,
    Redirect,
    A,
    Mx,
    Exists,
}

impl SpfAnalysis {
    pub(crate) fn empty(status: SpfStatus) -> Self {
        Self {
            status,
            records: Vec::new(),
            all: None,
            lookups: 0,
            void_lookups: 0,
            ipv4_authorized: None,
            ipv6_prefixes: 0,
            errors: Vec::new(),
            include_tree: Vec::new(),
            plus_all: false,
            neutral_all: false,
            wide_ranges: false,
            ptr_used: false,
            too_long: false,
            redirect_with_all: false,
            loop_detected: false,
            walked: false,
            targets: Vec::new(),
        }
    }
}

/// Analyzes the SPF policy of `domain` (lowercase, no trailing dot).
pub async fn analyze<D: SpfDns>(dns: &D, domain: &str) -> SpfAnalysis {
    analyze_with(dns, domain, true).await
}

/// [`analyze`], or with `walk` false only record selection and syntax (one TXT query, no
/// includes followed, counts left unset).
pub async fn analyze_with<D: SpfDns>(dns: &D, domain: &str, walk: bool) -> SpfAnalysis {
    let domain = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    let txts = match dns.txt(&domain).await {
        Lookup::Records(r) => r,
        Lookup::NoData | Lookup::NxDomain => return SpfAnalysis::empty(SpfStatus::None),
        Lookup::TempError(e) => {
            let mut a = SpfAnalysis::empty(SpfStatus::TempError);
            a.errors.push(problem(
                Code::DnsTempError,
                format_args!("TXT {domain}: {e}"),
            ));
            return a;
        }
    };
    let records: Vec<String> = txts.into_iter().filter(|t| is_spf_record(t)).collect();
    let mut out = SpfAnalysis::empty(SpfStatus::Valid);
    out.too_long = records.iter().any(|r| r.len() > MAX_RECORD_BYTES);
    out.records = records;
    match out.records.len() {
        0 => {
            out.status = SpfStatus::None;
            return out;
        }
        1 => {}
        n => {
            // RFC 7208 4.5: several records is permerror for every client,
            // and no one of them is "the" policy to walk.
            out.status = SpfStatus::PermError;
            out.errors.push(problem(
                Code::MultipleRecords,
                format_args!("{n} v=spf1 records"),
            ));
            return out;
        }
    }
    let top = match parse(&out.records[0]) {
        Ok(r) => r,
        Err(e) => {
            out.status = SpfStatus::PermError;
            out.errors.push(e.to_string());
            return out;
        }
    };
    if !walk {
        return out;
    }
    out.walked = true;

    let mut w = Walker {
        dns,
        out,
        enumerable: true,
        records_fetched: 1,
        queries: 1,
        v6: Vec::new(),
        first_error: None,
        void_limit_at: None,
    };
    w.out.include_tree.push((domain.clone(), 0));
    let mut path = vec![domain.clone()];
    let top_walk = w.walk_record(&top, &domain, 0, true, &mut path).await;

    let mut out = w.out;
    out.all = top_walk.all;
    out.neutral_all = top_walk.all == Some(Qualifier::Neutral);
    out.ipv6_prefixes = u32::try_from(w.v6.len()).unwrap_or(u32::MAX);
    // +all first: whatever else the tree holds, everyone can pass.
    out.ipv4_authorized = if out.plus_all {
        Some(1 << 32)
    } else if !w.enumerable {
        None
    } else {
        Some(top_walk.pass.len())
    };
    if out.lookups > MAX_DNS_TERMS {
        out.errors.insert(
            0,
            problem(
                Code::LookupLimit,
                format_args!("{} DNS-querying terms (max {MAX_DNS_TERMS})", out.lookups),
            ),
        );
    }
    if out.void_lookups > MAX_VOID_LOOKUPS {
        out.errors.insert(
            0,
            problem(
                Code::VoidLimit,
                format_args!("{} void lookups (max {MAX_VOID_LOOKUPS})", out.void_lookups),
            ),
        );
    }
    out.errors.truncate(MAX_ERRORS);
    // Evaluation stops at its first error, so the status is the error it would meet first: the
    // walk visits terms in evaluation order, and each event is placed by the lookup count at
    // which it happens. The 11th DNS-querying term is refused before its query is sent, so a
    // failure of that term's own query comes after the limit; the limits win ties.
    let limit =
        (out.lookups > MAX_DNS_TERMS).then_some((MAX_DNS_TERMS + 1, 0, SpfStatus::PermError));
    let void = w.void_limit_at.map(|at| (at, 0, SpfStatus::PermError));
    let tree = w.first_error.map(|(status, at)| (at, 1, status));
    if let Some((_, _, status)) = [limit, void, tree]
        .into_iter()
        .flatten()
        .min_by_key(|(at, p, _)| (*at, *p))
    {
        out.status = status;
    }
    out
}

/// Result of walking one record.
struct Walked {
    /// Addresses for which this record evaluates to pass.
    pass: Ipv4Set,
    /// The `all` ending this record's evaluation after its redirect chain.
    all: Option<Qualifier>,
}

struct Walker<'a, D> {
    dns: &'a D,
    out: SpfAnalysis,
    enumerable: bool,
    records_fetched: usize,
    queries: usize,
    /// Distinct pass-authorized IPv6 networks (masked address, length).
    v6: Vec<(u128, u8)>,
    /// The first permerror or temperror met in the tree, with the lookup count then.
    first_error: Option<(SpfStatus, u32)>,
    /// The lookup count when the void lookups went over the limit.
    void_limit_at: Option<u32>,
}

type BoxFut<'f, T> = Pin<Box<dyn Future<Output = T> + Send + 'f>>;

impl<'a, D: SpfDns> Walker<'a, D> {
    fn error(&mut self, e: String) {
        if self.out.errors.len() < MAX_ERRORS {
            self.out.errors.push(e);
        }
    }

    fn perm(&mut self, e: String) {
        self.first_error
            .get_or_insert((SpfStatus::PermError, self.out.lookups));
        self.error(e);
    }

    /// A DNS failure in the tree: the evaluation that meets it returns temperror.
    fn temp(&mut self, e: String) {
        self.first_error
            .get_or_insert((SpfStatus::TempError, self.out.lookups));
        self.error(e);
    }

    /// Spends one query of the walk budget; false when it is exhausted.
    fn budget(&mut self) -> bool {
        if self.queries >= MAX_WALK_QUERIES {
            if self.enumerable {
                self.error(problem(
                    Code::WalkLimit,
                    format_args!("more than {MAX_WALK_QUERIES} DNS queries, tree not fully walked"),
                ));
            }
            self.enumerable = false;
            return false;
        }
        self.queries += 1;
        true
    }

    fn void(&mut self) {
        self.out.void_lookups += 1;
        if self.out.void_lookups == MAX_VOID_LOOKUPS + 1 {
            self.void_limit_at = Some(self.out.lookups);
        }
    }

    /// Fetches, parses and walks the record of an include/redirect target.
    /// None when there is nothing to walk (the error is recorded).
    fn walk_target<'s>(
        &'s mut self,
        target: String,
        // What a target without an SPF record is: `include-none` or `redirect-none`.
        none: Code,
        depth: u8,
        pass_ctx: bool,
        path: &'s mut Vec<String>,
    ) -> BoxFut<'s, Option<Walked>> {
        Box::pin(async move {
            if self.out.include_tree.len() < MAX_TREE_NAMES {
                self.out.include_tree.push((target.clone(), depth));
            }
            if let Some(pos) = path.iter().position(|p| *p == target) {
                self.out.loop_detected = true;
                let chain: Vec<&str> = path[pos..].iter().map(String::as_str).collect();
                self.perm(problem(
                    Code::IncludeLoop,
                    format_args!("{} -> {target}", chain.join(" -> ")),
                ));
                return None;
            }
            if depth > MAX_WALK_DEPTH {
                self.perm(problem(
                    Code::DepthLimit,
                    format_args!(
                        "include/redirect nesting deeper than {MAX_WALK_DEPTH} at {target}"
                    ),
                ));
                self.enumerable = false;
                return None;
            }
            if self.records_fetched >= MAX_WALK_RECORDS || !self.budget() {
                if self.enumerable {
                    self.error(problem(
                        Code::WalkLimit,
                        format_args!("more than {MAX_WALK_RECORDS} records, tree not fully walked"),
                    ));
                }
                self.enumerable = false;
                return None;
            }
            self.records_fetched += 1;
            let txts = match self.dns.txt(&target).await {
                Lookup::Records(r) => r,
                Lookup::NoData | Lookup::NxDomain => {
                    self.void();
                    self.perm(problem(none, format_args!("no SPF record at {target}")));
                    return None;
                }
                Lookup::TempError(e) => {
                    self.enumerable = false;
                    self.temp(problem(
                        Code::DnsTempError,
                        format_args!("TXT {target}: {e}"),
                    ));
                    return None;
                }
            };
            let mut spf: Vec<String> = txts.into_iter().filter(|t| is_spf_record(t)).collect();
            let record = match spf.len() {
                0 => {
                    self.perm(problem(none, format_args!("no SPF record at {target}")));
                    return None;
                }
                1 => spf.pop().unwrap_or_default(),
                n => {
                    self.perm(problem(
                        Code::MultipleRecords,
                        format_args!("{n} v=spf1 records at {target}"),
                    ));
                    return None;
                }
            };
            let record = match parse(&record) {
                Ok(r) => r,
                Err(e) => {
                    self.perm(format!("{e} (in {target})"));
                    return None;
                }
            };
            path.push(target.clone());
            let w = self
                .walk_record(&record, &target, depth, pass_ctx, path)
                .await;
            path.pop();
            Some(w)
        })
    }

    /// Walks one parsed record: see the module docs for the set rules.
    /// `pass_ctx`: a pass here is a pass at the top.
    async fn walk_record(
        &mut self,
        record: &Record,
        domain: &str,
        depth: u8,
        pass_ctx: bool,
        path: &mut Vec<String>,
    ) -> Walked {
        let mut decided = Ipv4Set::default();
        let mut pass = Ipv4Set::default();
        let mut all = None;
        if record.has_all() && record.redirect.is_some() {
            self.out.redirect_with_all = true;
        }
        for d in &record.directives {
            if all.is_some() {
                // Terms after `all` are never evaluated (RFC 7208 4.6.2: the
                // first match ends evaluation), so they cost no lookup.
                break;
            }
            let m = &d.mechanism;
            if m.queries_dns() {
                self.out.lookups += 1;
            }
            let is_pass = d.qualifier == Qualifier::Pass;
            let term_pass = pass_ctx && is_pass;
            let ranges: Ipv4Set = match m {
                Mechanism::All => {
                    all = Some(d.qualifier);
                    if term_pass {
                        self.out.plus_all = true;
                    }
                    Ipv4Set::everything()
                }
                Mechanism::Ip4 { addr, prefix } => {
                    if term_pass && *prefix < 16 {
                        self.out.wide_ranges = true;
                    }
                    Ipv4Set::from_prefix(*addr, *prefix)
                }
                Mechanism::Ip6 { addr, prefix } => {
                    if term_pass {
                        if *prefix < 32 {
                            self.out.wide_ranges = true;
                        }
                        self.add_v6(*addr, *prefix);
                    }
                    Ipv4Set::default()
                }
                Mechanism::Ptr(_) => {
                    self.out.ptr_used = true;
                    self.enumerable = false;
                    Ipv4Set::default()
                }
                Mechanism::Exists(spec) => {
                    self.enumerable = false;
                    if let Some(target) = self.fixed_target(spec, domain) {
                        self.target(SpfTerm::Exists, &target);
                        self.probe_a(&target).await;
                    }
                    Ipv4Set::default()
                }
                Mechanism::A { domain: spec, cidr } | Mechanism::Mx { domain: spec, cidr } => {
                    let target = match spec {
                        None => Some(domain.to_owned()),
                        Some(s) => {
                            if s.has_macros() {
                                self.enumerable = false;
                            }
                            self.fixed_target(s, domain)
                        }
                    };
                    if term_pass && (cidr.v4 < 16 || cidr.v6 < 32) {
                        self.out.wide_ranges = true;
                    }
                    if let (Some(t), Some(_)) = (&target, spec) {
                        let term = match m {
                            Mechanism::A { .. } => SpfTerm::A,
                            _ => SpfTerm::Mx,
                        };
                        self.target(term, t);
                    }
                    match target {
                        None => Ipv4Set::default(),
                        Some(t) if matches!(m, Mechanism::A { .. }) => {
                            self.addresses(&t, *cidr, term_pass, true).await
                        }
                        Some(t) => self.mx_ranges(&t, *cidr, term_pass).await,
                    }
                }
                Mechanism::Include(spec) => {
                    if spec.has_macros() {
                        self.enumerable = false;
                    }
                    match self.fixed_target(spec, domain) {
                        Some(t) => {
                            self.target(SpfTerm::Include, &t);
                            self.walk_target(t, Code::IncludeNone, depth + 1, term_pass, path)
                                .await
                                .map(|w| w.pass)
                                .unwrap_or_default()
                        }
                        None => Ipv4Set::default(),
                    }
                }
            };
            if is_pass {
                pass = pass.union(&ranges.difference(&decided));
            }
            decided = decided.union(&ranges);
        }
        if let Some(spec) = record.effective_redirect() {
            self.out.lookups += 1;
            if spec.has_macros() {
                self.enumerable = false;
            }
            if let Some(t) = self.fixed_target(spec, domain) {
                self.target(SpfTerm::Redirect, &t);
                // RFC 7208 6.1: the target's result becomes this record's,
                // so a pass there is a pass here (same context).
                if let Some(w) = self
                    .walk_target(t, Code::RedirectNone, depth + 1, pass_ctx, path)
                    .await
                {
                    pass = pass.union(&w.pass.difference(&decided));
                    all = w.all;
                }
            }
        }
        Walked { pass, all }
    }

    fn target(&mut self, term: SpfTerm, name: &str) {
        if self.out.targets.len() < MAX_TREE_NAMES {
            self.out.targets.push((term, name.to_owned()));
        }
    }

    /// A target known without a client: no macros, or only `%{d}`-style
    /// ones (d is the current domain). Client-dependent macros give None.
    fn fixed_target(&mut self, spec: &DomainSpec, domain: &str) -> Option<String> {
        let m = &spec.0;
        if m.has_macros() && b"slioph".iter().any(|&l| m.uses_letter(l)) {
            return None;
        }
        let vars = super::macros::MacroVars {
            sender: "",
            local: "",
            sender_domain: "",
            domain,
            ip: std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            helo: "",
            validated: None,
            receiver: "unknown",
            timestamp: 0,
        };
        super::normalize_target(&m.expand(&vars, true))
    }

    fn add_v6(&mut self, addr: Ipv6Addr, prefix: u8) {
        let bits = u128::from(addr);
        let masked = if prefix == 0 {
            0
        } else {
            bits & (u128::MAX << (128 - u32::from(prefix.min(128))))
        };
        if !self.v6.contains(&(masked, prefix)) && self.v6.len() < 10_000 {
            self.v6.push((masked, prefix));
        }
    }

    /// `exists`-style probe: only the void count is of interest.
    async fn probe_a(&mut self, target: &str) {
        if !self.budget() {
            return;
        }
        match self.dns.a(target).await {
            Lookup::Records(r) if !r.is_empty() => {}
            Lookup::TempError(e) => {
                self.temp(problem(Code::DnsTempError, format_args!("A {target}: {e}")))
            }
            _ => self.void(),
        }
    }

    /// A and AAAA of `name` as ranges. A name with neither is one void
    /// lookup when `count_void` (an `a` term; an MX exchange without
    /// addresses is not a lookup of its own).
    async fn addresses(
        &mut self,
        name: &str,
        cidr: DualCidr,
        term_pass: bool,
        count_void: bool,
    ) -> Ipv4Set {
        let mut set = Ipv4Set::default();
        let mut any = false;
        if self.budget() {
            match self.dns.a(name).await {
                Lookup::Records(r) => {
                    any |= !r.is_empty();
                    for a in r {
                        set = set.union(&Ipv4Set::from_prefix(a, cidr.v4));
                    }
                }
                Lookup::TempError(e) => {
                    any = true;
                    self.enumerable = false;
                    self.temp(problem(Code::DnsTempError, format_args!("A {name}: {e}")));
                }
                _ => {}
            }
        }
        if self.budget() {
            match self.dns.aaaa(name).await {
                Lookup::Records(r) => {
                    any |= !r.is_empty();
                    if term_pass {
                        for a in r {
                            self.add_v6(a, cidr.v6);
                        }
                    }
                }
                Lookup::TempError(e) => {
                    any = true;
                    self.temp(problem(
                        Code::DnsTempError,
                        format_args!("AAAA {name}: {e}"),
                    ));
                }
                _ => {}
            }
        }
        if !any && count_void {
            self.void();
        }
        set
    }

    async fn mx_ranges(&mut self, name: &str, cidr: DualCidr, term_pass: bool) -> Ipv4Set {
        if !self.budget() {
            return Ipv4Set::default();
        }
        let mut hosts = match self.dns.mx(name).await {
            Lookup::Records(r) if !r.is_empty() => r,
            Lookup::TempError(e) => {
                self.enumerable = false;
                self.temp(problem(Code::DnsTempError, format_args!("MX {name}: {e}")));
                return Ipv4Set::default();
            }
            _ => {
                self.void();
                return Ipv4Set::default();
            }
        };
        if hosts.len() > MAX_NAMES_PER_TERM {
            self.perm(problem(
                Code::MxLimit,
                format_args!(
                    "{name} has {} MX names (max {MAX_NAMES_PER_TERM})",
                    hosts.len()
                ),
            ));
        }
        hosts.sort();
        let mut set = Ipv4Set::default();
        for (_, host) in hosts.iter().take(MAX_NAMES_PER_TERM) {
            if let Some(h) = super::normalize_target(host) {
                let s = self.addresses(&h, cidr, term_pass, false).await;
                set = set.union(&s);
            }
        }
        set
    }
}

/// A set of IPv4 addresses as sorted, disjoint, non-adjacent half-open
/// ranges `[start, end)` over u64 so the top of the space needs no care.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipv4Set(Vec<(u64, u64)>);

impl Ipv4Set {
    pub fn everything() -> Self {
        Self(vec![(0, 1 << 32)])
    }

    pub fn from_prefix(addr: Ipv4Addr, prefix: u8) -> Self {
        let prefix = u32::from(prefix.min(32));
        let size = 1u64 << (32 - prefix);
        let start = u64::from(u32::from(addr)) & !(size - 1);
        Self(vec![(start, start + size)])
    }

    /// Number of addresses.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut all: Vec<(u64, u64)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for (s, e) in all {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Self(out)
    }

    pub fn difference(&self, other: &Self) -> Self {
        let mut out = Vec::new();
        let mut j = 0;
        for &(mut s, e) in &self.0 {
            while j < other.0.len() && other.0[j].1 <= s {
                j += 1;
            }
            let mut k = j;
            while s < e {
                match other.0.get(k) {
                    Some(&(os, oe)) if os < e => {
                        if os > s {
                            out.push((s, os));
                        }
                        s = s.max(oe);
                        k += 1;
                    }
                    _ => {
                        out.push((s, e));
                        break;
                    }
                }
            }
        }
        Self(out)
    }
}

/// One row of the provider table: a sender and an include-name suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRow {
    pub provider: String,
    pub include_suffix: String,
}

/// Reads `provider,include_suffix` CSV (a header line, then one row per line; fields after the
/// second are ignored). Malformed rows are skipped: the table is curated data, not input.
pub fn load_providers(text: &str) -> Vec<ProviderRow> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes())
        .into_records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            let (p, s) = (r.get(0)?, r.get(1)?);
            let (p, s) = (
                p.trim(),
                s.trim().trim_end_matches('.').to_ascii_lowercase(),
            );
            (!p.is_empty() && !s.is_empty()).then(|| ProviderRow {
                provider: p.to_owned(),
                include_suffix: s,
            })
        })
        .collect()
}

/// Providers whose include suffix matches a name of the tree (equal, or a
/// subdomain of it), each once, in tree order.
pub fn providers(include_tree: &[(String, u8)], table: &[ProviderRow]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, _) in include_tree {
        for row in table {
            let s = row.include_suffix.as_str();
            let hit = name == s
                || (name.len() > s.len()
                    && name.ends_with(s)
                    && name.as_bytes()[name.len() - s.len() - 1] == b'.');
            if hit && !out.contains(&row.provider) {
                out.push(row.provider.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testdns::Zone;
    use super::*;

    /// The analysis, every error a listed problem code.
    fn run(zone: &Zone, domain: &str) -> SpfAnalysis {
        let a = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(analyze(zone, domain));
        crate::checks::problem::assert_problems(&a.errors);
        a
    }

    #[test]
    fn include_ranges_overlap_counted_once() {
        let z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 ip4:192.0.2.0/24 include:_spf.mail.example -all",
            )
            .txt("example.com", "google-site-verification=abc")
            .txt(
                "_spf.mail.example",
                "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.128/25 ~all",
            );
        let a = run(&z, "example.com");
        assert_eq!(a.status, SpfStatus::Valid, "{:?}", a.errors);
        assert_eq!(a.records.len(), 1);
        assert_eq!(a.all, Some(Qualifier::Fail));
        assert_eq!(a.lookups, 1);
        assert_eq!(a.void_lookups, 0);
        assert_eq!(a.ipv4_authorized, Some(512));
        assert_eq!(
            a.include_tree,
            vec![("example.com".into(), 0), ("_spf.mail.example".into(), 1)]
        );
        assert!(a.errors.is_empty());
        assert!(!a.plus_all && !a.wide_ranges && !a.loop_detected);
    }

    #[test]
    fn non_pass_include_and_shadowing() {
        let z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 -ip4:192.0.2.1 ip4:192.0.2.0/24 ~include:soft.example ?all",
            )
            .txt("soft.example", "v=spf1 ip4:203.0.113.0/24 +all");
        let a = run(&z, "example.com");
        // 255 (one address shadowed by -ip4); soft.example's pass set only
        // soft-fails through ~include, so its +all is no pass at the top.
        assert_eq!(a.ipv4_authorized, Some(255));
        assert!(!a.plus_all);
        assert!(a.neutral_all);
        assert_eq!(a.all, Some(Qualifier::Neutral));
    }

    #[test]
    fn redirect_followed_and_ignored_beside_all() {
        let z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 ip4:192.0.2.1 redirect=_spf.example.net",
            )
            .txt("_spf.example.net", "v=spf1 ip4:10.0.0.0/8 ~all")
            .txt("other.example", "v=spf1 -all redirect=_spf.example.net");
        let a = run(&z, "example.com");
        assert_eq!(a.all, Some(Qualifier::SoftFail));
        assert_eq!(a.lookups, 1);
        assert_eq!(a.ipv4_authorized, Some((1 << 24) + 1));
        assert!(a.wide_ranges);
        assert!(!a.redirect_with_all);

        let b = run(&z, "other.example");
        assert!(b.redirect_with_all);
        assert_eq!(b.lookups, 0);
        assert_eq!(b.all, Some(Qualifier::Fail));
        assert_eq!(b.include_tree.len(), 1);
    }

    #[test]
    fn over_limit_tree_counts_on() {
        let mut top = String::from("v=spf1");
        let mut z = Zone::new();
        for i in 0..23 {
            top.push_str(&format!(" include:s{i}.example"));
            z = z.txt(
                &format!("s{i}.example"),
                &format!("v=spf1 ip4:192.0.2.{i} -all"),
            );
        }
        top.push_str(" -all");
        let z = z.txt("example.com", &top);
        let a = run(&z, "example.com");
        assert_eq!(a.lookups, 23);
        assert_eq!(a.status, SpfStatus::PermError);
        assert_eq!(a.errors[0], "lookup-limit: 23 DNS-querying terms (max 10)");
        assert_eq!(a.records, vec![top]);
        assert_eq!(a.include_tree.len(), 24);
        assert_eq!(a.ipv4_authorized, Some(23));
    }

    #[test]
    fn void_lookups_over_two() {
        let z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 a:nx1.example.com a:nx2.example.com mx:nx3.example.com exists:nx4.example.com a -all",
            )
            .a("example.com", "192.0.2.7");
        let a = run(&z, "example.com");
        assert_eq!(a.void_lookups, 4);
        assert_eq!(a.lookups, 5);
        assert_eq!(a.status, SpfStatus::PermError);
        assert!(
            a.errors
                .iter()
                .any(|e| e.starts_with("void-limit: 4 void lookups"))
        );
        // exists makes the set unknowable
        assert_eq!(a.ipv4_authorized, None);
    }

    #[test]
    fn plus_all_and_multiple_records() {
        let z = Zone::new()
            .txt(
                "open.example",
                "v=spf1 ip4:192.0.2.0/24 +include:any.example -all",
            )
            .txt("any.example", "v=spf1 +all")
            .txt("two.example", "v=spf1 -all")
            .txt("two.example", "V=SPF1 ~all")
            .txt("notspf.example", "v=spf10 -all")
            .txt("split.example", &["v=spf1 ip4:", "192.0.2.5 -all"].concat());
        let a = run(&z, "open.example");
        assert!(a.plus_all);
        assert_eq!(a.ipv4_authorized, Some(1 << 32));
        assert_eq!(a.all, Some(Qualifier::Fail));

        let b = run(&z, "two.example");
        assert_eq!(b.status, SpfStatus::PermError);
        assert_eq!(b.records.len(), 2);
        assert_eq!(
            b.errors,
            vec!["multiple-records: 2 v=spf1 records".to_string()]
        );

        assert_eq!(run(&z, "notspf.example").status, SpfStatus::None);
        assert_eq!(run(&z, "missing.example").status, SpfStatus::None);
        let s = run(&z, "split.example");
        assert_eq!(s.ipv4_authorized, Some(1));
        assert_eq!(s.status, SpfStatus::Valid);
    }

    #[test]
    fn unenumerable_terms() {
        let z = Zone::new()
            .txt("m.example", "v=spf1 a:%{i}.list.example ip4:192.0.2.1 -all")
            .txt("p.example", "v=spf1 ptr -all")
            .txt("d.example", "v=spf1 a:mail.%{d} -all")
            .a("mail.d.example", "192.0.2.9");
        assert_eq!(run(&z, "m.example").ipv4_authorized, None);
        let p = run(&z, "p.example");
        assert!(p.ptr_used);
        assert_eq!(p.ipv4_authorized, None);
        assert_eq!(p.lookups, 1);
        // %{d} is known without a client: the name is still looked up
        // (no void), but any macro makes the count None per the contract.
        let d = run(&z, "d.example");
        assert_eq!(d.void_lookups, 0);
        assert_eq!(d.ipv4_authorized, None);
    }

    #[test]
    fn mx_and_aaaa() {
        let z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 mx a:v6.example.com ip6:2001:db8::/48 -all",
            )
            .mx("example.com", 10, "mx1.example.com")
            .mx("example.com", 20, "mx2.example.com")
            .a("mx1.example.com", "192.0.2.1")
            .a("mx2.example.com", "192.0.2.2")
            .aaaa("mx2.example.com", "2001:db8:1::2")
            .aaaa("v6.example.com", "2001:db8:1::2");
        let a = run(&z, "example.com");
        assert_eq!(a.lookups, 2);
        assert_eq!(a.ipv4_authorized, Some(2));
        // 2001:db8:1::2/128 twice (once via mx, once via a) counts once.
        assert_eq!(a.ipv6_prefixes, 2);
        assert_eq!(a.void_lookups, 0, "v6-only name is not void");
    }

    #[test]
    fn include_loop_detected() {
        let z = Zone::new()
            .txt("a.example", "v=spf1 include:b.example -all")
            .txt("b.example", "v=spf1 include:a.example -all");
        let a = run(&z, "a.example");
        assert!(a.loop_detected);
        assert_eq!(a.status, SpfStatus::PermError);
        assert!(
            a.errors
                .contains(&"include-loop: a.example -> b.example -> a.example".to_string()),
            "{:?}",
            a.errors
        );
        assert_eq!(a.lookups, 2);
    }

    #[test]
    fn deep_nesting_terminates() {
        let mut z = Zone::new();
        for i in 0..40 {
            z = z.txt(
                &format!("d{i}.example"),
                &format!("v=spf1 include:d{}.example -all", i + 1),
            );
        }
        let a = run(&z, "d0.example");
        assert_eq!(a.status, SpfStatus::PermError);
        assert!(
            a.errors.iter().any(|e| e.starts_with("depth-limit: ")),
            "{:?}",
            a.errors
        );
        assert_eq!(a.lookups, u32::from(MAX_WALK_DEPTH) + 1);
        assert_eq!(a.ipv4_authorized, None);
    }

    #[test]
    fn dns_failures_and_missing_targets() {
        let z = Zone::new()
            .fail("down.example")
            .txt(
                "x.example",
                "v=spf1 include:nothing.example include:down.example -all",
            )
            .txt("y.example", "v=spf1 redirect=nothing.example")
            .txt("z.example", "v=spf1 include:bad.example -all")
            .txt("bad.example", "v=spf1 ipv4:192.0.2.1 -all");
        let top = run(&z, "down.example");
        assert_eq!(top.status, SpfStatus::TempError);
        assert!(top.errors[0].starts_with("dns-temperror: "));

        let x = run(&z, "x.example");
        assert_eq!(x.status, SpfStatus::PermError);
        assert!(
            x.errors
                .iter()
                .any(|e| e == "include-none: no SPF record at nothing.example")
        );
        assert!(
            x.errors
                .iter()
                .any(|e| e.starts_with("dns-temperror: TXT down.example"))
        );
        assert_eq!(x.void_lookups, 1);
        assert_eq!(x.ipv4_authorized, None);

        let y = run(&z, "y.example");
        assert!(y.errors.iter().any(|e| e.starts_with("redirect-none: ")));
        let zz = run(&z, "z.example");
        assert_eq!(
            zz.errors,
            vec!["syntax: unknown mechanism \"ipv4\" at 7 (in bad.example)".to_string()]
        );
    }

    /// RFC 7208 5.2: a temperror inside the tree is the domain's temperror (issue: a domain whose
    /// include never answers was reported `valid`), and the walk's figures stay.
    #[test]
    fn a_dns_failure_in_the_tree_is_temperror_unless_evaluation_ends_first() {
        use SpfStatus::{PermError, TempError, Valid};
        let mut z = Zone::new()
            .fail("dead.example")
            .txt("ok.example", "v=spf1 ip4:192.0.2.0/24 -all")
            .txt("inner.example", "v=spf1 include:dead.example -all")
            .txt("bad.example", "v=spf1 ipv4:192.0.2.1 -all");
        let cases: &[(&str, &str, SpfStatus)] = &[
            (
                "include",
                "v=spf1 ip4:192.0.2.1 include:dead.example -all",
                TempError,
            ),
            (
                "nested include",
                "v=spf1 include:inner.example -all",
                TempError,
            ),
            ("redirect", "v=spf1 redirect=dead.example", TempError),
            ("a", "v=spf1 a:dead.example -all", TempError),
            ("mx", "v=spf1 mx:dead.example -all", TempError),
            ("exists", "v=spf1 exists:dead.example -all", TempError),
            (
                "after a good include",
                "v=spf1 include:ok.example include:dead.example -all",
                TempError,
            ),
            // Evaluation meets the permerror first and stops there.
            (
                "permerror first",
                "v=spf1 include:bad.example include:dead.example -all",
                PermError,
            ),
            (
                "temperror first",
                "v=spf1 include:dead.example include:bad.example -all",
                TempError,
            ),
            // The 11th term is refused before its query: the limit comes first.
            (
                "past the limit",
                "v=spf1 a:a1.ok.example a:a2.ok.example a:a3.ok.example a:a4.ok.example a:a5.ok.example \
                 a:a6.ok.example a:a7.ok.example a:a8.ok.example a:a9.ok.example a:a10.ok.example \
                 include:dead.example -all",
                PermError,
            ),
            // A term after `all` is never evaluated, so its failure changes nothing.
            ("after all", "v=spf1 -all include:dead.example", Valid),
        ];
        for i in 1..=10 {
            z = z.a(&format!("a{i}.ok.example"), "192.0.2.9");
        }
        for (i, (_, record, _)) in cases.iter().enumerate() {
            z = z.txt(&format!("d{i}.example"), record);
        }
        for (i, (what, _, want)) in cases.iter().enumerate() {
            let a = run(&z, &format!("d{i}.example"));
            assert_eq!(a.status, *want, "{what}: {:?}", a.errors);
            assert!(a.walked, "{what}: the walk went on");
        }
        let a = run(&z, "d0.example");
        assert_eq!(a.lookups, 1, "the counts stay");
        assert_eq!(a.all, Some(Qualifier::Fail));
        assert_eq!(a.ipv4_authorized, None, "not enumerable past a failure");
        assert!(
            a.errors
                .iter()
                .any(|e| e.starts_with("dns-temperror: TXT dead.example"))
        );
    }

    #[test]
    fn provider_table() {
        let table = load_providers(
            "provider,include_suffix\ngoogle,_spf.google.com\nmicrosoft,spf.protection.outlook.com\n",
        );
        let tree = vec![
            ("example.com".to_string(), 0),
            ("_spf.google.com".to_string(), 1),
            ("_netblocks.google.com".to_string(), 2),
            ("eur.spf.protection.outlook.com".to_string(), 1),
        ];
        assert_eq!(providers(&tree, &table), vec!["google", "microsoft"]);
        let csv = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/datasets/spf_providers.csv"
        ));
        let rows = load_providers(csv);
        assert!(rows.len() >= 30, "{}", rows.len());
        assert!(rows.iter().all(|r| !r.include_suffix.contains(' ')));
    }

    #[test]
    fn terms_after_all_cost_nothing() {
        let z = Zone::new()
            .txt(
                "example.com",
                "v=spf1 ip4:192.0.2.1 ~all include:never.example a",
            )
            .txt(
                "open.example",
                "v=spf1 -ip4:192.0.2.1 exists:%{i}.x.example +all",
            );
        let a = run(&z, "example.com");
        assert_eq!(a.lookups, 0);
        assert_eq!(a.include_tree.len(), 1);
        assert_eq!(a.ipv4_authorized, Some(1));
        let b = run(&z, "open.example");
        assert!(b.plus_all);
        assert_eq!(b.ipv4_authorized, Some(1 << 32));
    }

    #[test]
    fn interval_set_algebra() {
        let a = Ipv4Set::from_prefix("192.0.2.0".parse().unwrap(), 24);
        let b = Ipv4Set::from_prefix("192.0.2.128".parse().unwrap(), 25);
        assert_eq!(a.union(&b).len(), 256);
        assert_eq!(a.difference(&b).len(), 128);
        assert_eq!(b.difference(&a).len(), 0);
        assert_eq!(Ipv4Set::everything().difference(&a).len(), (1 << 32) - 256);
        assert_eq!(Ipv4Set::from_prefix(Ipv4Addr::BROADCAST, 0).len(), 1 << 32);
        let c = Ipv4Set::from_prefix("10.0.0.0".parse().unwrap(), 8)
            .union(&Ipv4Set::from_prefix("10.1.0.0".parse().unwrap(), 16))
            .union(&Ipv4Set::from_prefix("11.0.0.0".parse().unwrap(), 8));
        assert_eq!(c.len(), 1 << 25);
        assert_eq!(c.0.len(), 1);
    }
}
