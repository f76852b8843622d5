//! SOA RNAME: the zone's responsible mailbox (RFC 1035 3.3.13, 8; RFC 2142 for the usual
//! `hostmaster`).

/// Turns an SOA RNAME into an email address. RFC 1035 3.3.13: RNAME is "A <domain-name> which
/// specifies the mailbox of the person responsible for this zone"; 8 (Mail support): the
/// mailbox's local part is the first label, so its first unescaped dot stands for `@`, and a dot
/// inside the local part is written `\.` (5.1 master-file escapes; `\DDD` decimal escapes are
/// honoured too).
///
/// `hostmaster.example.com` -> `hostmaster@example.com`; `john\.doe.example.com` ->
/// `john.doe@example.com`. Lowercased. None for the root, an empty name, a single label, or an
/// empty local part or domain.
pub fn soa_rname_to_email(rname: &str) -> Option<String> {
    let mut local = String::new();
    let mut chars = rname.chars().peekable();
    let mut found_dot = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let mut digits = String::new();
                while digits.len() < 3 && chars.peek().is_some_and(char::is_ascii_digit) {
                    digits.extend(chars.next());
                }
                if digits.is_empty() {
                    local.push(chars.next()?);
                } else if digits.len() == 3 {
                    local.push(char::from(digits.parse::<u8>().ok()?));
                } else {
                    return None;
                }
            }
            '.' => {
                found_dot = true;
                break;
            }
            c => local.push(c),
        }
    }
    let domain: String = chars.collect();
    let domain = domain.strip_suffix('.').unwrap_or(&domain);
    if !found_dot || local.is_empty() || domain.is_empty() || domain.starts_with('.') {
        return None;
    }
    Some(format!("{local}@{domain}").to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rname_table() {
        for (rname, want) in [
            ("hostmaster.example.com", Some("hostmaster@example.com")),
            ("hostmaster.example.com.", Some("hostmaster@example.com")),
            ("HostMaster.Example.COM.", Some("hostmaster@example.com")),
            (r"john\.doe.example.com", Some("john.doe@example.com")),
            (r"john\.doe.example.com.", Some("john.doe@example.com")),
            (r"a\046b.example.com", Some("a.b@example.com")),
            (r"dns\\admin.example.com", Some(r"dns\admin@example.com")),
            (
                "dns-admin.sub.example.co.uk",
                Some("dns-admin@sub.example.co.uk"),
            ),
            (".", None),
            ("", None),
            ("hostmaster", None),
            ("hostmaster.", None),
            (".example.com", None),
            ("a..example.com", None),
            (r"a\4b.example.com", None),
            (r"a\", None),
        ] {
            assert_eq!(soa_rname_to_email(rname).as_deref(), want, "{rname:?}");
        }
    }
}
