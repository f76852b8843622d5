//! The Organizational Domain (RFC 7489 3.2) from the Public Suffix List: the `psl` crate's
//! built-in list, or one loaded with `--psl FILE`.

use std::collections::HashSet;

/// A Public Suffix List read from a `public_suffix_list.dat` text (the `--psl FILE` option), used
/// instead of the list built into the `psl` crate.
///
/// Rules follow <https://publicsuffix.org/list/> "Format": one rule per line, the rule being the
/// line's first whitespace-delimited token; `//` starts a comment line; `*.` marks a wildcard
/// and `!` an exception. Unicode rules are stored punycoded (RFC 3492) so that A-label names match.
#[derive(Debug, Clone, Default)]
pub struct SuffixList {
    rules: HashSet<String>,
    /// `*.x` stored as `x`.
    wildcards: HashSet<String>,
    /// `!x` stored as `x`.
    exceptions: HashSet<String>,
}

impl SuffixList {
    pub fn parse(text: &str) -> Result<SuffixList, String> {
        let mut list = SuffixList::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let rule = line.split_whitespace().next().unwrap_or("");
            let (set, body) = if let Some(r) = rule.strip_prefix('!') {
                (&mut list.exceptions, r)
            } else if let Some(r) = rule.strip_prefix("*.") {
                (&mut list.wildcards, r)
            } else {
                (&mut list.rules, rule)
            };
            let Some(ascii) = to_ascii_name(body) else {
                return Err(format!("psl-syntax: line {}: {rule:?}", n + 1));
            };
            set.insert(ascii);
        }
        if list.is_empty() {
            return Err("psl-empty: no rules in the list".into());
        }
        Ok(list)
    }

    pub fn len(&self) -> usize {
        self.rules.len() + self.wildcards.len() + self.exceptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of the rightmost labels form the public suffix, by the algorithm at
    /// <https://publicsuffix.org/list/>: an exception rule prevails and loses its leftmost label;
    /// otherwise the matching rule with the most labels; otherwise the implicit rule `*`.
    fn suffix_labels(&self, labels: &[&str]) -> usize {
        let n = labels.len();
        let tail = |k: usize| labels[n - k..].join(".");
        for k in (1..=n).rev() {
            if self.exceptions.contains(&tail(k)) {
                return k - 1;
            }
        }
        for k in (1..=n).rev() {
            if self.rules.contains(&tail(k)) || (k >= 2 && self.wildcards.contains(&tail(k - 1))) {
                return k;
            }
        }
        1
    }

    /// The registrable domain: the public suffix plus one label, if the name has one more.
    pub fn registrable_domain(&self, domain: &str) -> Option<String> {
        let name = to_ascii_name(domain)?;
        let labels: Vec<&str> = name.split('.').collect();
        let k = self.suffix_labels(&labels);
        (labels.len() > k).then(|| labels[labels.len() - k - 1..].join("."))
    }
}

/// Lowercases, drops a trailing dot and punycodes non-ASCII labels; None for an empty name or an
/// empty label.
pub(crate) fn to_ascii_name(domain: &str) -> Option<String> {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    if d.is_empty() {
        return None;
    }
    if d.is_ascii() {
        // The common case, without a string per label (DMARC discovery asks this several times
        // per domain: a profile put these copies at 7% of a scan's allocations).
        let b = d.as_bytes();
        // An empty label is a dot first, last, or after another (bytes: cheaper than a split).
        let empty_label =
            b[0] == b'.' || b[b.len() - 1] == b'.' || b.windows(2).any(|w| w == b"..");
        return (!empty_label).then(|| d.to_ascii_lowercase());
    }
    let labels: Option<Vec<String>> = d.split('.').map(to_ascii_label).collect();
    Some(labels?.join("."))
}

fn to_ascii_label(label: &str) -> Option<String> {
    if label.is_empty() {
        return None;
    }
    if label.is_ascii() {
        return Some(label.to_ascii_lowercase());
    }
    // RFC 3492 alone, not UTS 46's mapping: the input is already lowercased and PSL rules are
    // written in their final form.
    idna::punycode::encode_str(&label.to_lowercase()).map(|p| format!("xn--{p}"))
}

/// RFC 7489 3.2: the Organizational Domain is the public suffix of the domain plus one label (the
/// registrable domain), using the `psl` crate's built-in list. None for a public suffix itself,
/// an empty name or an empty label.
pub fn organizational_domain(domain: &str) -> Option<String> {
    organizational_domain_with(domain, None)
}

/// As [`organizational_domain`], with a loaded list (`--psl FILE`) taking the built-in's place.
pub fn organizational_domain_with(domain: &str, list: Option<&SuffixList>) -> Option<String> {
    match list {
        Some(l) => l.registrable_domain(domain),
        None => {
            let name = to_ascii_name(domain)?;
            ::psl::domain_str(&name).map(str::to_string)
        }
    }
}

#[cfg(test)]
pub(super) const PSL_TEXT: &str = "// comment\n\
    com\n\
    uk\n\
    co.uk\n\
    // wildcard and exception\n\
    *.ck\n\
    !www.ck\n\
    jp\n\
    *.kobe.jp\n\
    !city.kobe.jp\n\
    中国\n\
    blogspot.com  trailing text is ignored\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domain_table() {
        for (d, want) in [
            ("example.com", Some("example.com")),
            ("a.b.example.com", Some("example.com")),
            ("Mail.Example.COM.", Some("example.com")),
            ("a.example.co.uk", Some("example.co.uk")),
            ("com", None),
            ("co.uk", None),
            ("", None),
            ("a..com", None),
            ("www.xn--85x722f.xn--fiqs8s", Some("xn--85x722f.xn--fiqs8s")),
            ("www.食狮.中国", Some("xn--85x722f.xn--fiqs8s")),
        ] {
            assert_eq!(organizational_domain(d).as_deref(), want, "{d:?}");
        }
    }

    #[test]
    fn suffix_list_table() {
        let l = SuffixList::parse(PSL_TEXT).unwrap();
        assert_eq!(l.len(), 10);
        for (d, want) in [
            ("example.com", Some("example.com")),
            ("a.b.example.com", Some("example.com")),
            ("com", None),
            ("x.blogspot.com", Some("x.blogspot.com")),
            ("a.example.co.uk", Some("example.co.uk")),
            ("co.uk", None),
            ("example.ck", None),
            ("a.example.ck", Some("a.example.ck")),
            ("www.ck", Some("www.ck")),
            ("a.www.ck", Some("www.ck")),
            ("a.b.c.kobe.jp", Some("b.c.kobe.jp")),
            ("city.kobe.jp", Some("city.kobe.jp")),
            ("a.city.kobe.jp", Some("city.kobe.jp")),
            ("example.unknowntld", Some("example.unknowntld")),
            ("unknowntld", None),
            ("a.食狮.中国", Some("xn--85x722f.xn--fiqs8s")),
            ("A.EXAMPLE.COM.", Some("example.com")),
        ] {
            assert_eq!(l.registrable_domain(d).as_deref(), want, "{d:?}");
            assert_eq!(
                organizational_domain_with(d, Some(&l)).as_deref(),
                want,
                "{d:?}"
            );
        }
        assert!(
            SuffixList::parse("// only comments\n\n")
                .unwrap_err()
                .starts_with("psl-empty:")
        );
        assert!(
            SuffixList::parse("a..b\n")
                .unwrap_err()
                .starts_with("psl-syntax:")
        );
    }

    #[test]
    fn a_labels_table() {
        // RFC 3492 7.1 and well-known A-labels.
        for (u, a) in [
            ("bücher", "xn--bcher-kva"),
            ("BÜCHER", "xn--bcher-kva"),
            ("食狮.中国", "xn--85x722f.xn--fiqs8s"),
            ("ü.example.", "xn--tda.example"),
            ("他们为什么不说中文", "xn--ihqwcrb4cv8a8dqg056pqjye"),
            ("Mail.Example.COM", "mail.example.com"),
        ] {
            assert_eq!(to_ascii_name(u).as_deref(), Some(a), "{u}");
        }
        for bad in ["", ".", "a..b", ".a", "a..", "..", "a.b.."] {
            assert_eq!(to_ascii_name(bad), None, "{bad:?}");
        }
    }
}
