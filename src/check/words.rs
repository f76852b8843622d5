//! Codes to sentences: the fix for each problem code of the `*_errors` columns
//! ([`crate::checks::problem::Code`]) and the words for each bulk-sender readiness code
//! ([`crate::report::readiness`]), so a checklist line is tied to the check that found it.

use crate::checks::problem::{Code, Problem};
use crate::report::readiness as r;

/// The fix of a problem, in one sentence; None for codes that say a lookup failed (nothing to
/// fix on the domain's side that the code alone can tell).
pub fn fix(code: Code) -> Option<&'static str> {
    use Code::*;
    Some(match code {
        MultipleRecords => "keep one record and delete the others: receivers ignore them all",
        Syntax => "correct the record where the error points",
        UnknownTag | ObsoleteTag => "remove the tag the specification does not define",
        RemovedTag => "drop pct, rf and ri: RFC 9989 removed them and receivers ignore them",
        DuplicateTag | DuplicateField | DuplicateId | DuplicateRua => {
            "give each tag once: a duplicate makes the record invalid"
        }
        MissingVersion | InvalidVersion => {
            "start the record with its version tag (v=spf1, v=DMARC1, v=DKIM1, v=STSv1, v=TLSRPTv1, v=BIMI1)"
        }
        MissingP | InvalidP => "set p= to none, quarantine or reject",
        InvalidSp | InvalidNp => "set the subdomain policy to none, quarantine or reject",
        InvalidPct => "set pct= to a number from 0 to 100, or drop it",
        InvalidAdkim | InvalidAspf => "set the alignment mode to r (relaxed) or s (strict)",
        InvalidFo | InvalidRf | InvalidRi | InvalidT | InvalidPsd => {
            "use a value the specification allows for the tag, or drop it"
        }
        InvalidUri | InvalidUriSize | InvalidUriScheme | InvalidMailto | InvalidHttps
        | UnsupportedUriScheme => "write each report address as mailto:address@domain",
        MissingRua => "add rua=mailto:... to receive the reports",
        MissingId | InvalidId => "set id= to a new value of letters and digits at each change",
        MissingMode | InvalidMode => "set mode: to enforce, testing or none in the policy file",
        MissingMaxAge | InvalidMaxAge => "set max_age: to a number of seconds (86400 or more)",
        MissingMx | InvalidMx => "list each MX host (or a *.domain pattern) on an mx: line",
        InvalidBase64 | InvalidKey => {
            "publish the public key again as the base64 of its DER encoding, in one p= tag"
        }
        MissingL | InvalidL => "point l= at the HTTPS address of an SVG Tiny PS logo",
        InvalidA => "point a= at the HTTPS address of a mark certificate (PEM), or drop it",
        InvalidDomain => "correct the domain name the record names",
        RuaAuthorizationTempError => return None,
        LookupLimit => {
            "cut the DNS-querying terms (include, a, mx, ptr, exists, redirect) to 10: drop the includes of senders you no longer use, or replace one by the ip4:/ip6: ranges it lists"
        }
        VoidLimit => "remove the terms that name domains which do not exist",
        MxLimit => "an mx term may lead to 10 MX hosts at most: use ip4:/ip6: ranges instead",
        DepthLimit | WalkLimit => "flatten the chain of includes into fewer levels",
        IncludeLoop => "remove the include that leads back to a record already included",
        IncludeNone | IncludeInvalid => {
            "remove or correct the include: its domain publishes no valid SPF record"
        }
        RedirectNone | RedirectInvalid => {
            "point redirect= at a domain that publishes a valid SPF record"
        }
        NoRecord => "publish the record",
        UnknownFlag => "remove the flag the specification does not define",
        UnknownKeyType => "publish the key with k=rsa or k=ed25519",
        Sha1Only => "allow sha256 (drop h=sha1) and sign with rsa-sha256",
        NotForEmail => "set s=email or drop s=",
        Testing => "remove t=y once your signatures verify",
        Revoked => "delete the revoked key record once no signature uses it",
        Pkcs1Key => "publish the key as a SubjectPublicKeyInfo (the BEGIN PUBLIC KEY form)",
        WeakKey | ShortKey => {
            "publish a new RSA key of 2048 bits under a new selector, sign with it, then delete the old record"
        }
        LargeKey => "use an RSA key of 2048 bits: larger keys do not fit every verifier",
        DomainkeysPolicy => {
            "delete the DomainKeys policy record at _domainkey: RFC 4870 is historic and DMARC replaces it"
        }
        LNotSvg => "serve the logo as SVG Tiny PS",
        NoEvidence => "add a mark certificate (a=) if you want logos shown by Gmail and Apple Mail",
        NullMxMixed => "a null MX stands alone: remove it, or remove the other MX records",
        NullMxPreference => "publish the null MX as 0 . (preference 0)",
        MxIpLiteral => "name a host in the MX record, never an address",
        MxCname => "point the MX at the host's own name, not an alias (RFC 2181 10.3)",
        MxNoAddress => "give the exchange an A or AAAA record, or remove the MX record",
        MxTooMany => "keep the MX set small: senders try only some of them",
        PtrTooMany => "keep one PTR name per address",
        ForwardLookup => "give the PTR name an A or AAAA record back to the address",
        ConnectError | TlsError | HttpError | Timeout => {
            "serve the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, with a certificate valid for that name"
        }
        DnsTempError | MxAddressLookup | AsnLookup | TlsaLookup | Dns(_) => return None,
    })
}

/// The first problem with a fix among `errors`, as `(text of the problem, fix)`.
pub fn first_fix(errors: &[String]) -> Option<(&str, &'static str)> {
    errors
        .iter()
        .find_map(|e| Problem::split(e).and_then(|(c, _)| Some((e.as_str(), fix(c)?))))
}

/// A readiness code (`ready_failed`) as a finding and its fix.
pub fn readiness_failed(code: &str) -> (&'static str, &'static str) {
    match code {
        r::SPF_NONE => ("no SPF record", "publish SPF (see SPF above)"),
        r::SPF_INVALID => ("SPF is invalid", "correct SPF (see SPF above)"),
        r::SPF_OVER_LIMIT => (
            "SPF needs more than 10 DNS lookups",
            "cut SPF to 10 lookups (see SPF above)",
        ),
        r::DKIM_NONE => (
            "no DKIM key found",
            "sign with DKIM and publish the key (see DKIM above)",
        ),
        r::DKIM_INVALID => ("no usable DKIM key", "fix the key records (see DKIM above)"),
        r::DKIM_WEAK => (
            "the DKIM keys are RSA under 1024 bits",
            "publish an RSA key of 2048 bits (see DKIM above)",
        ),
        r::DKIM_NO_RSA => (
            "only Ed25519 DKIM keys, which not every verifier knows",
            "sign with an RSA key as well",
        ),
        r::DMARC_NONE => (
            "no DMARC policy applies",
            "publish DMARC, at least p=none (see DMARC above)",
        ),
        r::DMARC_INVALID => ("DMARC is invalid", "correct DMARC (see DMARC above)"),
        r::MX_FCRDNS => (
            "an MX address lacks forward-confirmed reverse DNS",
            "give each address a PTR name that resolves back to it (see Reverse DNS above)",
        ),
        r::MX_NO_STARTTLS => (
            "an MX address made no TLS handshake",
            "offer STARTTLS with a working certificate (see STARTTLS above)",
        ),
        _ => ("an unlisted requirement failed", "see the items above"),
    }
}

/// A readiness code (`ready_unknown`) as the requirement's name.
pub fn readiness_unknown(code: &str) -> &'static str {
    match code {
        r::REQ_SPF => "SPF",
        r::REQ_DKIM => "DKIM",
        r::REQ_DMARC => "DMARC",
        r::REQ_MX_FCRDNS => "reverse DNS of the MX addresses",
        r::REQ_MX_STARTTLS => "TLS at the MX addresses",
        _ => "an unlisted requirement",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code that is not a lookup failure has a fix, in one sentence without a full stop
    /// (the renderer ends it).
    #[test]
    fn every_problem_that_can_be_fixed_has_a_sentence() {
        for &c in Code::ALL {
            let lookup = matches!(
                c,
                Code::DnsTempError
                    | Code::MxAddressLookup
                    | Code::AsnLookup
                    | Code::TlsaLookup
                    | Code::RuaAuthorizationTempError
                    | Code::Dns(_)
            );
            match fix(c) {
                Some(s) => {
                    assert!(!lookup, "{c}: a lookup failure has no fix");
                    assert!(!s.ends_with('.') && !s.is_empty(), "{c}: {s:?}");
                }
                None => assert!(lookup, "{c} has no fix"),
            }
        }
    }

    #[test]
    fn the_first_problem_with_a_fix_is_taken() {
        let errors = vec![
            "dns-temperror: include x.example timeout".to_string(),
            "zen.example: refused".to_string(),
            "lookup-limit: 12 DNS-querying terms".to_string(),
        ];
        let (text, fix) = first_fix(&errors).unwrap();
        assert_eq!(text, "lookup-limit: 12 DNS-querying terms");
        assert!(fix.starts_with("cut the DNS-querying terms"));
        assert_eq!(first_fix(&errors[..2]), None);
    }

    #[test]
    fn every_readiness_code_has_words() {
        for code in [
            r::SPF_NONE,
            r::SPF_INVALID,
            r::SPF_OVER_LIMIT,
            r::DKIM_NONE,
            r::DKIM_INVALID,
            r::DKIM_WEAK,
            r::DKIM_NO_RSA,
            r::DMARC_NONE,
            r::DMARC_INVALID,
            r::MX_FCRDNS,
            r::MX_NO_STARTTLS,
        ] {
            assert_ne!(
                readiness_failed(code).0,
                "an unlisted requirement failed",
                "{code}"
            );
        }
        for code in [
            r::REQ_SPF,
            r::REQ_DKIM,
            r::REQ_DMARC,
            r::REQ_MX_FCRDNS,
            r::REQ_MX_STARTTLS,
        ] {
            assert_ne!(readiness_unknown(code), "an unlisted requirement", "{code}");
        }
    }
}
