//! Where a domain's DMARC policy is found: RFC 7489 6.6.3 (the domain, then its Organizational
//! Domain) or the DMARCbis DNS Tree Walk, planned one `_dmarc` name at a time.

use crate::checks::problem::{Code, problem};
use std::fmt;

use super::psl::{SuffixList, organizational_domain_with, to_ascii_name};
use super::{DmarcFindings, DmarcStatus, Lookup, Selection, TxtPolicy, multiple, select};

/// How to find the policy for a domain that has no record of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// RFC 7489 6.6.3: the domain, then its Organizational Domain (from the PSL).
    Rfc7489,
    /// DMARCbis DNS Tree Walk: the domain, then successively shorter parents.
    TreeWalk,
}

/// Where a policy record was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmarcSource {
    Domain,
    Organizational,
    /// Found at `_dmarc.<name>` by the DMARCbis DNS Tree Walk.
    TreeWalk(String),
}

impl fmt::Display for DmarcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmarcSource::Domain => f.write_str("domain"),
            DmarcSource::Organizational => f.write_str("organizational"),
            DmarcSource::TreeWalk(name) => write!(f, "tree-walk:{name}"),
        }
    }
}

/// The DMARCbis DNS Tree Walk bound: at most 8 queries, so a name with 8 or more labels jumps to
/// its last 7 after the first query.
const TREE_WALK_MAX_LABELS: usize = 7;

/// The domains (without `_dmarc.`) the plan queries, in order.
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
        DiscoveryMode::TreeWalk => {
            // DMARCbis 4.10 (DNS Tree Walk), steps 4-5 and 8: number the labels from the right;
            // with x labels, "If x < 8, remove the left-most (highest-numbered) label from the
            // subject domain. If x >= 8, remove the left-most (highest-numbered) labels from the
            // subject domain until 7 labels remain", then one label at a time "until there are no
            // more labels remaining". So at most 1 + 7 = 8 queries.
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

/// The `_dmarc` names to query for `domain`, in order, with the built-in PSL.
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
/// and then call [`discover`] with the same answers.
pub fn next_query(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    answers: &[Lookup<String>],
) -> Option<String> {
    let plan = discovery_domains(domain, mode, list);
    if answers.len() >= plan.len() || walk(&plan, mode, answers).done {
        return None;
    }
    Some(format!("_dmarc.{}", plan[answers.len()]))
}

struct Walk {
    done: bool,
    findings: DmarcFindings,
}

fn walk(plan: &[String], mode: DiscoveryMode, answers: &[Lookup<String>]) -> Walk {
    let mut discarded: Vec<String> = Vec::new();
    for (i, answer) in answers.iter().enumerate().take(plan.len()) {
        let source = match (i, mode) {
            (0, _) => DmarcSource::Domain,
            (_, DiscoveryMode::Rfc7489) => DmarcSource::Organizational,
            (_, DiscoveryMode::TreeWalk) => DmarcSource::TreeWalk(plan[i].clone()),
        };
        let f = match select(answer) {
            Selection::TempError(reason) => {
                return Walk {
                    done: true,
                    findings: DmarcFindings::temperror(&format!(
                        "_dmarc.{}: TXT {reason}",
                        plan[i]
                    )),
                };
            }
            // RFC 7489 6.6.3 step 3 and the Tree Walk go on past a name that does not exist.
            Selection::None | Selection::NxDomain => continue,
            Selection::One(r) => DmarcFindings::one(r),
            // DMARCbis 4.10 steps 2 and 7: "If multiple DMARC records are returned, they are all
            // discarded", and the walk goes on.
            Selection::Multiple(rs) if mode == DiscoveryMode::TreeWalk => {
                discarded.push(problem(
                    Code::MultipleRecords,
                    format_args!(
                        "{} v=DMARC1 records at _dmarc.{} (DMARCbis 4.10: all discarded)",
                        rs.len(),
                        plan[i]
                    ),
                ));
                continue;
            }
            // RFC 7489 6.6.3 step 5: several records end discovery, with no fallback.
            Selection::Multiple(rs) => multiple(&rs),
        };
        let mut f = f.found_at(source);
        f.errors.splice(0..0, discarded);
        return Walk {
            done: true,
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
        done: false,
        findings: f,
    }
}

/// The policy that applies to `domain` given the answers to the plan's queries, in order (a
/// prefix of the plan is fine: what was not asked is taken as not found).
///
/// RFC 7489 6.6.3: the record at the domain, else the one at the Organizational Domain.
/// DMARCbis (policy discovery): the record at the domain, else the first found by the DNS Tree
/// Walk. The Tree Walk's Organizational Domain (the `psd` rules) is not derived here: a scan of
/// policies needs the applicable record, and stopping at it saves queries.
pub fn discover(
    domain: &str,
    mode: DiscoveryMode,
    list: Option<&SuffixList>,
    answers: &[Lookup<String>],
) -> DmarcFindings {
    walk(&discovery_domains(domain, mode, list), mode, answers).findings
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
            ("com", TreeWalk, "_dmarc.com"),
            (
                "a.mail.example.com",
                TreeWalk,
                "_dmarc.a.mail.example.com _dmarc.mail.example.com _dmarc.example.com _dmarc.com",
            ),
            // 7 labels: one at a time, 7 queries.
            (
                "a.b.c.d.e.example.com",
                TreeWalk,
                "_dmarc.a.b.c.d.e.example.com _dmarc.b.c.d.e.example.com _dmarc.c.d.e.example.com \
              _dmarc.d.e.example.com _dmarc.e.example.com _dmarc.example.com _dmarc.com",
            ),
            // 10 labels: the name, then straight to the last 7: 8 queries.
            (
                "x.y.z.a.b.c.d.e.example.com",
                TreeWalk,
                "_dmarc.x.y.z.a.b.c.d.e.example.com _dmarc.a.b.c.d.e.example.com _dmarc.b.c.d.e.example.com _dmarc.c.d.e.example.com \
              _dmarc.d.e.example.com _dmarc.e.example.com _dmarc.example.com _dmarc.com",
            ),
        ] {
            assert_eq!(
                j(discovery_names(d, mode)),
                want.split_whitespace().collect::<Vec<_>>().join(" "),
                "{d} {mode:?}"
            );
        }
        assert_eq!(
            discovery_names("a.b.c.d.e.f.g.h.i.j.k.l", TreeWalk).len(),
            8
        );
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
        // (domain, mode, answers, next query ("" = done), "status source p")
        let cases: &[(&str, DiscoveryMode, &[&str], &str, &str)] = &[
            (
                "mail.example.com",
                Rfc7489,
                &[],
                "_dmarc.mail.example.com",
                "none - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["-"],
                "_dmarc.example.com",
                "none - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["v=DMARC1; p=reject"],
                "",
                "valid domain reject",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["-", "v=DMARC1; p=none"],
                "",
                "valid organizational none",
            ),
            ("mail.example.com", Rfc7489, &["-", "-"], "", "none - -"),
            (
                "mail.example.com",
                Rfc7489,
                &["x", "v=DMARC1; p=none"],
                "",
                "valid organizational none",
            ),
            ("mail.example.com", Rfc7489, &[TWO], "", "invalid domain -"),
            ("mail.example.com", Rfc7489, &["!"], "", "temperror - -"),
            (
                "mail.example.com",
                Rfc7489,
                &["-", "!"],
                "",
                "temperror - -",
            ),
            (
                "mail.example.com",
                Rfc7489,
                &["v=DMARC1; sp=none"],
                "",
                "invalid domain -",
            ),
            ("example.com", Rfc7489, &["-"], "", "none - -"),
            (
                "a.mail.example.com",
                TreeWalk,
                &["-"],
                "_dmarc.mail.example.com",
                "none - -",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &["-", "v=DMARC1; p=quarantine"],
                "",
                "valid tree-walk:mail.example.com quarantine",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &[TWO, "-", "v=DMARC1; p=reject"],
                "",
                "valid tree-walk:example.com reject",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &[TWO, "-", "-", "-"],
                "",
                "invalid - -",
            ),
            (
                "a.mail.example.com",
                TreeWalk,
                &["-", "-", "-", "-"],
                "",
                "none - -",
            ),
        ];
        for (d, mode, a, next, want) in cases {
            let a = answers(a);
            let q = next_query(d, *mode, None, &a).unwrap_or_default();
            assert_eq!(q, *next, "{d} {a:?}");
            let f = discover(d, *mode, None, &a);
            let got = format!(
                "{} {} {}",
                f.status.as_str(),
                f.source.map_or("-".into(), |s| s.to_string()),
                f.p.as_deref().unwrap_or("-")
            );
            assert_eq!(got, *want, "{d} {a:?}");
        }
        let f = discover(
            "a.mail.example.com",
            TreeWalk,
            None,
            &answers(&[TWO, "v=DMARC1; p=none"]),
        );
        assert!(f.errors[0].starts_with("multiple-records: 2 v=DMARC1 records at _dmarc.a.mail"));
        let f = discover("mail.example.com", Rfc7489, None, &answers(&["-", "!"]));
        assert_eq!(f.errors, ["dns-temperror: _dmarc.example.com: TXT timeout"]);
    }
}
