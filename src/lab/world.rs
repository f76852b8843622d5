//! The lab's world: a seeded, deterministic population of mail domains and the hosts they point
//! at, with the proportions of `datasets/lab-world.csv` (spec and sources in
//! `datasets/lab-world.md`).
//!
//! Every domain is a pure function of `(seed, index)`: nothing is held per domain, so a world of
//! any size is walked in constant memory, a listener can tell a world domain from any other name
//! by parsing it, and the same seed always gives the same world and the same ground truth.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::LabError;

/// The proportions shipped with mxray.
pub const BUILTIN_SPEC: &str = include_str!("../../datasets/lab-world.csv");

/// The world's domains live directly under this reserved TLD (RFC 6761 6.2). The Public Suffix
/// List does not list it, so its implicit `*` rule makes every `name.test` its own
/// Organizational Domain, as a registered domain under a real TLD is.
pub const TLD: &str = "test";
/// The lab's own infrastructure: shared MX hosts, SPF include targets, the DNSBL zone.
pub const INFRA: &str = "lab.test";
/// The lab's DNSBL zone (`d.c.b.a.bl.lab.test`, RFC 5782).
pub const DNSBL_ZONE: &str = "bl.lab.test";
/// Names under this zone answer SERVFAIL, as a resolver does for a lame delegation.
pub const LAME: &str = "lame.lab.test";
/// What the lab's DNSBL answers for a listing, and for a blocked query (an error code, as
/// Spamhaus's "query via public resolver").
pub const DNSBL_LISTED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const DNSBL_ERROR: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 254);

/// Whether a domain's name servers answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    Ok,
    /// The name does not exist.
    Nxdomain,
    /// Delegated to a lame server: the resolver answers SERVFAIL.
    Servfail,
    /// Delegated to servers that never answer: every query times out.
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MxKind {
    /// One MX at a shared host of the pool.
    Pool,
    /// Two MX of the pool at preferences 10 and 20.
    Multi,
    /// The domain's own MX host `mx.<domain>` at an address of its own (nothing listens there).
    Own,
    /// `MX 0 .` (RFC 7505).
    Null,
    /// No MX: the name has an A record only (MX answers NODATA).
    None,
    /// MX 10 at a pool host and MX 20 at an exchange under a lame delegation, whose address
    /// lookups answer SERVFAIL: `mx_ips` holds only the first one's address.
    LameSecond,
    /// [`TOO_MANY_EXCHANGES`] MX at the shared hosts [`many_name`] (a provider's, forward-
    /// confirmed, where nothing listens), one past the scan's cap on the exchanges whose
    /// addresses it looks up.
    TooMany,
}

/// The exchanges of a [`MxKind::TooMany`] domain: one more than the 16 a scan looks up.
pub const TOO_MANY_EXCHANGES: usize = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfKind {
    None,
    Softfail,
    Fail,
    Include,
    Redirect,
    /// One record split across two character-strings (RFC 7208 3.3: joined without a space).
    Split,
    PlusAll,
    /// 12 DNS-querying terms over the tree (RFC 7208 4.6.4: more than 10 is a permerror).
    OverLimit,
    TwoRecords,
    /// An `ip4:` with an address that is not one.
    Syntax,
    /// Three `a:` terms at names that do not exist (RFC 7208 4.6.4: more than 2 void lookups).
    Void,
    /// An include whose zone answers SERVFAIL (RFC 7208 5.2: temperror).
    IncludeDead,
    /// An include in a registrable domain that does not exist ([`GONE_INCLUDE`]): a dangling
    /// name (whoever registers it decides what passes SPF), and RFC 7208 5.2's permerror.
    IncludeGone,
}

/// The include of [`SpfKind::IncludeGone`]: its organizational domain is NXDOMAIN in the lab's
/// `test.` zone.
pub const GONE_INCLUDE: &str = "_spf.gone-provider.test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcKind {
    None,
    PNone,
    Quarantine,
    Reject,
    /// No `p=` and no `rua=` (RFC 7489 6.3: required).
    NoP,
    BadP,
    /// A valid `p=` beside `sp=block`.
    BadSp,
    TwoRecords,
    /// RFC 9989's tags (`np`, `t`, `psd`), `p=` not second and `pct` (removed by RFC 9989):
    /// valid, with warnings.
    Rfc9989,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimKind {
    None,
    /// A key under `google` (Google Workspace).
    Google,
    /// Keys under `selector1` and `selector2` (Microsoft 365).
    Selector12,
    K1,
    S1,
    Default,
    Dkim,
    Mail,
    /// A key under a per-domain random token (Amazon SES style): the `_domainkey` subtree exists,
    /// no guess finds the key.
    Unguessable,
}

/// The per-mille weights of every group, as read from the spec.
#[derive(Debug, Clone)]
pub struct Spec {
    existence: Vec<(Existence, u32)>,
    mx: Vec<(MxKind, u32)>,
    spf: Vec<(SpfKind, u32)>,
    dmarc: Vec<(DmarcKind, u32)>,
    dkim: Vec<(DkimKind, u32)>,
    mta_sts: Vec<(bool, u32)>,
    tls_rpt: Vec<(bool, u32)>,
    bimi: Vec<(bool, u32)>,
}

impl Spec {
    pub fn builtin() -> Spec {
        Spec::parse(BUILTIN_SPEC).expect("datasets/lab-world.csv is checked by a unit test")
    }

    /// `group,variant,per_mille` lines (`#` comments, a header); each group must sum to 1000.
    pub fn parse(text: &str) -> Result<Spec, LabError> {
        let mut s = Spec {
            existence: vec![],
            mx: vec![],
            spf: vec![],
            dmarc: vec![],
            dkim: vec![],
            mta_sts: vec![],
            tls_rpt: vec![],
            bimi: vec![],
        };
        let bad = |n: usize, why: &str| LabError::Spec(format!("line {n}: {why}"));
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') || line == "group,variant,per_mille" {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [group, variant, w] = f[..] else {
                return Err(bad(n, "expected group,variant,per_mille"));
            };
            let w: u32 = w.parse().map_err(|_| bad(n, "per_mille is not a number"))?;
            let unknown = || bad(n, &format!("unknown variant {variant:?} of {group:?}"));
            let flag = |v: &str| match v {
                "none" => Some(false),
                "valid" => Some(true),
                _ => None,
            };
            match group {
                "existence" => s.existence.push((
                    match variant {
                        "ok" => Existence::Ok,
                        "nxdomain" => Existence::Nxdomain,
                        "servfail" => Existence::Servfail,
                        "silent" => Existence::Silent,
                        _ => return Err(unknown()),
                    },
                    w,
                )),
                "mx" => s.mx.push((
                    match variant {
                        "pool" => MxKind::Pool,
                        "multi" => MxKind::Multi,
                        "own" => MxKind::Own,
                        "null" => MxKind::Null,
                        "none" => MxKind::None,
                        "lame_second" => MxKind::LameSecond,
                        "too_many" => MxKind::TooMany,
                        _ => return Err(unknown()),
                    },
                    w,
                )),
                "spf" => s.spf.push((
                    match variant {
                        "none" => SpfKind::None,
                        "softfail" => SpfKind::Softfail,
                        "fail" => SpfKind::Fail,
                        "include" => SpfKind::Include,
                        "redirect" => SpfKind::Redirect,
                        "split" => SpfKind::Split,
                        "plusall" => SpfKind::PlusAll,
                        "over_limit" => SpfKind::OverLimit,
                        "two_records" => SpfKind::TwoRecords,
                        "syntax" => SpfKind::Syntax,
                        "void" => SpfKind::Void,
                        "include_dead" => SpfKind::IncludeDead,
                        "include_gone" => SpfKind::IncludeGone,
                        _ => return Err(unknown()),
                    },
                    w,
                )),
                "dmarc" => s.dmarc.push((
                    match variant {
                        "none" => DmarcKind::None,
                        "p_none" => DmarcKind::PNone,
                        "quarantine" => DmarcKind::Quarantine,
                        "reject" => DmarcKind::Reject,
                        "no_p" => DmarcKind::NoP,
                        "bad_p" => DmarcKind::BadP,
                        "bad_sp" => DmarcKind::BadSp,
                        "two_records" => DmarcKind::TwoRecords,
                        "rfc9989" => DmarcKind::Rfc9989,
                        _ => return Err(unknown()),
                    },
                    w,
                )),
                "dkim" => s.dkim.push((
                    match variant {
                        "none" => DkimKind::None,
                        "google" => DkimKind::Google,
                        "selector12" => DkimKind::Selector12,
                        "k1" => DkimKind::K1,
                        "s1" => DkimKind::S1,
                        "default" => DkimKind::Default,
                        "dkim" => DkimKind::Dkim,
                        "mail" => DkimKind::Mail,
                        "unguessable" => DkimKind::Unguessable,
                        _ => return Err(unknown()),
                    },
                    w,
                )),
                "mta_sts" => s.mta_sts.push((flag(variant).ok_or_else(unknown)?, w)),
                "tls_rpt" => s.tls_rpt.push((flag(variant).ok_or_else(unknown)?, w)),
                "bimi" => s.bimi.push((flag(variant).ok_or_else(unknown)?, w)),
                _ => return Err(bad(n, &format!("unknown group {group:?}"))),
            }
        }
        let check = |name: &str, sum: u32| {
            if sum == 1000 {
                Ok(())
            } else {
                Err(LabError::Spec(format!(
                    "group {name}: weights sum to {sum}, not 1000"
                )))
            }
        };
        fn sum<T>(v: &[(T, u32)]) -> u32 {
            v.iter().map(|(_, w)| w).sum()
        }
        check("existence", sum(&s.existence))?;
        check("mx", sum(&s.mx))?;
        check("spf", sum(&s.spf))?;
        check("dmarc", sum(&s.dmarc))?;
        check("dkim", sum(&s.dkim))?;
        check("mta_sts", sum(&s.mta_sts))?;
        check("tls_rpt", sum(&s.tls_rpt))?;
        check("bimi", sum(&s.bimi))?;
        Ok(s)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a full-period mixer, so nearby `(seed, index, group)`
/// inputs give unrelated draws.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(seed: u64, index: u64, group: u64) -> u64 {
    mix(mix(mix(seed) ^ index) ^ group.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

fn pick<T: Copy>(table: &[(T, u32)], r: u64) -> T {
    let mut x = (r % 1000) as u32;
    for (v, w) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    table.last().expect("a group has variants").0
}

const WORDS_A: &[&str] = &[
    "amber", "brisk", "cedar", "delta", "ember", "fable", "gale", "harbor", "iris", "juniper",
    "kestrel", "linden", "maple", "nimbus", "orchid", "pebble", "quill", "raven", "sierra",
    "tundra", "umber", "violet", "willow", "xenon", "yarrow", "zephyr", "atlas", "birch", "cobalt",
    "dune", "fjord", "granite",
];
const WORDS_B: &[&str] = &[
    "bakery", "clinic", "studio", "motors", "press", "labs", "foods", "travel", "legal", "media",
    "design", "garden", "books", "energy", "health", "hotel", "realty", "sports", "tools", "works",
    "cloud", "farm", "goods", "house", "mail", "market", "partners", "shop", "supply", "systems",
    "trust", "ventures",
];

/// The shared MX hosts every pool domain points at, and what each one does when mxray calls.
/// The table is fixed (a world of any size has these hosts), as real mail is concentrated on a
/// few providers' hosts.
pub const POOL: &[PoolHost] = &[
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa).listed(),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa).tls12_only(),
    PoolHost::new(Rcpt::Closed, Tls::LabCa).tls12_only(),
    PoolHost::new(Rcpt::Closed, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::SelfSigned),
    PoolHost::new(Rcpt::Closed, Tls::SelfSigned).dnsbl_error(),
    PoolHost::new(Rcpt::Closed, Tls::SelfSigned),
    PoolHost::new(Rcpt::Closed, Tls::SelfSigned),
    PoolHost::new(Rcpt::Closed, Tls::None),
    PoolHost::new(Rcpt::Closed, Tls::None),
    PoolHost::new(Rcpt::Closed, Tls::None),
    PoolHost::new(Rcpt::Closed, Tls::None),
    PoolHost::new(Rcpt::Open, Tls::None),
    PoolHost::new(Rcpt::Open, Tls::None).listed(),
    PoolHost::new(Rcpt::Open, Tls::LabCa),
    PoolHost::new(Rcpt::CatchAll, Tls::LabCa),
    PoolHost::new(Rcpt::CatchAll, Tls::LabCa),
    PoolHost::new(Rcpt::Greylist, Tls::LabCa),
    PoolHost::new(Rcpt::Greylist, Tls::LabCa),
    PoolHost::new(Rcpt::Closed, Tls::LabCa).tarpit(),
    PoolHost::new(Rcpt::Closed, Tls::LabCa).greeting_421(),
    PoolHost::new(Rcpt::Closed, Tls::WrongName),
    PoolHost::new(Rcpt::Closed, Tls::WrongName),
    PoolHost::new(Rcpt::Closed, Tls::WrongName),
    PoolHost::new(Rcpt::Closed, Tls::Refused),
];

/// What a listener answers at `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcpt {
    /// Role addresses of the domains it serves; 550 for others and for any other domain.
    Closed,
    /// Every recipient (an open relay; the lab still never takes DATA).
    Open,
    /// Any local part at the domains it serves; 550 for any other domain.
    CatchAll,
    /// 451 to every recipient.
    Greylist,
}

/// STARTTLS and the certificate behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    None,
    /// Signed by the lab CA for the host's name.
    LabCa,
    /// Self-signed for the host's name.
    SelfSigned,
    /// Signed by the lab CA for another name.
    WrongName,
    /// STARTTLS offered, and the command answered `454 4.7.0 TLS not available due to temporary
    /// reason` (RFC 3207 4): no handshake is ever made.
    Refused,
}

impl Tls {
    /// STARTTLS is in the EHLO reply.
    pub fn offered(self) -> bool {
        self != Tls::None
    }

    /// A handshake can be made, after STARTTLS or from the first byte on the implicit-TLS port.
    pub fn handshakes(self) -> bool {
        matches!(self, Tls::LabCa | Tls::SelfSigned | Tls::WrongName)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolHost {
    pub rcpt: Rcpt,
    pub tls: Tls,
    /// Each reply comes late (within mxray's default deadlines).
    pub tarpit: bool,
    /// 421 at the greeting, then the connection closes.
    pub greeting_421: bool,
    /// TLS 1.2 is the newest version it speaks. The oldest ones (1.0, 1.1) are out of reach:
    /// rustls, which serves the lab, does not implement them.
    pub tls12_only: bool,
    pub dnsbl: Option<Ipv4Addr>,
}

impl PoolHost {
    const fn new(rcpt: Rcpt, tls: Tls) -> PoolHost {
        PoolHost {
            rcpt,
            tls,
            tarpit: false,
            greeting_421: false,
            tls12_only: false,
            dnsbl: None,
        }
    }
    const fn listed(mut self) -> PoolHost {
        self.dnsbl = Some(DNSBL_LISTED);
        self
    }
    const fn dnsbl_error(mut self) -> PoolHost {
        self.dnsbl = Some(DNSBL_ERROR);
        self
    }
    const fn tarpit(mut self) -> PoolHost {
        self.tarpit = true;
        self
    }
    const fn tls12_only(mut self) -> PoolHost {
        self.tls12_only = true;
        self
    }
    const fn greeting_421(mut self) -> PoolHost {
        self.greeting_421 = true;
        self
    }
}

/// How a host's reverse DNS is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rdns {
    /// A PTR to its own name, whose A is this address: forward-confirmed.
    Confirmed,
    /// A PTR to a generic name whose A is another address.
    Mismatch,
    /// No PTR (NXDOMAIN).
    None,
}

/// The pool host `h`'s name.
pub fn pool_name(h: usize) -> String {
    format!("mx{h:02}.mail.{INFRA}")
}

/// Each pool host has a /24 of its own, so mxray's per-/24 SMTP limit does not queue them.
pub fn pool_ip(h: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 77, h as u8, 1)
}

/// The generic name of a pool host whose PTR does not confirm.
pub fn pool_generic_name(h: usize) -> String {
    format!("host-{h}.dyn.{INFRA}")
}

pub fn pool_rdns(h: usize) -> Rdns {
    match h % 8 {
        6 => Rdns::Mismatch,
        7 => Rdns::None,
        _ => Rdns::Confirmed,
    }
}

/// The address a mismatched generic name resolves to (not the host's).
pub fn pool_generic_ip(h: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 76, 0, h as u8)
}

/// Exchange `k` (1 to [`TOO_MANY_EXCHANGES`]) of the [`MxKind::TooMany`] domains.
pub fn many_name(k: usize) -> String {
    format!("mx{k:02}.many.{INFRA}")
}

/// Its address: its PTR names it, so it is forward-confirmed; nothing listens there.
pub fn many_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 78, 0, k as u8)
}

/// The address of domain `index`'s own MX host: 127.100.0.0 upwards, one per domain.
pub fn own_ip(index: u64) -> Ipv4Addr {
    let i = index as u32;
    Ipv4Addr::new(127, 100 + (i >> 16) as u8, (i >> 8) as u8, i as u8)
}

/// Own hosts: one in three has a confirming PTR, one in fifty is listed.
pub fn own_rdns(index: u64) -> Rdns {
    if index.is_multiple_of(3) {
        Rdns::Confirmed
    } else {
        Rdns::None
    }
}

pub fn own_dnsbl(index: u64) -> Option<Ipv4Addr> {
    (index % 50 == 7).then_some(DNSBL_LISTED)
}

/// The largest world: own MX addresses must stay inside 127.100.0.0-127.254.255.255.
pub const MAX_DOMAINS: usize = 155 << 16;

/// The world: a seed, a size and the proportions.
#[derive(Debug, Clone)]
pub struct World {
    pub seed: u64,
    pub domains: usize,
    spec: Spec,
}

/// One domain, as generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub index: u64,
    pub name: String,
    pub existence: Existence,
    pub mx: MxKind,
    /// Pool hosts of `Pool` and `Multi` (in preference order).
    pub pool: [usize; 2],
    pub spf: SpfKind,
    pub dmarc: DmarcKind,
    pub dkim: DkimKind,
    pub mta_sts: bool,
    pub tls_rpt: bool,
    pub bimi: bool,
    /// Which of the key shapes its DKIM records carry.
    pub dkim_key: usize,
}

/// The DKIM public keys the world's records carry, with their per-mille share among the domains
/// that publish keys (generated once with OpenSSL; only the shape matters: RSA 1024 and 2048
/// bits, Ed25519, RFC 6376 3.6.1 and RFC 8463, and a few RSA 512, which RFC 8301 3.2 forbids
/// verifiers to accept and old records still carry).
pub const DKIM_KEYS: &[(&str, &str, u32)] = &[
    ("rsa", DKIM_RSA_1024, 300),
    ("rsa", DKIM_RSA_2048, 500),
    (
        "ed25519",
        "jM0A6L8RNFxkJb4Sd3jXaEUUn8sQsVr7Xg8eTe/syww=",
        150,
    ),
    ("rsa", DKIM_RSA_512, 50),
];
pub const DKIM_RSA_1024: &str = include_str!("../../datasets/lab-dkim-rsa1024.txt");
pub const DKIM_RSA_2048: &str = include_str!("../../datasets/lab-dkim-rsa2048.txt");
pub const DKIM_RSA_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALqZOua2AX03KHY3Yor7n7oExf/xElNgX0ZEQNc9fciw6ep9qzsqJinWXZnv2TFt704/8Zc5stMGEFCaFz7gAI8CAwEAAQ==";

impl World {
    pub fn new(seed: u64, domains: usize) -> Result<World, LabError> {
        World::with_spec(seed, domains, Spec::builtin())
    }

    pub fn with_spec(seed: u64, domains: usize, spec: Spec) -> Result<World, LabError> {
        if domains > MAX_DOMAINS {
            return Err(LabError::Spec(format!(
                "{domains} domains: the lab holds at most {MAX_DOMAINS}"
            )));
        }
        Ok(World {
            seed,
            domains,
            spec,
        })
    }

    /// Domain `index`'s name. The index is part of it, so names are distinct and
    /// [`World::index_of`] can tell a world domain from any other name.
    pub fn name(&self, index: u64) -> String {
        let r = draw(self.seed, index, 0);
        let a = WORDS_A[(r % WORDS_A.len() as u64) as usize];
        let b = WORDS_B[((r >> 16) % WORDS_B.len() as u64) as usize];
        format!("{a}-{b}-{index}.{TLD}")
    }

    /// The index of a world domain named `name` (lowercase, no trailing dot), or None.
    pub fn index_of(&self, name: &str) -> Option<u64> {
        let label = name.strip_suffix(TLD)?.strip_suffix('.')?;
        let index: u64 = label.rsplit('-').next()?.parse().ok()?;
        (index < self.domains as u64 && self.name(index) == name).then_some(index)
    }

    /// Domain `index`'s existence alone (what the DNS handler asks on every query).
    pub fn existence(&self, index: u64) -> Existence {
        pick(&self.spec.existence, draw(self.seed, index, 1))
    }

    pub fn domain(&self, index: u64) -> Domain {
        let s = &self.spec;
        let g = |group| draw(self.seed, index, group);
        let existence = pick(&s.existence, g(1));
        let r = g(2);
        let h1 = (r >> 20) as usize % POOL.len();
        // The second MX of a multi domain is another host of the pool.
        let h2 = (h1 + 1 + (r >> 40) as usize % (POOL.len() - 1)) % POOL.len();
        Domain {
            index,
            name: self.name(index),
            existence,
            mx: pick(&s.mx, r),
            pool: [h1, h2],
            spf: pick(&s.spf, g(3)),
            dmarc: pick(&s.dmarc, g(4)),
            dkim: pick(&s.dkim, g(5)),
            mta_sts: pick(&s.mta_sts, g(6)),
            tls_rpt: pick(&s.tls_rpt, g(7)),
            bimi: pick(&s.bimi, g(8)),
            dkim_key: {
                let shares: Vec<(usize, u32)> = DKIM_KEYS
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (i, k.2))
                    .collect();
                pick(&shares, g(9))
            },
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Domain> + '_ {
        (0..self.domains as u64).map(|i| self.domain(i))
    }
}

/// A record of the world, in the zone-file sense: owner, and the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rr {
    A(String, Ipv4Addr),
    Mx(String, u16, String),
    /// One TXT record of one or more character-strings.
    Txt(String, Vec<String>),
    Ptr(Ipv4Addr, String),
}

fn txt(name: impl Into<String>, s: impl Into<String>) -> Rr {
    Rr::Txt(name.into(), vec![s.into()])
}

/// The pool's SPF include target, the over-limit tree's, and the names of the void lookups.
pub const SPF_INCLUDE: &str = "_spf.mail.lab.test";
pub const SPF_DEEP: &str = "deep.spf.lab.test";

/// The lab's own records: the pool hosts (A, PTR), SPF include targets, the DNSBL entries of
/// the pool.
pub fn infra_records() -> Vec<Rr> {
    let mut v = vec![
        txt(SPF_INCLUDE, "v=spf1 ip4:127.77.0.0/16 -all"),
        // 10 `a` terms below one include: with the include and the top-level one, 12.
        txt(
            SPF_DEEP,
            (1..=10).fold("v=spf1".to_string(), |mut s, i| {
                let _ = write!(s, " a:a{i}.spf.{INFRA}");
                s
            }) + " -all",
        ),
    ];
    for i in 1..=10 {
        v.push(Rr::A(
            format!("a{i}.spf.{INFRA}"),
            Ipv4Addr::new(127, 75, 0, i),
        ));
    }
    for k in 1..=TOO_MANY_EXCHANGES {
        v.push(Rr::A(many_name(k), many_ip(k)));
        v.push(Rr::Ptr(many_ip(k), many_name(k)));
    }
    for (h, host) in POOL.iter().enumerate() {
        let ip = pool_ip(h);
        v.push(Rr::A(pool_name(h), ip));
        match pool_rdns(h) {
            Rdns::Confirmed => v.push(Rr::Ptr(ip, pool_name(h))),
            Rdns::Mismatch => {
                v.push(Rr::Ptr(ip, pool_generic_name(h)));
                v.push(Rr::A(pool_generic_name(h), pool_generic_ip(h)));
            }
            Rdns::None => {}
        }
        if let Some(code) = host.dnsbl {
            v.push(Rr::A(dnsbl_name(ip), code));
        }
    }
    v
}

/// RFC 5782 2.1: the address's octets reversed, under the zone.
pub fn dnsbl_name(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("{}.{}.{}.{}.{DNSBL_ZONE}", o[3], o[2], o[1], o[0])
}

impl Domain {
    /// The records this domain publishes (none for a domain that does not exist or whose
    /// servers do not answer).
    pub fn records(&self) -> Vec<Rr> {
        let d = &self.name;
        let mut v = Vec::new();
        if self.existence != Existence::Ok {
            return v;
        }
        v.push(Rr::A(d.clone(), Ipv4Addr::new(127, 66, 0, 1)));
        match self.mx {
            MxKind::Pool => v.push(Rr::Mx(d.clone(), 10, pool_name(self.pool[0]))),
            MxKind::Multi => {
                v.push(Rr::Mx(d.clone(), 10, pool_name(self.pool[0])));
                v.push(Rr::Mx(d.clone(), 20, pool_name(self.pool[1])));
            }
            MxKind::Own => {
                let host = format!("mx.{d}");
                let ip = own_ip(self.index);
                v.push(Rr::Mx(d.clone(), 10, host.clone()));
                v.push(Rr::A(host.clone(), ip));
                if own_rdns(self.index) == Rdns::Confirmed {
                    v.push(Rr::Ptr(ip, host));
                }
                if let Some(code) = own_dnsbl(self.index) {
                    v.push(Rr::A(dnsbl_name(ip), code));
                }
            }
            MxKind::Null => v.push(Rr::Mx(d.clone(), 0, String::new())),
            MxKind::None => {}
            MxKind::LameSecond => {
                v.push(Rr::Mx(d.clone(), 10, pool_name(self.pool[0])));
                v.push(Rr::Mx(d.clone(), 20, self.lame_exchange()));
            }
            MxKind::TooMany => {
                for k in 1..=TOO_MANY_EXCHANGES {
                    v.push(Rr::Mx(d.clone(), 10 + k as u16, many_name(k)));
                }
            }
        }
        let spf = |s: &str| txt(d.clone(), s);
        match self.spf {
            SpfKind::None => {}
            SpfKind::Softfail => v.push(spf("v=spf1 a ip4:127.77.0.0/16 ~all")),
            SpfKind::Fail => v.push(spf("v=spf1 ip4:127.77.0.0/16 ip4:127.100.0.0/16 -all")),
            SpfKind::Include => v.push(spf(&format!("v=spf1 include:{SPF_INCLUDE} ~all"))),
            SpfKind::Redirect => v.push(spf(&format!("v=spf1 redirect={SPF_INCLUDE}"))),
            SpfKind::Split => v.push(Rr::Txt(
                d.clone(),
                vec!["v=spf1 ip4:127.77.0.0/16 ".into(), "-all".into()],
            )),
            SpfKind::PlusAll => v.push(spf("v=spf1 +all")),
            SpfKind::OverLimit => v.push(spf(&format!(
                "v=spf1 include:{SPF_INCLUDE} include:{SPF_DEEP} -all"
            ))),
            SpfKind::TwoRecords => {
                v.push(spf("v=spf1 -all"));
                v.push(spf("v=spf1 ip4:127.77.0.0/16 -all"));
            }
            SpfKind::Syntax => v.push(spf("v=spf1 ip4:127.77.0.300 -all")),
            SpfKind::Void => v.push(spf(&format!(
                "v=spf1 a:v1.void.{INFRA} a:v2.void.{INFRA} a:v3.void.{INFRA} -all"
            ))),
            SpfKind::IncludeDead => v.push(spf(&format!("v=spf1 include:_spf.{LAME} -all"))),
            SpfKind::IncludeGone => v.push(spf(&format!("v=spf1 include:{GONE_INCLUDE} -all"))),
        }
        let dm = format!("_dmarc.{d}");
        let rua = format!("rua=mailto:dmarc@{d}");
        match self.dmarc {
            DmarcKind::None => {}
            DmarcKind::PNone => v.push(txt(&dm, format!("v=DMARC1; p=none; {rua}"))),
            DmarcKind::Quarantine => {
                v.push(txt(&dm, format!("v=DMARC1; p=quarantine; pct=50; {rua}")))
            }
            DmarcKind::Reject => v.push(txt(&dm, "v=DMARC1; p=reject; sp=reject; adkim=s")),
            DmarcKind::NoP => v.push(txt(&dm, "v=DMARC1; adkim=r")),
            DmarcKind::BadP => v.push(txt(&dm, "v=DMARC1; p=bogus")),
            DmarcKind::BadSp => v.push(txt(&dm, "v=DMARC1; p=none; sp=block")),
            DmarcKind::TwoRecords => {
                v.push(txt(&dm, "v=DMARC1; p=none"));
                v.push(txt(&dm, "v=DMARC1; p=reject"));
            }
            DmarcKind::Rfc9989 => v.push(txt(
                &dm,
                format!("v=DMARC1; t=y; np=reject; p=quarantine; psd=n; pct=100; {rua}"),
            )),
        }
        let (k, p, _) = DKIM_KEYS[self.dkim_key];
        let key = format!("v=DKIM1; k={k}; p={}", p.trim());
        for sel in self.dkim_published() {
            v.push(txt(format!("{sel}._domainkey.{d}"), key.clone()));
        }
        if self.mta_sts {
            v.push(txt(
                format!("_mta-sts.{d}"),
                format!("v=STSv1; id=2026{:06}", self.index % 1_000_000),
            ));
        }
        if self.tls_rpt {
            v.push(txt(
                format!("_smtp._tls.{d}"),
                format!("v=TLSRPTv1; rua=mailto:tlsrpt@{d}"),
            ));
        }
        if self.bimi {
            v.push(txt(
                format!("default._bimi.{d}"),
                format!("v=BIMI1; l=https://{d}/logo.svg"),
            ));
        }
        v
    }

    /// The selectors it publishes keys under.
    pub fn dkim_published(&self) -> Vec<String> {
        let s = |x: &str| vec![x.to_string()];
        match self.dkim {
            DkimKind::None => vec![],
            DkimKind::Google => s("google"),
            DkimKind::Selector12 => vec!["selector1".into(), "selector2".into()],
            DkimKind::K1 => s("k1"),
            DkimKind::S1 => s("s1"),
            DkimKind::Default => s("default"),
            DkimKind::Dkim => s("dkim"),
            DkimKind::Mail => s("mail"),
            DkimKind::Unguessable => vec![format!("{:016x}", mix(self.index))],
        }
    }

    /// The second exchange of a [`MxKind::LameSecond`] domain: under [`LAME`], so its A and
    /// AAAA queries answer SERVFAIL.
    pub fn lame_exchange(&self) -> String {
        format!("mx-{}.{LAME}", self.index)
    }

    /// The addresses of its MX hosts (what the scan's hosts table gets from it), in preference
    /// order: only the exchanges a scan looks up, and only those whose lookups answer.
    pub fn mx_ips(&self) -> Vec<Ipv4Addr> {
        if self.existence != Existence::Ok {
            return vec![];
        }
        match self.mx {
            MxKind::Pool | MxKind::LameSecond => vec![pool_ip(self.pool[0])],
            MxKind::Multi => vec![pool_ip(self.pool[0]), pool_ip(self.pool[1])],
            MxKind::Own => vec![own_ip(self.index)],
            MxKind::TooMany => (1..TOO_MANY_EXCHANGES).map(many_ip).collect(),
            MxKind::Null | MxKind::None => vec![],
        }
    }

    /// What a correct scan must find, by RFC: the ground truth.
    pub fn truth(&self) -> Truth {
        use Existence as E;
        let alive = self.existence == E::Ok;
        let mx_status = match self.existence {
            E::Ok if matches!(self.mx, MxKind::None) => "nodata",
            E::Ok => "ok",
            E::Nxdomain => "nxdomain",
            E::Servfail => "servfail",
            E::Silent => "timeout",
        };
        let dead = matches!(self.existence, E::Servfail | E::Silent);
        let spf_status = if dead {
            "temperror"
        } else if !alive {
            "none"
        } else {
            match self.spf {
                SpfKind::None => "none",
                SpfKind::Softfail
                | SpfKind::Fail
                | SpfKind::Include
                | SpfKind::Redirect
                | SpfKind::Split
                | SpfKind::PlusAll => "valid",
                SpfKind::OverLimit
                | SpfKind::TwoRecords
                | SpfKind::Syntax
                | SpfKind::Void
                | SpfKind::IncludeGone => "permerror",
                SpfKind::IncludeDead => "temperror",
            }
        };
        let (dmarc_status, dmarc_p) = if dead {
            ("temperror", None)
        } else if !alive {
            ("none", None)
        } else {
            match self.dmarc {
                DmarcKind::None => ("none", None),
                DmarcKind::PNone => ("valid", Some("none")),
                DmarcKind::Quarantine => ("valid", Some("quarantine")),
                DmarcKind::Reject => ("valid", Some("reject")),
                DmarcKind::Rfc9989 => ("valid", Some("quarantine")),
                DmarcKind::NoP | DmarcKind::BadP | DmarcKind::BadSp | DmarcKind::TwoRecords => {
                    ("invalid", None)
                }
            }
        };
        let mut dkim: Vec<String> = match self.dkim {
            DkimKind::Unguessable => vec![],
            _ if alive => self.dkim_published(),
            _ => vec![],
        };
        dkim.sort();
        Truth {
            domain: self.name.clone(),
            existence: match self.existence {
                E::Ok => "ok",
                E::Nxdomain => "nxdomain",
                E::Servfail => "servfail",
                E::Silent => "silent",
            },
            mx_status,
            mx_null: alive && self.mx == MxKind::Null,
            mx_ips: self.mx_ips(),
            spf_status,
            dmarc_status,
            dmarc_p,
            dmarc_np: (alive && self.dmarc == DmarcKind::Rfc9989).then_some("reject"),
            dmarc_t: (alive && self.dmarc == DmarcKind::Rfc9989).then_some(true),
            // Unknown where the zone does not answer.
            dkim_selectors: (!dead).then_some(dkim),
            mta_sts: alive && self.mta_sts,
            tls_rpt: alive && self.tls_rpt,
            bimi: alive && self.bimi,
            mta_sts_status: record_status(self.existence, self.mta_sts),
            tls_rpt_status: record_status(self.existence, self.tls_rpt),
            bimi_status: record_status(self.existence, self.bimi),
            // Every other name of the lab's set-ups is the domain's own or under lab.test.
            dangling: alive.then(|| match self.spf {
                SpfKind::IncludeGone => format!("spf-include:{GONE_INCLUDE}"),
                _ => String::new(),
            }),
        }
    }
}

/// The status a scan must give a policy record the world publishes (`published`: the
/// `_mta-sts`, `_smtp._tls` and `default._bimi` records [`Domain::records`] writes, each valid)
/// or not: unknown where the zone does not answer.
fn record_status(existence: Existence, published: bool) -> &'static str {
    match existence {
        Existence::Servfail | Existence::Silent => "temperror",
        Existence::Ok if published => "valid",
        Existence::Ok | Existence::Nxdomain => "none",
    }
}

/// One domain's row of the ground-truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub domain: String,
    pub existence: &'static str,
    pub mx_status: &'static str,
    pub mx_null: bool,
    pub mx_ips: Vec<Ipv4Addr>,
    pub spf_status: &'static str,
    pub dmarc_status: &'static str,
    pub dmarc_p: Option<&'static str>,
    /// RFC 9989 `np` and `t` as published in the record used.
    pub dmarc_np: Option<&'static str>,
    pub dmarc_t: Option<bool>,
    /// Sorted; None where the domain's zone does not answer.
    pub dkim_selectors: Option<Vec<String>>,
    /// The record is published and answered (the raw column holds it).
    pub mta_sts: bool,
    pub tls_rpt: bool,
    pub bimi: bool,
    /// `valid`, `none` or `temperror`: the scan's `mta_sts_status`, `tls_rpt_status`,
    /// `bimi_status`.
    pub mta_sts_status: &'static str,
    pub tls_rpt_status: &'static str,
    pub bimi_status: &'static str,
    /// The `dangling` column, `;`-joined; None where the domain's MX query does not answer.
    pub dangling: Option<String>,
}

pub const TRUTH_HEADER: &[&str] = &[
    "domain",
    "existence",
    "mx_status",
    "mx_null",
    "mx_ips",
    "spf_status",
    "dmarc_status",
    "dmarc_p",
    "dmarc_np",
    "dmarc_t",
    "dkim_selectors",
    "mta_sts",
    "tls_rpt",
    "bimi",
    "mta_sts_status",
    "tls_rpt_status",
    "bimi_status",
    "dangling",
];

impl Truth {
    /// CSV fields in [`TRUTH_HEADER`] order; lists joined with `;`, null as the empty field
    /// (`dkim_selectors` of a domain with none found is `-`, so it differs from unknown).
    pub fn fields(&self) -> Vec<String> {
        let join = |v: &[String]| v.join(";");
        vec![
            self.domain.clone(),
            self.existence.into(),
            self.mx_status.into(),
            self.mx_null.to_string(),
            join(
                &self
                    .mx_ips
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>(),
            ),
            self.spf_status.into(),
            self.dmarc_status.into(),
            self.dmarc_p.unwrap_or("").into(),
            self.dmarc_np.unwrap_or("").into(),
            self.dmarc_t.map_or(String::new(), |t| t.to_string()),
            match &self.dkim_selectors {
                None => String::new(),
                Some(v) if v.is_empty() => "-".into(),
                Some(v) => join(v),
            },
            self.mta_sts.to_string(),
            self.tls_rpt.to_string(),
            self.bimi.to_string(),
            self.mta_sts_status.into(),
            self.tls_rpt_status.into(),
            self.bimi_status.into(),
            self.dangling.clone().unwrap_or_else(|| "-".into()),
        ]
    }
}

/// One host's row of the hosts ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTruth {
    pub ip: Ipv4Addr,
    /// `closed`, `open`, `catch-all`, `greylist`, `greeting-421`, `tarpit`, `starttls-454` (a
    /// closed host refusing STARTTLS), or `no-listener`.
    pub behaviour: &'static str,
    pub fcrdns: bool,
    pub dnsbl_listed: bool,
    pub dnsbl_error: bool,
    /// STARTTLS offered: None where no EHLO answer is expected.
    pub starttls: Option<bool>,
    /// None where no verdict is possible (greylisting, no session).
    pub open_relay: Option<bool>,
    pub accepts_any_recipient: Option<bool>,
    pub tls_cert_valid: Option<bool>,
    /// The version the handshake ends with (`TLSv1.3`, `TLSv1.2`); None without STARTTLS.
    pub tls_version: Option<&'static str>,
    /// `rpki_status` of a scan with the lab's `--asn-db` and `--rpki-vrps` ([`rpki_truth`]).
    pub rpki_status: Option<&'static str>,
}

/// RFC 6811's verdict on the route of a lab address, worked out by hand from the lab's ASN table
/// and VRP set (`src/lab/mod.rs`, `ASN_TABLE` and `VRPS`); None where the table has no AS.
///
/// Routes are the CIDR blocks of the table's ranges holding the address:
/// - pool hosts 0-15, 127.77.0.0/20 AS64501: the VRP 127.77.0.0/20-20 AS64501 matches: `valid`;
/// - pool hosts 16-23, 127.77.16.0/21 AS64501: only the AS 0 VRP 127.77.16.0/21-24 covers it,
///   and AS 0 never matches: `invalid`;
/// - pool hosts 24-31 (127.77.24.0/21) and 32 (127.77.32.0/19): no VRP covers them: `not-found`;
/// - own hosts, range 127.100.0.0-127.254.255.255 AS64502, under the VRP 127.96.0.0/11-12
///   AS64502: 127.100-103 (route /14) and 127.104-111 (/13) are longer than its max length:
///   `invalid`; 127.112-127 (/12) matches: `valid`; 127.128 and up are not covered: `not-found`;
/// - the many-exchange hosts (127.78.0.0/24): no AS in the table, so no route: None.
pub fn rpki_truth(ip: Ipv4Addr) -> Option<&'static str> {
    match ip.octets() {
        [127, 77, 0..=15, _] => Some("valid"),
        [127, 77, 16..=23, _] => Some("invalid"),
        [127, 77, _, _] => Some("not-found"),
        [127, 100..=111, _, _] => Some("invalid"),
        [127, 112..=127, _, _] => Some("valid"),
        [127, 128..=254, _, _] => Some("not-found"),
        _ => None,
    }
}

pub const HOSTS_TRUTH_HEADER: &[&str] = &[
    "ip",
    "behaviour",
    "fcrdns",
    "dnsbl_listed",
    "dnsbl_error",
    "starttls",
    "open_relay",
    "accepts_any_recipient",
    "tls_cert_valid",
    "tls_version",
    "rpki_status",
];

impl HostTruth {
    pub fn pool(h: usize) -> HostTruth {
        let p = POOL[h];
        let session = !p.greeting_421;
        let tls = p.tls.handshakes();
        HostTruth {
            ip: pool_ip(h),
            behaviour: if p.greeting_421 {
                "greeting-421"
            } else if p.tarpit {
                "tarpit"
            } else if p.tls == Tls::Refused {
                "starttls-454"
            } else {
                match p.rcpt {
                    Rcpt::Closed => "closed",
                    Rcpt::Open => "open",
                    Rcpt::CatchAll => "catch-all",
                    Rcpt::Greylist => "greylist",
                }
            },
            fcrdns: pool_rdns(h) == Rdns::Confirmed,
            dnsbl_listed: p.dnsbl == Some(DNSBL_LISTED),
            dnsbl_error: p.dnsbl == Some(DNSBL_ERROR),
            starttls: session.then_some(p.tls.offered()),
            open_relay: match p.rcpt {
                _ if !session => None,
                Rcpt::Open => Some(true),
                Rcpt::Greylist => None,
                Rcpt::Closed | Rcpt::CatchAll => Some(false),
            },
            accepts_any_recipient: match p.rcpt {
                _ if !session => None,
                Rcpt::Open | Rcpt::CatchAll => Some(true),
                Rcpt::Greylist => None,
                Rcpt::Closed => Some(false),
            },
            tls_cert_valid: (session && tls).then_some(p.tls == Tls::LabCa),
            tls_version: (session && tls).then_some(if p.tls12_only {
                "TLSv1.2"
            } else {
                "TLSv1.3"
            }),
            rpki_status: rpki_truth(pool_ip(h)),
        }
    }

    /// Exchange `k` of the [`MxKind::TooMany`] domains.
    pub fn many(k: usize) -> HostTruth {
        HostTruth {
            ip: many_ip(k),
            fcrdns: true,
            dnsbl_listed: false,
            rpki_status: rpki_truth(many_ip(k)),
            ..HostTruth::own(0)
        }
    }

    pub fn own(index: u64) -> HostTruth {
        HostTruth {
            ip: own_ip(index),
            behaviour: "no-listener",
            fcrdns: own_rdns(index) == Rdns::Confirmed,
            dnsbl_listed: own_dnsbl(index).is_some(),
            dnsbl_error: false,
            starttls: None,
            open_relay: None,
            accepts_any_recipient: None,
            tls_cert_valid: None,
            tls_version: None,
            rpki_status: rpki_truth(own_ip(index)),
        }
    }

    pub fn fields(&self) -> Vec<String> {
        let o = |b: Option<bool>| b.map(|b| b.to_string()).unwrap_or_default();
        vec![
            self.ip.to_string(),
            self.behaviour.into(),
            self.fcrdns.to_string(),
            self.dnsbl_listed.to_string(),
            self.dnsbl_error.to_string(),
            o(self.starttls),
            o(self.open_relay),
            o(self.accepts_any_recipient),
            o(self.tls_cert_valid),
            self.tls_version.unwrap_or_default().into(),
            self.rpki_status.unwrap_or_default().into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_spec_parses() {
        Spec::parse(BUILTIN_SPEC).unwrap();
    }

    #[test]
    fn bad_specs_are_refused() {
        for text in [
            "existence,ok,999",
            "existence,ok,1000\nmx,pool,1000\nspf,nonsense,1000",
            "planet,ok,1000",
            "existence,ok,lots",
        ] {
            assert!(Spec::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn same_seed_same_world() {
        let a = World::new(7, 3000).unwrap();
        let b = World::new(7, 3000).unwrap();
        let c = World::new(8, 3000).unwrap();
        let records = |w: &World| -> Vec<Vec<Rr>> { w.iter().map(|d| d.records()).collect() };
        assert_eq!(records(&a), records(&b));
        assert_ne!(records(&a), records(&c));
        assert!(a.iter().zip(b.iter()).all(|(x, y)| x.truth() == y.truth()));
    }

    #[test]
    fn names_are_distinct_and_parse_back() {
        let w = World::new(3, 5000).unwrap();
        let mut seen = std::collections::HashSet::new();
        for d in w.iter() {
            assert!(seen.insert(d.name.clone()));
            assert_eq!(w.index_of(&d.name), Some(d.index));
        }
        assert_eq!(w.index_of("amber-bakery-1.example"), None);
        assert_eq!(w.index_of(&World::new(3, 9000).unwrap().name(6000)), None);
        assert_eq!(w.index_of("relay.test"), None);
    }

    /// The published proportions, as shares of all domains, within a tolerance a world of
    /// 20,000 draws keeps (about 3 standard deviations).
    #[test]
    fn proportions_within_tolerance() {
        let n = 20_000;
        let w = World::new(1, n).unwrap();
        let (mut spf, mut dmarc, mut dmarc_none, mut dkim, mut over, mut null) = (0, 0, 0, 0, 0, 0);
        for d in w.iter() {
            let t = d.truth();
            let alive = d.existence == Existence::Ok;
            spf += usize::from(alive && d.spf != SpfKind::None);
            dmarc += usize::from(alive && d.dmarc != DmarcKind::None);
            dmarc_none += usize::from(t.dmarc_p == Some("none"));
            dkim += usize::from(alive && d.dkim != DkimKind::None);
            over += usize::from(alive && d.spf == SpfKind::OverLimit);
            null += usize::from(t.mx_null);
        }
        let share = |x: usize| x as f64 / n as f64;
        let near = |x: usize, want: f64, tol: f64, what: &str| {
            assert!(
                (share(x) - want).abs() < tol,
                "{what}: {:.3}, want {want} +- {tol}",
                share(x)
            )
        };
        near(spf, 0.56, 0.012, "SPF");
        near(dmarc, 0.30, 0.012, "DMARC");
        near(dkim, 0.25, 0.012, "DKIM");
        near(over, 0.029, 0.005, "SPF over 10 lookups");
        near(null, 0.029, 0.005, "null MX");
        assert!(dmarc_none * 2 > dmarc, "p=none is the majority of DMARC");
    }

    /// The truth's policy records and MX addresses are the ones [`Domain::records`] publishes.
    #[test]
    fn truth_follows_the_published_records() {
        let w = World::new(4, 3000).unwrap();
        let mut statuses = std::collections::BTreeSet::new();
        for d in w.iter() {
            let (t, records) = (d.truth(), d.records());
            assert_eq!(t.fields().len(), TRUTH_HEADER.len());
            let txt_at = |prefix: &str| {
                let owner = format!("{prefix}.{}", d.name);
                records
                    .iter()
                    .any(|r| matches!(r, Rr::Txt(name, _) if *name == owner))
            };
            for (what, published, flag, status) in [
                ("mta_sts", txt_at("_mta-sts"), t.mta_sts, t.mta_sts_status),
                ("tls_rpt", txt_at("_smtp._tls"), t.tls_rpt, t.tls_rpt_status),
                ("bimi", txt_at("default._bimi"), t.bimi, t.bimi_status),
            ] {
                assert_eq!(flag, published, "{} {what}", d.name);
                assert_eq!(status == "valid", published, "{} {what}", d.name);
                statuses.insert((what, status));
            }
            // The exchanges' A records, in preference order.
            let mut mx: Vec<(u16, &String)> = records
                .iter()
                .filter_map(|r| match r {
                    Rr::Mx(_, pref, host) if !host.is_empty() => Some((*pref, host)),
                    _ => None,
                })
                .collect();
            mx.sort();
            let address = |host: &String| {
                records
                    .iter()
                    .chain(infra_records().iter())
                    .find_map(|r| match r {
                        Rr::A(name, ip) if name == host => Some(*ip),
                        _ => None,
                    })
            };
            // A scan looks up the addresses of the first 16 exchanges only.
            let ips: Vec<Ipv4Addr> = mx
                .iter()
                .take(crate::pipeline::domain::MAX_EXCHANGES)
                .filter_map(|(_, h)| address(h))
                .collect();
            assert_eq!(t.mx_ips, ips, "{} mx_ips", d.name);
        }
        // Each of the three statuses is met for each record, so the lab test compares all.
        assert_eq!(statuses.len(), 9, "{statuses:?}");
    }

    #[test]
    fn own_addresses_are_distinct_and_in_range() {
        assert_eq!(own_ip(0), Ipv4Addr::new(127, 100, 0, 0));
        assert_eq!(own_ip(65536 + 258), Ipv4Addr::new(127, 101, 1, 2));
        assert_eq!(
            own_ip(MAX_DOMAINS as u64 - 1),
            Ipv4Addr::new(127, 254, 255, 255)
        );
        assert!(World::new(0, MAX_DOMAINS + 1).is_err());
    }
}
