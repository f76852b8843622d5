//! DKIM key records at `<selector>._domainkey.<domain>` (RFC 6376 3.6.1; RFC 8463 for Ed25519;
//! RFC 8301 for the algorithm and key size rules), the list of selectors worth probing, and
//! obsolete DomainKeys policy records (RFC 4870).
//!
//! Pure: the scanner fetches the TXT records (each record's strings joined) and passes them in.

use crate::checks::problem::{Code, Problem, problem};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

use super::Lookup;
use super::taglist::{self, Part, Tag};
use crate::columns::ColType::*;
use crate::columns::Value::*;
use crate::columns::{Column, StructField, StructItem, Value};

/// The selectors probed by default: `datasets/dkim-selectors.txt`, compiled in.
pub const BUILTIN_SELECTORS: &str = include_str!("../../datasets/dkim-selectors.txt");

/// The built-in selectors, validated.
pub fn builtin_selectors() -> Vec<String> {
    load_selectors(BUILTIN_SELECTORS).expect("datasets/dkim-selectors.txt is valid")
}

/// The short list probed at every domain with a `_domainkey` subtree when no list is given, after
/// the selectors of its providers: the defaults of common mail software (OpenDKIM, cPanel, Plesk:
/// `default`, `dkim`, `mail`) and the selectors of the largest hosts, which many domains publish
/// without an SPF include or MX that names the host.
pub const COMMON_SELECTORS: &[&str] = &[
    "google",
    "selector1",
    "selector2",
    "k1",
    "s1",
    "default",
    "dkim",
    "mail",
];

/// `datasets/dkim-providers.csv`, compiled in.
pub const BUILTIN_PROVIDER_SELECTORS: &str = include_str!("../../datasets/dkim-providers.csv");

/// The selectors one mail provider publishes for its customers, and the MX hosts that reveal it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSelectors {
    /// As in the provider column of `datasets/spf_providers.csv`.
    pub provider: String,
    pub mx_suffixes: Vec<String>,
    pub selectors: Vec<String>,
}

/// Reads `provider,mx_suffixes,selectors,source` CSV (`#` comment lines, a header; suffixes and
/// selectors space-separated).
pub fn load_provider_selectors(text: &str) -> Result<Vec<ProviderSelectors>, String> {
    let mut out = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    for (n, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("row {}: {e}", n + 1))?;
        let field = |i: usize| r.get(i).unwrap_or("").trim().to_ascii_lowercase();
        let words = |i: usize| -> Vec<String> {
            field(i)
                .split_whitespace()
                .map(|w| w.trim_end_matches('.').to_string())
                .collect()
        };
        let selectors = words(2);
        if let Some(bad) = selectors.iter().find(|s| !is_selector(s)) {
            return Err(format!("row {}: {bad:?} is not a selector", n + 1));
        }
        let provider = field(0);
        if provider.is_empty() || selectors.is_empty() {
            return Err(format!(
                "row {}: a provider and its selectors are required",
                n + 1
            ));
        }
        out.push(ProviderSelectors {
            provider,
            mx_suffixes: words(1),
            selectors,
        });
    }
    Ok(out)
}

/// The built-in provider table, validated.
pub fn builtin_provider_selectors() -> Vec<ProviderSelectors> {
    load_provider_selectors(BUILTIN_PROVIDER_SELECTORS)
        .expect("datasets/dkim-providers.csv is valid")
}

fn at_or_below(name: &str, suffix: &str) -> bool {
    let name = name.trim_end_matches('.');
    name.eq_ignore_ascii_case(suffix)
        || (name.len() > suffix.len()
            && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
}

/// The selectors to probe at a domain: those of the providers its SPF tree names
/// (`spf_providers`) or its MX hosts are at, in table order, then [`COMMON_SELECTORS`]; each once.
pub fn probe_plan(
    table: &[ProviderSelectors],
    spf_providers: &[String],
    exchanges: &[String],
) -> Vec<String> {
    let mut plan: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !plan.iter().any(|p| p == s) {
            plan.push(s.to_string());
        }
    };
    for p in table {
        let named = spf_providers
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&p.provider))
            || exchanges
                .iter()
                .any(|e| p.mx_suffixes.iter().any(|s| at_or_below(e, s)));
        if named {
            p.selectors.iter().for_each(|s| add(s));
        }
    }
    COMMON_SELECTORS.iter().for_each(|s| add(s));
    plan
}

/// Reads a selector list: one selector per line, `#` starts a comment, blank lines skipped.
/// Selectors are lowercased and deduplicated (first occurrence kept).
///
/// RFC 6376 3.1: `selector = sub-domain *( "." sub-domain )`, with RFC 5321's
/// `sub-domain = Let-dig [Ldh-str]`: letters, digits and inner hyphens, 63 octets a label
/// (RFC 1035 2.3.4).
pub fn load_selectors(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let sel = line.split('#').next().unwrap_or("").trim();
        if sel.is_empty() {
            continue;
        }
        if !is_selector(sel) {
            return Err(format!(
                "invalid-selector: line {}: {sel:?} is not a sequence of DNS labels (RFC 6376 3.1)",
                n + 1
            ));
        }
        let sel = sel.to_ascii_lowercase();
        if !out.contains(&sel) {
            out.push(sel);
        }
    }
    Ok(out)
}

fn is_selector(s: &str) -> bool {
    s.len() <= 200
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// RFC 6376 3.6.2.1: the key for `selector` is at `<selector>._domainkey.<domain>`.
pub fn key_query_name(selector: &str, domain: &str) -> String {
    format!(
        "{}._domainkey.{}",
        selector.to_ascii_lowercase(),
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// RFC 6376 3.6.1: `key-k-tag-type = "rsa" / x-key-k-tag-type`; RFC 8463 3 adds `ed25519`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ed25519,
    Unknown(String),
}

impl KeyType {
    pub fn as_str(&self) -> &str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
            KeyType::Unknown(s) => s,
        }
    }
}

/// A parsed DKIM key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// `v=` absent, or `v=DKIM1` as the first tag (RFC 6376 3.6.1: "Records beginning with a
    /// "v=" tag with any other value MUST be discarded").
    pub version_ok: bool,
    /// `k=`, default `rsa`.
    pub key_type: KeyType,
    /// `h=` acceptable hash algorithms; empty when absent ("allow all algorithms").
    pub hash_algs: Vec<String>,
    /// `t=y`: "This domain is testing DKIM".
    pub testing: bool,
    /// `t=s`: the `i=` domain must equal the `d=` domain, no subdomains.
    pub strict: bool,
    /// `s=` service types; empty when absent (default `*`).
    pub service_types: Vec<String>,
    /// `p=` is empty: "An empty value means that this public key has been revoked".
    pub revoked: bool,
    /// The key size, from the key itself (RSA modulus bit length; 256 for Ed25519).
    pub bits: Option<u32>,
    /// Facts worth counting that do not make the key unusable, each `code: text`.
    pub notes: Vec<String>,
    /// Problems that make the record or key unusable, each `code: text`.
    pub errors: Vec<String>,
}

/// RFC 8301 3.2: "Verifiers MUST NOT consider signatures using RSA keys of less than 1024 bits
/// as valid signatures"; Google's sender guidelines ask for "a 1024-bit key or longer" too.
pub const MIN_RSA_BITS: u32 = 1024;

/// An RSA key of `bits` is too short to verify (RFC 8301 3.2): such a key is `weak-key`, unusable.
pub const fn is_weak_rsa(bits: u32) -> bool {
    bits < MIN_RSA_BITS
}

impl DkimKey {
    /// A verifier could use this key: parsed cleanly, not revoked.
    pub fn usable(&self) -> bool {
        self.version_ok && !self.revoked && self.errors.is_empty()
    }
}

const WSP: &[char] = &[' ', '\t', '\r', '\n'];

/// The record's tags ([`taglist::DKIM`]). "Tags MUST be interpreted in a case-sensitive manner",
/// and a duplicated tag makes "the entire tag-list ... invalid" (RFC 6376 3.2): the duplicate is
/// an error, the first one is kept so the rest of the record can still be described.
fn tag_list<'a>(txt: &'a str, errors: &mut Vec<String>) -> Vec<Tag<'a>> {
    let mut out = Vec::new();
    for part in taglist::parse(txt, &taglist::DKIM) {
        match part {
            Part::Tag(t) if t.duplicate => errors.push(problem(
                Code::DuplicateTag,
                format_args!(
                    "{} again at byte {} (RFC 6376 3.2: the tag-list is invalid)",
                    t.name, t.offset
                ),
            )),
            Part::Tag(t) => out.push(t),
            other => errors.extend(other.syntax_error()),
        }
    }
    out
}

fn colon_list(v: &str) -> Vec<String> {
    v.split(':')
        .map(|x| x.trim_matches(WSP).to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Parses a key record (RFC 6376 3.6.1):
///
/// ```text
/// key-v-tag    = %x76 [FWS] "=" [FWS] %x44.4B.49.4D.31
/// key-h-tag    = %x68 [FWS] "=" [FWS] key-h-tag-alg
///                0*( [FWS] ":" [FWS] key-h-tag-alg )
/// key-k-tag    = %x6b [FWS] "=" [FWS] key-k-tag-type
/// key-n-tag    = %x6e [FWS] "=" [FWS] qp-section
/// key-p-tag    = %x70 [FWS] "=" [ [FWS] base64string]
/// key-s-tag    = %x73 [FWS] "=" [FWS] key-s-tag-type
///                0*( [FWS] ":" [FWS] key-s-tag-type )
/// key-t-tag    = %x74 [FWS] "=" [FWS] key-t-tag-flag
///                0*( [FWS] ":" [FWS] key-t-tag-flag )
/// ```
pub fn parse_key_record(txt: &str) -> DkimKey {
    let mut k = DkimKey {
        version_ok: true,
        key_type: KeyType::Rsa,
        hash_algs: Vec::new(),
        testing: false,
        strict: false,
        service_types: Vec::new(),
        revoked: false,
        bits: None,
        notes: Vec::new(),
        errors: Vec::new(),
    };
    let tags = tag_list(txt, &mut k.errors);
    let mut p: Option<String> = None;
    for (
        i,
        Tag {
            offset,
            name,
            value,
            ..
        },
    ) in tags.iter().enumerate()
    {
        match *name {
            "v" => {
                if i != 0 {
                    k.version_ok = false;
                    k.errors.push(problem(
                        Code::Syntax,
                        format_args!("byte {offset}: v= must be the first tag (RFC 6376 3.6.1)"),
                    ));
                } else if *value != "DKIM1" {
                    k.version_ok = false;
                    k.errors.push(problem(
                        Code::InvalidVersion,
                        format_args!(
                            "{value:?} (RFC 6376 3.6.1: DKIM1, else the record is discarded)"
                        ),
                    ));
                }
            }
            "k" => {
                k.key_type = match *value {
                    "rsa" => KeyType::Rsa,
                    "ed25519" => KeyType::Ed25519,
                    other => KeyType::Unknown(other.to_string()),
                }
            }
            "h" => k.hash_algs = colon_list(value),
            "s" => k.service_types = colon_list(value),
            "t" => {
                for flag in colon_list(value) {
                    match flag.as_str() {
                        "y" => k.testing = true,
                        "s" => k.strict = true,
                        // x-key-t-tag-flag: "Unrecognized flags MUST be ignored".
                        other => k
                            .notes
                            .push(problem(Code::UnknownFlag, format_args!("t={other}"))),
                    }
                }
            }
            "p" => p = Some(value.to_string()),
            "n" => {}
            "g" => k.notes.push(problem(
                Code::ObsoleteTag,
                "g= (RFC 4871 key granularity, removed by RFC 6376)",
            )),
            // "Unrecognized tags MUST be ignored" (3.6.1): counted, not held against the key.
            other => k.notes.push(problem(Code::UnknownTag, other)),
        }
    }

    if let KeyType::Unknown(t) = &k.key_type {
        k.errors.push(problem(
            Code::UnknownKeyType,
            format_args!("k={t} (rsa, RFC 6376 3.6.1, or ed25519, RFC 8463)"),
        ));
    }
    if !k.hash_algs.is_empty() && k.hash_algs.iter().all(|h| h == "sha1") {
        k.errors.push(problem(
            Code::Sha1Only,
            "h=sha1 (RFC 8301 3.1: verifiers MUST NOT consider rsa-sha1 signatures valid)",
        ));
    }
    if !k.service_types.is_empty() && !k.service_types.iter().any(|s| s == "*" || s == "email") {
        k.errors.push(problem(
            Code::NotForEmail,
            format_args!(
                "s={} (RFC 6376 3.6.1: neither * nor email)",
                k.service_types.join(":")
            ),
        ));
    }
    if k.testing {
        k.notes.push(problem(
            Code::Testing,
            "t=y (RFC 6376 3.6.1: verifiers MUST NOT treat failures differently)",
        ));
    }

    let Some(p) = p else {
        k.errors.push(problem(
            Code::MissingP,
            "no p= tag (RFC 6376 3.6.1: REQUIRED)",
        ));
        return k;
    };
    // base64string allows FWS between characters, and long keys span several TXT strings.
    let b64: String = p.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if b64.is_empty() {
        k.revoked = true;
        k.notes.push(problem(
            Code::Revoked,
            "empty p= (RFC 6376 3.6.1: the key has been revoked)",
        ));
        return k;
    }
    let der = match STANDARD_PAD_INDIFFERENT.decode(b64.as_bytes()) {
        Ok(d) => d,
        Err(e) => {
            k.errors
                .push(problem(Code::InvalidBase64, format_args!("p= ({e})")));
            return k;
        }
    };
    match k.key_type {
        KeyType::Rsa => match rsa_modulus_bits(&der) {
            Ok((bits, pkcs1)) => {
                k.bits = Some(bits);
                if pkcs1 {
                    k.notes.push(problem(
                        Code::Pkcs1Key,
                        "p= is a bare RSAPublicKey, not a SubjectPublicKeyInfo",
                    ));
                }
                rsa_size(&mut k, bits);
            }
            Err(e) => k.errors.push(e),
        },
        KeyType::Ed25519 => {
            // RFC 8463 4.2: "the public key ... is the base64 encoding of the 32-octet public
            // key", not a SubjectPublicKeyInfo.
            if der.len() == 32 {
                k.bits = Some(256);
            } else if der.len() == 44 && der.starts_with(&ED25519_SPKI_PREFIX) {
                k.errors.push(problem(
                    Code::InvalidKey,
                    "an Ed25519 SubjectPublicKeyInfo; RFC 8463 4.2 wants the raw 32-byte key",
                ));
            } else {
                k.errors.push(problem(
                    Code::InvalidKey,
                    format_args!("Ed25519 key of {} bytes (RFC 8463 4.2: 32)", der.len()),
                ));
            }
        }
        KeyType::Unknown(_) => {}
    }
    k
}

/// The key records among a selector's TXT answer: the record that carries `p=` (or starts with
/// `v=DKIM1`). None when there is none; with several, the first is parsed and
/// `multiple-records` noted (RFC 6376 3.6.2.2 leaves the choice to the verifier).
pub fn select_key(records: &[String]) -> Option<DkimKey> {
    let keys: Vec<&String> = records
        .iter()
        .filter(|r| {
            let t = r.trim_start_matches(WSP);
            t.starts_with("v=DKIM1") || taglist::tags(t, &taglist::DKIM).any(|tag| tag.name == "p")
        })
        .collect();
    let mut key = parse_key_record(keys.first()?);
    if keys.len() > 1 {
        key.errors.insert(
            0,
            problem(
                Code::MultipleRecords,
                format_args!(
                    "{} key records (RFC 6376 3.6.2.2: results are undefined)",
                    keys.len()
                ),
            ),
        );
    }
    Some(key)
}

/// `dkim_status`: what the probed selectors say together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimStatus {
    /// No key record under any probed selector (or `_domainkey.<domain>` does not exist).
    None,
    /// At least one usable key.
    Valid,
    /// Key records, none usable.
    Invalid,
    /// A query failed, so a key may have been missed.
    TempError,
    /// Not probed (`--no-dkim`).
    Skipped,
}

impl DkimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimStatus::None => "none",
            DkimStatus::Valid => "valid",
            DkimStatus::Invalid => "invalid",
            DkimStatus::TempError => "temperror",
            DkimStatus::Skipped => "skipped",
        }
    }
}

/// The key record found under one probed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorKey {
    pub selector: String,
    pub key: DkimKey,
}

/// A DKIM key record found under a probed selector (RFC 6376 3.6.1), as one struct item of
/// `dkim_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyRow {
    pub selector: String,
    /// `k=`: `rsa`, `ed25519`, or what was published.
    pub key_type: String,
    /// From the key itself (RSA modulus length; 256 for Ed25519); null when it cannot be read.
    pub bits: Option<u32>,
    /// `t=y`.
    pub testing: bool,
    /// Empty `p=`.
    pub revoked: bool,
    /// A verifier could use it: parsed cleanly, not revoked.
    pub usable: bool,
    pub errors: Vec<String>,
}

impl From<&SelectorKey> for DkimKeyRow {
    fn from(k: &SelectorKey) -> DkimKeyRow {
        DkimKeyRow {
            selector: k.selector.clone(),
            key_type: k.key.key_type.as_str().to_string(),
            bits: k.key.bits,
            testing: k.key.testing,
            revoked: k.key.revoked,
            usable: k.key.usable(),
            errors: k.key.errors.clone(),
        }
    }
}

impl StructItem for DkimKeyRow {
    const FIELDS: &'static [StructField] = &[
        StructField::new("selector", Utf8, false),
        StructField::new("type", Utf8, false),
        StructField::new("bits", UInt32, true),
        StructField::new("testing", Boolean, false),
        StructField::new("revoked", Boolean, false),
        StructField::new("usable", Boolean, false),
        StructField::new("errors", ListUtf8, false),
    ];

    fn field(&self, j: usize) -> Value<'_> {
        match j {
            0 => Str(Some(&self.selector)),
            1 => Str(Some(&self.key_type)),
            2 => U32(self.bits),
            3 => Bool(Some(self.testing)),
            4 => Bool(Some(self.revoked)),
            5 => Bool(Some(self.usable)),
            6 => StrList(Some(&self.errors)),
            _ => unreachable!("a DKIM key has {} fields", Self::FIELDS.len()),
        }
    }
}

/// The DKIM columns of a scan row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimFindings {
    pub status: DkimStatus,
    /// The selectors with a key record; None when not probed or not known.
    pub selectors: Option<Vec<String>>,
    /// The key record under each of `selectors`; None when not probed or not known.
    pub keys: Option<Vec<DkimKeyRow>>,
    /// Each `code: text`; a key's own errors become `code: selector: text`.
    pub errors: Vec<String>,
}

impl DkimFindings {
    /// The domain row's DKIM columns, in two runs: [`DkimFindings::selector_columns`] after the
    /// DANE columns, these after the DMARC ones (the order the table grew in, kept for readers
    /// that select by position). Each `doc` is the column's row in docs/SCHEMA.md
    /// (`MXRAY_BLESS=1 cargo test --lib schema_doc`).
    #[rustfmt::skip]
    pub fn columns() -> Vec<Column<DkimFindings>> {
        type C = Column<DkimFindings>;
        vec![
            C::status("dkim_status", |f| Some(f.status.as_str())).required()
                .doc("`none` (no key record under any probed selector), `valid` (at least one usable key), `invalid` (key records, none usable: revoked or broken), `temperror` (`_domainkey.<domain>` or a selector query failed), `skipped` (`--no-dkim`)"),
            C::new("dkim_keys", ListStruct(DkimKeyRow::FIELDS), |f| Value::structs(f.keys.as_ref()))
                .doc("one per key record found: `k=` (`rsa` by default, `ed25519`), the key size read from the key (RSA modulus bits, 256 for Ed25519; null when there is no readable key), `t=y`, empty `p=` (revoked), usable by a verifier, and the record's problems. CSV: fields joined with a space, `errors` with `,`"),
            C::new("dkim_errors", ListUtf8, |f| StrList(Some(&f.errors)))
                .doc("the keys' problems as `code: selector: text` (`invalid-base64`, `weak-key`, `multiple-records`, ...), `domainkeys-policy` (an obsolete RFC 4870 record at `_domainkey`), `dns-temperror`"),
        ]
    }

    /// The selectors found (see [`DkimFindings::columns`]).
    #[rustfmt::skip]
    pub fn selector_columns() -> Vec<Column<DkimFindings>> {
        type C = Column<DkimFindings>;
        vec![
            C::new("dkim_selectors", ListUtf8, |f| StrList(f.selectors.as_deref()))
                .doc("selectors of the domain's probe plan with a DKIM key record at `<selector>._domainkey.<domain>` (RFC 6376 3.6.2.1), in plan order. The default plan is the selectors of the providers the domain's SPF tree and MX hosts name (`datasets/dkim-providers.csv`), then 8 common ones; `--dkim-selectors full` probes the 40 of `datasets/dkim-selectors.txt`, `--dkim-selectors FILE` a list of one's own. `_domainkey.<domain>` is asked first: NXDOMAIN means nothing exists below it (RFC 8020), no selector is probed and the list is empty. Null with `--no-dkim` or when `_domainkey.<domain>` failed; on `temperror` from a selector's query, the list holds what the others found"),
        ]
    }

    /// Probing was switched off.
    pub fn skipped() -> DkimFindings {
        DkimFindings {
            status: DkimStatus::Skipped,
            selectors: None,
            keys: None,
            errors: Vec::new(),
        }
    }

    /// The domain (or `_domainkey.<domain>`) does not exist: RFC 8020 says nothing exists below
    /// it, so every selector is known to have no key without asking.
    pub fn nxdomain() -> DkimFindings {
        DkimFindings {
            status: DkimStatus::None,
            selectors: Some(Vec::new()),
            keys: Some(Vec::new()),
            errors: Vec::new(),
        }
    }

    /// The selectors are unknown; `reason` names the query and the resolver's account of it.
    pub fn temperror(reason: &str) -> DkimFindings {
        DkimFindings {
            status: DkimStatus::TempError,
            selectors: None,
            keys: None,
            errors: vec![problem(Code::DnsTempError, reason)],
        }
    }
}

/// `_domainkey.<domain>`, the parent of every selector's key name (RFC 6376 3.6.2.1).
pub fn parent_name(domain: &str) -> String {
    format!("_domainkey.{domain}")
}

/// Whether the selectors under `_domainkey.<domain>` are worth asking: not when it does not
/// exist (RFC 8020: nothing exists below it), nor when its query failed (theirs would fail
/// alike).
pub fn probe_selectors(parent: &Lookup<String>) -> bool {
    !matches!(parent, Lookup::NxDomain | Lookup::TempError(_))
}

/// The aggregate over the probed selectors: a failed query leaves the answer open, else one
/// usable key is enough (a signer needs one), else key records without a usable key are invalid.
pub fn verdict(any_failed: bool, keys: &[SelectorKey]) -> DkimStatus {
    if any_failed {
        DkimStatus::TempError
    } else if keys.iter().any(|k| k.key.usable()) {
        DkimStatus::Valid
    } else if keys.is_empty() {
        DkimStatus::None
    } else {
        DkimStatus::Invalid
    }
}

/// The findings from the TXT answer at `_domainkey.<domain>` and, in probe order, those at each
/// selector's key name (none when [`probe_selectors`] said not to ask).
pub fn findings(
    domain: &str,
    parent: &Lookup<String>,
    probes: &[(&str, Lookup<String>)],
) -> DkimFindings {
    let parent_name = parent_name(domain);
    match parent {
        Lookup::TempError(reason) => {
            return DkimFindings::temperror(&format!("{parent_name} TXT {reason}"));
        }
        Lookup::NxDomain => return DkimFindings::nxdomain(),
        Lookup::NoData | Lookup::Records(_) => {}
    }
    let mut errors = Vec::new();
    for t in parent.records() {
        if let Some(policy) = domainkeys_policy(t) {
            errors.push(problem(
                Code::DomainkeysPolicy,
                format_args!("{parent_name}: {policy}"),
            ));
        }
    }
    let (mut selectors, mut keys) = (Vec::new(), Vec::new());
    let mut failed = false;
    for (sel, answer) in probes {
        if let Lookup::TempError(reason) = answer {
            failed = true;
            errors.push(problem(
                Code::DnsTempError,
                format_args!("{} TXT {reason}", key_query_name(sel, domain)),
            ));
            continue;
        }
        let Some(key) = select_key(answer.records()) else {
            continue;
        };
        for e in &key.errors {
            // `code: text` -> `code: selector: text`, so the code stays first.
            errors.push(match Problem::split(e) {
                Some((code, text)) => problem(code, format_args!("{sel}: {text}")),
                None => format!("{e}: {sel}: "),
            });
        }
        selectors.push(sel.to_string());
        keys.push(SelectorKey {
            selector: sel.to_string(),
            key,
        });
    }
    DkimFindings {
        status: verdict(failed, &keys),
        selectors: Some(selectors),
        keys: Some(keys.iter().map(DkimKeyRow::from).collect()),
        errors,
    }
}

/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (33 bytes) }`: the DER header of an
/// Ed25519 SubjectPublicKeyInfo (RFC 8410 4).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// 1.2.840.113549.1.1.1, rsaEncryption (RFC 8017 A.1).
const RSA_ENCRYPTION_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const ED25519_OID: [u8; 3] = [0x2b, 0x65, 0x70];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// Reads one DER TLV: (tag, contents, rest). Definite lengths only (DER, X.690 10.1), up to four
/// length octets.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// RFC 8301 3.2 on RSA key sizes: under 1024 bits the key is unusable (an error), under 2048 or
/// over 4096 it is noted.
fn rsa_size(k: &mut DkimKey, bits: u32) {
    if is_weak_rsa(bits) {
        k.errors.push(problem(
            Code::WeakKey,
            format_args!(
                "RSA {bits} bits (RFC 8301 3.2: keys of less than 1024 bits MUST NOT be considered valid)"
            ),
        ));
    } else if bits < 2048 {
        k.notes.push(problem(
            Code::ShortKey,
            format_args!("RSA {bits} bits (RFC 8301 3.2: signers SHOULD use at least 2048)"),
        ));
    } else if bits > 4096 {
        k.notes.push(problem(
            Code::LargeKey,
            format_args!("RSA {bits} bits (RFC 8301 3.2: verifiers need only handle 1024-4096)"),
        ));
    }
}

fn expect<'a>(b: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    match tlv(b) {
        Some((t, c, r)) if t == tag => Ok((c, r)),
        _ => Err(problem(
            Code::InvalidKey,
            format_args!("DER: expected {what}"),
        )),
    }
}

/// The RSA modulus size in bits, and whether the key was a bare PKCS#1 `RSAPublicKey`.
///
/// The `p=` value is in practice a SubjectPublicKeyInfo (RFC 5280 4.1, what
/// `openssl rsa -pubout` writes; RFC 6376 3.6.1 / A.3):
///
/// ```text
/// SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
///                                     subjectPublicKey BIT STRING }
/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }  -- RFC 8017 A.1.1
/// ```
///
/// Some publish the bare `RSAPublicKey`, which common verifiers also accept, so both are read.
fn rsa_modulus_bits(der: &[u8]) -> Result<(u32, bool), String> {
    let (outer, rest) = expect(der, TAG_SEQUENCE, "a SEQUENCE")?;
    if !rest.is_empty() {
        return Err(problem(
            Code::InvalidKey,
            "DER: trailing bytes after the key",
        ));
    }
    let (first_tag, ..) =
        tlv(outer).ok_or_else(|| problem(Code::InvalidKey, "DER: empty SEQUENCE"))?;
    if first_tag == TAG_INTEGER {
        return rsa_public_key_bits(outer).map(|b| (b, true));
    }
    let (alg, rest) = expect(outer, TAG_SEQUENCE, "an AlgorithmIdentifier")?;
    let (oid, _params) = expect(alg, TAG_OID, "an algorithm OID")?;
    if oid == ED25519_OID {
        return Err(problem(
            Code::InvalidKey,
            "an Ed25519 key published with k=rsa (use k=ed25519)",
        ));
    }
    if oid != RSA_ENCRYPTION_OID {
        return Err(problem(
            Code::InvalidKey,
            "the algorithm is not rsaEncryption",
        ));
    }
    let (bits, _) = expect(rest, TAG_BIT_STRING, "a BIT STRING")?;
    match bits.split_first() {
        Some((0, key)) => {
            let (rsa, _) = expect(key, TAG_SEQUENCE, "an RSAPublicKey SEQUENCE")?;
            rsa_public_key_bits(rsa).map(|b| (b, false))
        }
        _ => Err(problem(
            Code::InvalidKey,
            "DER: BIT STRING with unused bits",
        )),
    }
}

/// The contents of an `RSAPublicKey` SEQUENCE: the bit length of the modulus, leading zero
/// octets (the INTEGER sign padding) stripped.
fn rsa_public_key_bits(seq: &[u8]) -> Result<u32, String> {
    let (n, rest) = expect(seq, TAG_INTEGER, "the modulus INTEGER")?;
    expect(rest, TAG_INTEGER, "the publicExponent INTEGER")?;
    let n: &[u8] = match n.iter().position(|&b| b != 0) {
        Some(i) => &n[i..],
        None => &[],
    };
    match n.first() {
        Some(&top) => Ok((n.len() as u32 - 1) * 8 + (8 - top.leading_zeros())),
        None => Err(problem(Code::InvalidKey, "the modulus is zero")),
    }
}

/// Recognises an obsolete DomainKeys policy record at `_domainkey.<domain>` (RFC 4870 3.6.2.1:
/// tags `o` outbound signing policy, `t` testing, `r` reporting address, `n` notes) and
/// describes it. None when the text is not such a record (a key record, or foreign tags).
pub fn domainkeys_policy(txt: &str) -> Option<String> {
    let tags = tag_list(txt, &mut Vec::new());
    if tags.is_empty()
        || tags
            .iter()
            .any(|t| !matches!(t.name, "o" | "t" | "r" | "n"))
    {
        return None;
    }
    let mut parts = vec!["DomainKeys policy (RFC 4870, obsolete)".to_string()];
    for t in &tags {
        match (t.name, t.value) {
            ("o", "~") => parts.push("o=~ some mail is signed".into()),
            ("o", "-") => parts.push("o=- all mail is signed".into()),
            ("o", v) => parts.push(format!("o={v} (unknown)")),
            ("t", "y") => parts.push("t=y testing".into()),
            ("t", v) => parts.push(format!("t={v}")),
            ("r", v) => parts.push(format!("r={v} reports")),
            _ => {}
        }
    }
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_plan_puts_the_providers_selectors_first() {
        let table = builtin_provider_selectors();
        let common: Vec<String> = COMMON_SELECTORS.iter().map(|s| s.to_string()).collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let with = |first: &[&str]| {
            let mut v = s(first);
            v.extend(
                common
                    .iter()
                    .filter(|c| !first.contains(&c.as_str()))
                    .cloned(),
            );
            v
        };
        let cases: &[(&[&str], &[&str], Vec<String>)] = &[
            (&[], &[], common.clone()),
            (&["sendgrid"], &[], with(&["s1", "s2", "smtpapi"])),
            // the MX host names the provider, with or without the trailing dot and in any case
            (
                &[],
                &["D1-EXAMPLE-COM.mail.protection.outlook.com."],
                with(&["selector1", "selector2"]),
            ),
            (&[], &["aspmx.l.google.com"], with(&["google"])),
            // a suffix matches at a label boundary only
            (&[], &["notgoogle.com"], common.clone()),
            // two providers: table order, each selector once
            (
                &["mailchimp", "google"],
                &[],
                with(&["google", "k1", "k2", "k3"]),
            ),
            (&["unknown-provider"], &["mx.example.test"], common.clone()),
        ];
        for (spf, mx, want) in cases {
            assert_eq!(&probe_plan(&table, &s(spf), &s(mx)), want, "{spf:?} {mx:?}");
        }
    }

    #[test]
    fn provider_table_rows_are_checked() {
        assert!(
            load_provider_selectors("provider,mx_suffixes,selectors,source\nx,,bad_selector!,s\n")
                .is_err()
        );
        assert!(
            load_provider_selectors("provider,mx_suffixes,selectors,source\nx,a.test,,s\n")
                .is_err()
        );
        let t = load_provider_selectors(
            "# c\nprovider,mx_suffixes,selectors,source\nX,A.Test. b.test,S1 s2,src\n",
        )
        .unwrap();
        assert_eq!(
            t[0],
            ProviderSelectors {
                provider: "x".into(),
                mx_suffixes: vec!["a.test".into(), "b.test".into()],
                selectors: vec!["s1".into(), "s2".into()]
            }
        );
        // every provider of the DKIM table is one the SPF table can name, or is found by its MX
        let spf =
            crate::checks::spf::load_providers(include_str!("../../datasets/spf_providers.csv"));
        for p in builtin_provider_selectors() {
            assert!(
                !p.mx_suffixes.is_empty() || spf.iter().any(|r| r.provider == p.provider),
                "{} can never be named",
                p.provider
            );
        }
    }

    // Produced once with `openssl genrsa N | openssl pkey -pubout -outform DER | base64 -w0`;
    // PKCS1_1024 with `openssl rsa -RSAPublicKey_out`; ED25519 is the last 32 bytes of
    // `openssl genpkey -algorithm ed25519 | openssl pkey -pubout -outform DER`.
    const RSA_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALqZOua2AX03KHY3Yor7n7oExf/xElNgX0ZEQNc9fciw6ep9qzsqJinWXZnv2TFt704/8Zc5stMGEFCaFz7gAI8CAwEAAQ==";
    const RSA_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDNVUky5ngtDgFbWMkXVK/6+Uz4XL8RRhFYCoaglJFS3WRhEa4pG7ciFpHZxHF/XN+LqntWs5vGhtXUofL2okUnYF68MCrtgZTnNKadXhuebeyObPRunMO9XNnAkkBEfMK8Q14uE6SFkZNyejl5D9LoyG0YzGDuc8XYqlEcCV4drwIDAQAB";
    const RSA_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3Y14EMKQ6DhsGK2608jFfqd96pmvUPfMrBZeGQEv9Hq+112IJ+sMArSseN0A6vBu2Nj5kAOEa4twQMTuURxnLwjwYilQKu0jc2a+uhYfwNvLPa4GFGfCOv5XDvk+PwvEd+9bCOZ/t4/JdQxKtnIAcpNsxYbBEIeYgoRX6Ryfhda6MhbjMPxZxdrW/IBsGYO+ErR29/RQClbeRnPJloVp8ALS7842GIWHtaqM+9h+LFJ1ClDXte8lvSt9MCgHK7vGPjSrgXXtYwp0ExvdWSuPa5SJ1rMz7b0QtoBIHIlS9el1ukE/iXEPHh9HruRzBSnBmcmMpijd4YUsS+1ZqyY05wIDAQAB";
    const PKCS1_1024: &str = "MIGJAoGBAL/Sjq2F0thvzjDN9VYiKltZSHa1E+UkMMMvpFy0TOYxTpGPPg5yYeYE0Crjx0alhah5SLuhX/wyKfWJF4JqKdpmsmEz+ftuHTWXaxTjk6HxogAVrOZxUcW+XChy199qtZKCypACC7sUUveht8jSY6OkhRGfPcNPOFHPOsabI64pAgMBAAE=";
    const ED25519: &str = "zyPOqhunapsQ+trq2UoXl7JxJK59z4l3CTEja6U9nTI=";
    const ED25519_SPKI: &str = "MCowBQYDK2VwAyEA7UrtFvCSNpghMt3ODLQN10HqvN8L4BqbQGU1BBwbkAU=";

    fn has(v: &[String], code: &str) -> bool {
        v.iter().any(|e| e.starts_with(&format!("{code}:")))
    }

    #[test]
    fn key_sizes_table() {
        // (record, bits, usable, error or note code)
        let split_2048 = format!(
            "v=DKIM1; k=rsa; p={} {}",
            &RSA_2048[..200],
            &RSA_2048[200..]
        );
        let cases: Vec<(String, Option<u32>, bool, &str)> = vec![
            (
                format!("v=DKIM1; k=rsa; p={RSA_1024}"),
                Some(1024),
                true,
                "short-key",
            ),
            (format!("v=DKIM1; p={RSA_2048}"), Some(2048), true, ""),
            (split_2048, Some(2048), true, ""),
            (format!("p={RSA_512}"), Some(512), false, "weak-key"),
            (
                format!("v=DKIM1; p={PKCS1_1024}"),
                Some(1024),
                true,
                "pkcs1-key",
            ),
            (
                format!("v=DKIM1; k=ed25519; p={ED25519}"),
                Some(256),
                true,
                "",
            ),
            (
                format!("v=DKIM1; k=ed25519; p={ED25519_SPKI}"),
                None,
                false,
                "invalid-key",
            ),
            (
                format!("v=DKIM1; k=rsa; p={ED25519_SPKI}"),
                None,
                false,
                "invalid-key",
            ),
            (
                format!("v=DKIM1; k=ed25519; p={RSA_1024}"),
                None,
                false,
                "invalid-key",
            ),
            (
                format!("v=DKIM1; k=rsa; p={ED25519}"),
                None,
                false,
                "invalid-key",
            ),
            (
                "v=DKIM1; p=!!!notbase64".into(),
                None,
                false,
                "invalid-base64",
            ),
            (
                format!("v=DKIM1; p={}", &RSA_1024[..100]),
                None,
                false,
                "invalid-key",
            ),
        ];
        for (rec, bits, usable, code) in cases {
            let k = parse_key_record(&rec);
            assert_eq!(k.bits, bits, "{rec}: {:?}", k.errors);
            assert_eq!(k.usable(), usable, "{rec}: {:?}", k.errors);
            if code.is_empty() {
                assert!(k.errors.is_empty() && k.notes.is_empty(), "{rec}: {k:?}");
            } else {
                assert!(
                    has(&k.errors, code) || has(&k.notes, code),
                    "{rec}: want {code}: {k:?}"
                );
            }
        }
        assert_eq!(
            parse_key_record(&format!("p={RSA_512}")).errors,
            [
                "weak-key: RSA 512 bits (RFC 8301 3.2: keys of less than 1024 bits MUST NOT be considered valid)"
            ]
        );
    }

    #[test]
    fn tags_table() {
        // (record, usable, code expected in errors or notes ("" = none))
        for (rec, usable, code) in [
            ("v=DKIM1; p=", false, "revoked"),
            ("v=DKIM1; k=rsa; p= ;", false, "revoked"),
            ("v=DKIM1; t=y; p=", false, "testing"),
            ("v=DKIM1; k=rsa", false, "missing-p"),
            ("v=DKIM2; p=", false, "invalid-version"),
            ("k=rsa; v=DKIM1; p=", false, "syntax"),
            ("v=DKIM1; k=dsa; p=", false, "unknown-key-type"),
            ("v=DKIM1; h=sha1; p=", false, "sha1-only"),
            ("v=DKIM1; s=tlsrpt; p=", false, "not-for-email"),
            ("v=DKIM1; p=; p=", false, "duplicate-tag"),
            ("v=DKIM1; x=1; p=", false, "unknown-tag"),
            ("v=DKIM1; g=*; p=", false, "obsolete-tag"),
            ("v=DKIM1; t=z; p=", false, "unknown-flag"),
            ("v=DKIM1; junk; p=", false, "syntax"),
        ] {
            let k = parse_key_record(rec);
            assert_eq!(k.usable(), usable, "{rec}: {k:?}");
            assert!(
                has(&k.errors, code) || has(&k.notes, code),
                "{rec}: want {code}: {k:?}"
            );
        }
        let k = parse_key_record(&format!(
            "v=DKIM1; k=rsa; h=sha1:sha256; s=email:*; t=y:s; n=note; p={RSA_2048}"
        ));
        assert!(k.usable() && k.testing && k.strict, "{k:?}");
        assert_eq!(k.hash_algs, ["sha1", "sha256"]);
        assert_eq!(k.service_types, ["email", "*"]);
        assert_eq!(k.key_type.as_str(), "rsa");
        let k = parse_key_record("v=DKIM1; p=");
        assert!(k.revoked && k.errors.is_empty());
        // Tag names are case-sensitive: P= is not p=.
        assert!(has(&parse_key_record("P=").errors, "missing-p"));
    }

    #[test]
    fn der_reader_table() {
        for (der, ok) in [
            (&[0x30, 0x00][..], false),
            (&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x03][..], false),
            (&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03][..], true),
            (&[0x30, 0x81][..], false),
            (&[0x30, 0x80, 0x00, 0x00][..], false),
            (&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..], false),
            (&[0x02, 0x01, 0x05][..], false),
        ] {
            assert_eq!(rsa_modulus_bits(der).is_ok(), ok, "{der:02x?}");
        }
        assert_eq!(
            rsa_modulus_bits(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x81, 0x02, 0x01, 0x03]),
            Ok((8, true))
        );
    }

    #[test]
    fn selectors_table() {
        let got = load_selectors("# c\n\ngoogle\nSelector1 # m365\ns1.sub\ngoogle\n").unwrap();
        assert_eq!(got, ["google", "selector1", "s1.sub"]);
        for bad in ["a..b", "-x", "x-", "a_b", "a b", &"x".repeat(64)] {
            let e = load_selectors(bad).unwrap_err();
            assert!(e.starts_with("invalid-selector: line 1:"), "{bad}: {e}");
        }
        let builtin = builtin_selectors();
        assert!((30..=50).contains(&builtin.len()), "{}", builtin.len());
        for s in [
            "google",
            "selector1",
            "selector2",
            "k1",
            "s1",
            "fm1",
            "20230601",
        ] {
            assert!(builtin.iter().any(|b| b == s), "{s}");
        }
        assert_eq!(
            key_query_name("S1", "Example.com."),
            "s1._domainkey.example.com"
        );
    }

    #[test]
    fn select_key_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(select_key(&s(&["v=spf1 -all"])).is_none());
        assert!(select_key(&[]).is_none());
        assert!(select_key(&s(&["x", "v=DKIM1; p="])).unwrap().revoked);
        let k = select_key(&s(&["p=", "v=DKIM1; p="])).unwrap();
        assert!(has(&k.errors, "multiple-records"));
    }

    #[test]
    fn verdict_table() {
        let key = |rec: &str| SelectorKey {
            selector: "s".into(),
            key: parse_key_record(rec),
        };
        let (good, revoked) = (key(&format!("v=DKIM1; p={RSA_2048}")), key("v=DKIM1; p="));
        for (failed, keys, want) in [
            (false, vec![], DkimStatus::None),
            (false, vec![good.clone()], DkimStatus::Valid),
            (
                false,
                vec![revoked.clone(), good.clone()],
                DkimStatus::Valid,
            ),
            (false, vec![revoked.clone()], DkimStatus::Invalid),
            (true, vec![good.clone()], DkimStatus::TempError),
            (true, vec![], DkimStatus::TempError),
        ] {
            assert_eq!(verdict(failed, &keys), want, "{failed} {keys:?}");
        }
    }

    #[test]
    fn findings_table() {
        let recs = |v: &[&str]| Lookup::Records(v.iter().map(|x| x.to_string()).collect());
        let good = format!("v=DKIM1; p={RSA_2048}");
        let weak = format!("v=DKIM1; p={RSA_512}");
        let timeout = || Lookup::TempError("timeout".to_string());
        // (parent, probes, status, selectors ("-" = null), errors)
        type Case<'a> = (
            Lookup<String>,
            Vec<(&'a str, Lookup<String>)>,
            &'a str,
            &'a str,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                timeout(),
                vec![],
                "temperror",
                "-",
                vec!["dns-temperror: _domainkey.example.com TXT timeout"],
            ),
            (Lookup::NxDomain, vec![], "none", "", vec![]),
            (
                Lookup::NoData,
                vec![("a", Lookup::NxDomain), ("b", Lookup::NoData)],
                "none",
                "",
                vec![],
            ),
            (
                Lookup::NoData,
                vec![("a", recs(&[&good])), ("b", recs(&["v=spf1 -all"]))],
                "valid",
                "a",
                vec![],
            ),
            (
                Lookup::NoData,
                vec![("a", recs(&[&weak])), ("b", recs(&[&good]))],
                "valid",
                "a b",
                vec![
                    "weak-key: a: RSA 512 bits (RFC 8301 3.2: keys of less than 1024 bits MUST NOT be considered valid)",
                ],
            ),
            (
                Lookup::NoData,
                vec![("a", recs(&["v=DKIM1; p="]))],
                "invalid",
                "a",
                vec![],
            ),
            (
                Lookup::NoData,
                vec![("a", recs(&[&good])), ("B", timeout())],
                "temperror",
                "a",
                vec!["dns-temperror: b._domainkey.example.com TXT timeout"],
            ),
            (
                recs(&["o=-"]),
                vec![],
                "none",
                "",
                vec![
                    "domainkeys-policy: _domainkey.example.com: DomainKeys policy (RFC 4870, obsolete); o=- all mail is signed",
                ],
            ),
        ];
        for (parent, probes, status, sels, errors) in cases {
            let f = findings("example.com", &parent, &probes);
            assert_eq!(f.status.as_str(), status, "{parent:?} {probes:?}");
            assert_eq!(
                f.selectors.map_or("-".to_string(), |v| v.join(" ")),
                sels,
                "{parent:?} {probes:?}"
            );
            assert_eq!(f.errors, errors, "{parent:?} {probes:?}");
        }
        assert_eq!(DkimFindings::skipped().status.as_str(), "skipped");
        assert!(!probe_selectors(&Lookup::NxDomain) && !probe_selectors(&timeout()));
        assert!(probe_selectors(&Lookup::NoData) && probe_selectors(&recs(&["o=-"])));
    }

    #[test]
    fn domainkeys_policy_table() {
        for (txt, want) in [
            (
                "o=~",
                Some("DomainKeys policy (RFC 4870, obsolete); o=~ some mail is signed"),
            ),
            (
                "t=y; o=-; r=postmaster@example.com",
                Some(
                    "DomainKeys policy (RFC 4870, obsolete); t=y testing; o=- all mail is signed; r=postmaster@example.com reports",
                ),
            ),
            (
                "o=!",
                Some("DomainKeys policy (RFC 4870, obsolete); o=! (unknown)"),
            ),
            ("v=DKIM1; p=abc", None),
            ("o=~; p=abc", None),
            ("v=spf1 -all", None),
            ("", None),
        ] {
            assert_eq!(domainkeys_policy(txt).as_deref(), want, "{txt:?}");
        }
    }
}
