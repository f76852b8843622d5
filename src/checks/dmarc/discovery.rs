//! Where a domain's DMARC policy is found, one `_dmarc` name at a time: RFC 9989 4.10.1 (the
//! domain, then the Organizational Domain or Public Suffix Domain that the DNS Tree Walk of 4.10
//! finds) or RFC 7489 6.6.3 (the domain, then its Organizational Domain from the PSL).

use crate::checks::problem::{Code, problem};
use std::fmt;

use super::psl::{SuffixList, organizational_domain_with, to_ascii_name};
use super::record::{Psd, parse};
use super::{DmarcFindings, DmarcStatus, Lookup, Selection, TxtPolicy, multiple, select};

/// How to find the policy for a domain that has no record of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// RFC 7489 6.6.3: the domain, then its Organizational Domain (from the PSL).
    Rfc7489,
    /// RFC 9989 4.10.1: the domain, then the DNS Tree Walk (4.10) to the Organizational Domain
    /// (chosen as 4.10.2 says, `psd` tags first) or the Public Suffix Domain.
    Rfc9989,
}

impl DiscoveryMode {
    /// As `--dmarc-discovery` and run.json spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryMode::Rfc7489 => "rfc7489",
            DiscoveryMode::Rfc9989 => "rfc9989",
        }
    }

    /// The other method, which a scan also computes to count where the two disagree.
    pub fn other(self) -> DiscoveryMode {
        match self {
            DiscoveryMode::Rfc7489 => DiscoveryMode::Rfc9989,
            DiscoveryMode::Rfc9989 => DiscoveryMode::Rfc7489,
        }
    }
}

/// Where the record that was used was found (RFC 9989 4.10.1 lists the three places).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmarcSource {
    /// `_dmarc.<domain>`.
    Domain,
    /// The Organizational Domain: by the PSL (RFC 7489 3.2) or by the Tree Walk (RFC 9989
    /// 4.10.2).
    Organizational,
    /// RFC 9989: the Public Suffix Domain (a `psd=y` record) when the Organizational Domain
    /// below it publishes none.
    PublicSuffix,
}

impl fmt::Display for DmarcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DmarcSource::Domain => "domain",
            DmarcSource::Organizational => "organizational",
            DmarcSource::PublicSuffix => "public-suffix",
        })
    }
}

/// RFC 9989 4.10 step 4: a subject of 8 or more labels is cut to its last 7 after the first
/// query, so at most 1 + 7 = 8 queries.
const TREE_WALK_MAX_LABELS: usize = 7;

/// The domains (without `_dmarc.`) the plan may query, in order.
fn discovery_domains(domain: &str, mode: DiscoveryMode, list: Option<&SuffixList>) -> Vec<String> {
    let Some(name) = to_ascii_name(domain) else {
        return Vec::new();
    };
    match mode {
        DiscoveryMode::Rfc7489 => {
            let mut v = vec![name.clone()];
            if let Some(org) = organizational_domain_with(&name, list)
                && org != name
            {
                v.push(org);
            }
            v
        }
        DiscoveryMode::Rfc9989 => {
            // RFC 9989 4.10 steps 3-4 and 7, and 4.10.1 (the starting point is the parent of an
            // Author Domain of 8 or fewer labels, else its last 7): "If x < 8, remove the
            // left-most (highest-numbered) label from the subject domain. If x >= 8, remove the
            // left-most (highest-numbered) labels from the subject domain until 7 labels remain",
            // then one label at a time "until ... there are no more labels remaining".
            let labels: Vec<&str> = name.split('.').collect();
            let n = labels.len();
            let mut v = vec![name.clone()];
            let mut k = if n > TREE_WALK_MAX_LABELS {
                TREE_WALK_MAX_LABELS
            } else {
                n - 1
            };
            while k >= 1 {
                v.push(labels[n - k..].join("."));
                k -= 1;
            }
            v
        }
    }
}

/// The `_dmarc` names discovery may query for `domain`, in order, with the built-in PSL.
pub fn discovery_names(domain: &str, mode: DiscoveryMode) -> Vec<String> {
    discovery_names_with(domain, mode, None)
}

/// As [`discovery_names`], with an optional loaded list (`--psl FILE`).
pub fn discovery_names_with(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
) -> Vec<String> {
    discovery_domains(domain, mode, list)
        .into_iter()
        .map(|d| format!("_dmarc.{d}"))
        .collect()
}

/// The next `_dmarc` name to query given the answers so far (in plan order), or None when
/// discovery is complete. Drive it as `while let Some(q) = next_query(..) { answers.push(fetch(q)) }`
/// and then call [`discover`] with the same answers. For a domain that does not exist, pass
/// NXDOMAIN as the first answer without asking (RFC 8020) and use [`discover_for`].
pub fn next_query(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    answers: &[Lookup<String>],
) -> Option<String> {
    let plan = discovery_domains(domain, mode, list);
    if answers.len() >= plan.len() || walk(&plan, mode, true, answers).done {
        return None;
    }
    Some(format!("_dmarc.{}", plan[answers.len()]))
}

struct Walk {
    done: bool,
    findings: DmarcFindings,
}

/// A single record a Tree Walk found at `plan[at]`.
struct Found {
    at: usize,
    record: String,
    psd: Option<Psd>,
}

fn labels(name: &str) -> usize {
    name.split('.').count()
}

/// RFC 9989 4.10.2, over the records the walk found (longest name first): the last one, if it
/// says `psd=n`, is the Organizational Domain's; if it says `psd=y`, the Organizational Domain is
/// the name one label below it, whose record applies if the walk found one, else the PSD's own
/// (4.10.1: "The Public Suffix Domain of the Author Domain"); otherwise the record at the name
/// with the fewest labels. The walk stops at the first `psd=n` or `psd=y` (4.10 step 6), so only
/// the last record found can carry one.
fn select_organizational<'a>(plan: &[String], found: &'a [Found]) -> (&'a Found, DmarcSource) {
    let last = found.last().expect("called with records");
    if last.psd == Some(Psd::Yes) {
        let org_labels = labels(&plan[last.at]) + 1;
        if let [.., below, _] = found
            && labels(&plan[below.at]) == org_labels
        {
            return (below, DmarcSource::Organizational);
        }
        return (last, DmarcSource::PublicSuffix);
    }
    (last, DmarcSource::Organizational)
}

fn walk(plan: &[String], mode: DiscoveryMode, exists: bool, answers: &[Lookup<String>]) -> Walk {
    // RFC 7489 has no `np` (RFC 9091 gave it to PSDs only, RFC 9989 to every record).
    let np_applies = !exists && mode == DiscoveryMode::Rfc9989;
    let mut discarded: Vec<String> = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    let mut stopped = false;
    for (i, answer) in answers.iter().enumerate().take(plan.len()) {
        let one = match select(answer) {
            Selection::TempError(reason) => {
                return Walk {
                    done: true,
                    findings: DmarcFindings::temperror(&format!(
                        "_dmarc.{}: TXT {reason}",
                        plan[i]
                    )),
                };
            }
            // RFC 7489 6.6.3 step 3 and the Tree Walk go on past a name without a record.
            Selection::None | Selection::NxDomain => continue,
            Selection::One(r) => r,
            // RFC 9989 4.10 steps 2 and 6: "If multiple DMARC Policy Records are returned for a
            // single target, they are all discarded", and the walk goes on.
            Selection::Multiple(rs) if mode == DiscoveryMode::Rfc9989 => {
                discarded.push(problem(
                    Code::MultipleRecords,
                    format_args!(
                        "{} v=DMARC1 records at _dmarc.{} (RFC 9989 4.10: all discarded)",
                        rs.len(),
                        plan[i]
                    ),
                ));
                continue;
            }
            // RFC 7489 6.6.3 step 5: several records end discovery, with no fallback.
            Selection::Multiple(rs) => {
                let source = if i == 0 {
                    DmarcSource::Domain
                } else {
                    DmarcSource::Organizational
                };
                return Walk {
                    done: true,
                    findings: multiple(&rs).found_at(source, &plan[i], np_applies),
                };
            }
        };
        // RFC 9989 4.10.1: a record at the Author Domain is the one applied, whatever its `psd`.
        if i == 0 || mode == DiscoveryMode::Rfc7489 {
            let source = if i == 0 {
                DmarcSource::Domain
            } else {
                DmarcSource::Organizational
            };
            let mut f = DmarcFindings::from_record(&one, parse(&one), mode)
                .found_at(source, &plan[i], np_applies);
            f.errors.splice(0..0, discarded);
            return Walk {
                done: true,
                findings: f,
            };
        }
        let psd = parse(&one).psd;
        found.push(Found {
            at: i,
            record: one,
            psd,
        });
        // RFC 9989 4.10 step 6: "If a single record remains and it contains a "psd=n" or
        // "psd=y" tag, stop."
        if matches!(psd, Some(Psd::Yes | Psd::No)) {
            stopped = true;
            break;
        }
    }
    let complete = stopped || answers.len() >= plan.len();
    if !found.is_empty() {
        let (used, source) = select_organizational(plan, &found);
        let mut f = DmarcFindings::from_record(&used.record, parse(&used.record), mode).found_at(
            source,
            &plan[used.at],
            np_applies,
        );
        f.errors.splice(0..0, discarded);
        return Walk {
            done: complete,
            findings: f,
        };
    }
    let mut f = if discarded.is_empty() {
        DmarcFindings::empty(DmarcStatus::None)
    } else {
        DmarcFindings::empty(DmarcStatus::Invalid)
    };
    f.errors = discarded;
    Walk {
        done: complete,
        findings: f,
    }
}

/// The policy that applies to `domain` (which exists) given the answers to the plan's queries,
/// in order (a prefix of the plan is fine: what was not asked is taken as not found).
pub fn discover(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    answers: &[Lookup<String>],
) -> DmarcFindings {
    discover_for(domain, mode, list, true, answers)
}

/// As [`discover`], saying whether `domain` exists: for one that does not (NXDOMAIN), a record
/// found above it applies its `np` (RFC 9989 4.10.1 and 4.7 `np`: else `sp`, else `p`).
pub fn discover_for(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    exists: bool,
    answers: &[Lookup<String>],
) -> DmarcFindings {
    walk(
        &discovery_domains(domain, mode, list),
        mode,
        exists,
        answers,
    )
    .findings
}

#[cfg(test)]
mod tests {
    use super::super::psl::PSL_TEXT;
    use super::*;

    #[test]
    fn discovery_names_table() {
        use DiscoveryMode::*;
        let j = |v: Vec<String>| v.join(" ");
        for (d, mode, want) in [
            ("example.com", Rfc7489, "_dmarc.example.com"),
            (
                "mail.example.com",
                Rfc7489,
                "_dmarc.mail.example.com _dmarc.example.com",
            ),
            (
                "a.b.example.co.uk.",
                Rfc7489,
                "_dmarc.a.b.example.co.uk _dmarc.example.co.uk",
            ),
            ("com", Rfc7489, "_dmarc.com"),
            ("", Rfc7489, ""),
            ("com", Rfc9989, "_dmarc.com"),
            ("example.com", Rfc9989, "_dmarc.example.com _dmarc.com"),
            (
                "a.mail.example.com",
                Rfc9989,
                "_dmarc.a.mail.example.com _dmarc.mail.example.com _dmarc.example.com _dmarc.com",
            ),
            // 7 labels: one at a time, 7 queries.
            (
                "a.b.c.d.e.example.com",
                Rfc9989,
                "_dmarc.a.b.c.d.e.example.com _dmarc.b.c.d.e.example.com _dmarc.c.d.e.example.com \
              _dmarc.d.e.example.com _dmarc.e.example.com _dmarc.example.com _dmarc.com",
            ),
            // 8 labels (RFC 9989 4.10.1: "eight or fewer labels", the parent): 8 queries.
            (
                "z.a.b.c.d.e.example.com",
                Rfc9989,
                "_dmarc.z.a.b.c.d.e.example.com _dmarc.a.b.c.d.e.example.com _dmarc.b.c.d.e.example.com \
              _dmarc.c.d.e.example.com _dmarc.d.e.example.com _dmarc.e.example.com _dmarc.example.com _dmarc.com",
            ),
            // RFC 9989 4.10's example: 13 labels, the name, then straight to the last 7.
            (
                "a.b.c.d.e.f.g.h.i.j.mail.example.com",
                Rfc9989,
                "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com _dmarc.g.h.i.j.mail.example.com \
              _dmarc.h.i.j.mail.example.com _dmarc.i.j.mail.example.com _dmarc.j.mail.example.com \
              _dmarc.mail.example.com _dmarc.example.com _dmarc.com",
            ),
        ] {
            assert_eq!(
                j(discovery_names(d, mode)),
                want.split_whitespace().collect::<Vec<_>>().join(" "),
                "{d} {mode:?}"
            );
        }
        assert_eq!(discovery_names("a.b.c.d.e.f.g.h.i.j.k.l", Rfc9989).len(), 8);
        let l = SuffixList::parse(PSL_TEXT).unwrap();
        assert_eq!(
            discovery_names_with("a.b.c.kobe.jp", Rfc7489, Some(&l)),
            ["_dmarc.a.b.c.kobe.jp", "_dmarc.b.c.kobe.jp"]
        );
    }

    /// One answer per string: `-` no data, `x` NXDOMAIN, `!` a temperror, else records split at
    /// ` | `.
    fn answers(v: &[&str]) -> Vec<Lookup<String>> {
        v.iter()
            .map(|a| match *a {
                "-" => Lookup::NoData,
                "x" => Lookup::NxDomain,
                "!" => Lookup::TempError("timeout".into()),
                r => Lookup::Records(r.split(" | ").map(str::to_string).collect()),
            })
            .collect()
    }

    #[test]
    fn discover_table() {
        use DiscoveryMode::*;
        const TWO: &str = "v=DMARC1; p=none | v=DMARC1; p=reject";
        const AMC: &str = "a.mail.example.com";
        // (domain, mode, exists, answers, next query ("" = done),
        //  "status source policy_domain effective_p")
        type Case = (
            &'static str,
            DiscoveryMode,
            bool,
            &'static [&'static str],
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "mail.example.com",
                Rfc7489,
                true,
                &[],
                "_dmarc.mail.example.com",
                "none - - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["-"],
                "_dmarc.example.com",
                "none - - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["v=DMARC1; p=reject"],
                "",
                "valid domain mail.example.com reject",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["-", "v=DMARC1; p=none; sp=quarantine"],
                "",
                "valid organizational example.com quarantine",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["-", "-"],
                "",
                "none - - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                false,
                &["x", "v=DMARC1; p=none; np=reject"],
                "",
                "valid organizational example.com none",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &[TWO],
                "",
                "invalid domain - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["!"],
                "",
                "temperror - - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["-", "!"],
                "",
                "temperror - - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                true,
                &["v=DMARC1; sp=none"],
                "",
                "invalid domain - -",
            ),
            // RFC 7489 knows no np: an invalid one is an unknown tag's value.
            (
                "example.com",
                Rfc7489,
                true,
                &["v=DMARC1; p=reject; np=bogus"],
                "",
                "valid domain example.com reject",
            ),
            ("example.com", Rfc7489, true, &["-"], "", "none - - -"),
            // RFC 9989 4.10.1: an invalid np spoils the record; a valid rua makes it p=none.
            (
                "example.com",
                Rfc9989,
                true,
                &["v=DMARC1; p=reject; np=bogus; rua=mailto:d@example.com"],
                "",
                "invalid domain example.com none",
            ),
            (
                "example.com",
                Rfc9989,
                true,
                &["-"],
                "_dmarc.com",
                "none - - -",
            ),
            ("example.com", Rfc9989, true, &["-", "-"], "", "none - - -"),
            // RFC 9989 4.7: a record without p is treated as p=none (still invalid for RFC
            // 7489 readers, 6.3); an invalid p is not absent: no rua, no policy (4.10.1).
            (
                "example.com",
                Rfc9989,
                true,
                &["v=DMARC1; adkim=r"],
                "",
                "invalid domain example.com none",
            ),
            (
                "example.com",
                Rfc7489,
                true,
                &["v=DMARC1; adkim=r"],
                "",
                "invalid domain - -",
            ),
            (
                "example.com",
                Rfc9989,
                true,
                &["v=DMARC1; p=bogus"],
                "",
                "invalid domain - -",
            ),
            (
                AMC,
                Rfc9989,
                true,
                &["-"],
                "_dmarc.mail.example.com",
                "none - - -",
            ),
            // The walk goes on past a record without psd: the shortest name's record applies
            // (4.10.2 step 3).
            (
                AMC,
                Rfc9989,
                true,
                &["-", "v=DMARC1; p=quarantine"],
                "_dmarc.example.com",
                "valid organizational mail.example.com quarantine",
            ),
            (
                AMC,
                Rfc9989,
                true,
                &[
                    "-",
                    "v=DMARC1; p=quarantine",
                    "v=DMARC1; p=reject; sp=none",
                    "-",
                ],
                "",
                "valid organizational example.com none",
            ),
            // psd=n stops the walk there (4.10 step 6, 4.10.2 step 1).
            (
                AMC,
                Rfc9989,
                true,
                &["-", "v=DMARC1; p=quarantine; psd=n"],
                "",
                "valid organizational mail.example.com quarantine",
            ),
            // psd=y: the Organizational Domain is one label below; its record applies...
            (
                AMC,
                Rfc9989,
                true,
                &["-", "-", "v=DMARC1; p=reject", "v=DMARC1; p=none; psd=y"],
                "",
                "valid organizational example.com reject",
            ),
            // ...and without one there, the PSD's (4.10.1).
            (
                AMC,
                Rfc9989,
                true,
                &[
                    "-",
                    "v=DMARC1; p=reject",
                    "-",
                    "v=DMARC1; p=quarantine; sp=none; psd=y",
                ],
                "",
                "valid public-suffix com none",
            ),
            // A record at the domain itself applies whatever its psd.
            (
                AMC,
                Rfc9989,
                true,
                &["v=DMARC1; p=none; psd=y"],
                "",
                "valid domain a.mail.example.com none",
            ),
            // Multiple records are discarded and the walk goes on (4.10 steps 2 and 6).
            (
                AMC,
                Rfc9989,
                true,
                &[TWO, "-", "v=DMARC1; p=reject", "-"],
                "",
                "valid organizational example.com reject",
            ),
            (
                AMC,
                Rfc9989,
                true,
                &[TWO, "-", "-", "-"],
                "",
                "invalid - - -",
            ),
            (AMC, Rfc9989, true, &["-", "-", "-", "-"], "", "none - - -"),
            (
                AMC,
                Rfc9989,
                true,
                &["-", "v=DMARC1; p=none", "!"],
                "",
                "temperror - - -",
            ),
            // A domain that does not exist: np, else sp, else p (4.10.1, 4.7 np).
            (
                AMC,
                Rfc9989,
                false,
                &["x", "-", "v=DMARC1; p=none; sp=quarantine; np=reject", "-"],
                "",
                "valid organizational example.com reject",
            ),
            (
                AMC,
                Rfc9989,
                false,
                &["x", "-", "v=DMARC1; p=none; sp=quarantine", "-"],
                "",
                "valid organizational example.com quarantine",
            ),
            (
                AMC,
                Rfc9989,
                true,
                &["-", "-", "v=DMARC1; p=none; sp=quarantine; np=reject", "-"],
                "",
                "valid organizational example.com quarantine",
            ),
        ];
        for (d, mode, exists, a, next, want) in cases {
            let a = answers(a);
            let q = next_query(d, *mode, None, &a).unwrap_or_default();
            assert_eq!(q, *next, "{d} {mode:?} {a:?}");
            let f = discover_for(d, *mode, None, *exists, &a);
            let got = format!(
                "{} {} {} {}",
                f.status.as_str(),
                f.source.map_or("-".into(), |s| s.to_string()),
                f.policy_domain.as_deref().unwrap_or("-"),
                f.effective_p.as_deref().unwrap_or("-")
            );
            assert_eq!(got, *want, "{d} {mode:?} {a:?}");
        }
        let f = discover(
            AMC,
            Rfc9989,
            None,
            &answers(&[TWO, "v=DMARC1; p=none; psd=n"]),
        );
        assert!(f.errors[0].starts_with("multiple-records: 2 v=DMARC1 records at _dmarc.a.mail"));
        let f = discover("mail.example.com", Rfc7489, None, &answers(&["-", "!"]));
        assert_eq!(f.errors, ["dns-temperror: _dmarc.example.com: TXT timeout"]);
        // The tags of the record used, and only of it.
        let f = discover(
            AMC,
            Rfc9989,
            None,
            &answers(&[
                "-",
                "v=DMARC1; p=none; t=y",
                "v=DMARC1; p=reject; t=n; psd=n",
            ]),
        );
        assert_eq!(
            (f.t, f.psd.as_deref(), f.p.as_deref()),
            (Some(false), Some("n"), Some("reject"))
        );
    }
}
