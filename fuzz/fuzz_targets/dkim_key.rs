//! The DKIM key record parser (RFC 6376 3.6.1) and its key-size reading (base64, then DER):
//! no panic on any bytes, a size only for a key that parsed, errors and notes with codes.
//!
//! Input: one mode byte, then the rest. Mode 0: the rest is record text (each line a TXT
//! record of a selector's answer). Mode 1: the rest is the key bytes, published as
//! `v=DKIM1; k=rsa; p=<base64>`; mode 2: as `k=ed25519`; mode 3: the rest is an RSAPublicKey
//! wrapped in a SubjectPublicKeyInfo by the harness, so the fuzzer works on the inner DER.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mxray::checks::Lookup;
use mxray::checks::dkim::{
    DkimKey, DkimStatus, KeyType, domainkeys_policy, findings, load_selectors, parse_key_record,
    select_key,
};

fn assert_coded(e: &str) {
    let (code, _) = e
        .split_once(": ")
        .unwrap_or_else(|| panic!("{e:?} has no code"));
    assert!(
        !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{e:?} has no code"
    );
}

fn has(k: &DkimKey, code: &str) -> bool {
    k.errors.iter().any(|e| e.starts_with(&format!("{code}:")))
}

/// The rules of one parsed key; `der_len` is the decoded key's length when the harness knows it.
fn check_key(txt: &str, k: &DkimKey, der_len: Option<usize>) {
    for e in k.errors.iter().chain(&k.notes) {
        assert_coded(e);
    }
    if k.usable() {
        assert!(k.bits.is_some(), "{txt:?}: a usable key has a size");
    }
    if let Some(bits) = k.bits {
        assert!(!k.revoked, "a revoked key has no size");
        for code in ["missing-p", "invalid-base64", "invalid-key"] {
            assert!(!has(k, code), "{txt:?}: bits {bits} yet {code}");
        }
        match &k.key_type {
            KeyType::Rsa => {
                assert!(bits >= 1);
                if let Some(n) = der_len {
                    assert!(bits as usize <= 8 * n, "{bits} bits from {n} bytes");
                }
                assert_eq!(bits < 1024, has(k, "weak-key"));
            }
            KeyType::Ed25519 => assert_eq!(bits, 256),
            KeyType::Unknown(t) => panic!("bits {bits} for k={t}"),
        }
    }
    if k.revoked {
        assert!(k.notes.iter().any(|n| n.starts_with("revoked:")));
    }
    // Bounded by the input: one error or note per part, plus a fixed few.
    let parts = 1 + txt.bytes().filter(|&b| b == b';' || b == b':').count();
    assert!(k.errors.len() + k.notes.len() <= parts + 8, "{k:?}");
    assert!(k.hash_algs.len() + k.service_types.len() <= parts);
}

fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = contents.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        v.push(0x80 | bytes.len() as u8);
        v.extend(bytes);
    }
    v.extend_from_slice(contents);
    v
}

/// SubjectPublicKeyInfo { AlgorithmIdentifier { rsaEncryption, NULL }, BIT STRING { key } }.
fn spki(rsa_public_key: &[u8]) -> Vec<u8> {
    let oid = der(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
    );
    let alg = der(0x30, &[oid, vec![0x05, 0x00]].concat());
    let bits = der(0x03, &[&[0u8][..], rsa_public_key].concat());
    der(0x30, &[alg, bits].concat())
}

/// The same base64 with folding white space between characters (RFC 6376 3.6.1 `base64string`
/// allows FWS): every `step`th character is followed by one of SP, HTAB, CRLF+SP.
fn folded(b64: &str, step: usize) -> String {
    let ws = [" ", "\t", "\r\n "];
    let mut out = String::new();
    for (i, c) in b64.chars().enumerate() {
        out.push(c);
        if (i + 1) % step == 0 {
            out.push_str(ws[i % ws.len()]);
        }
    }
    out
}

fn check_encoded(prefix: &str, key: &[u8], fold: u8) -> DkimKey {
    let b64 = STANDARD.encode(key);
    let txt = format!("{prefix}p={b64}");
    let k = parse_key_record(&txt);
    check_key(&txt, &k, Some(key.len()));
    if !key.is_empty() {
        assert!(!has(&k, "invalid-base64") && !k.revoked, "{txt:?}");
    }
    let step = 1 + fold as usize % 64;
    let txt2 = format!("{prefix}p= {}", folded(&b64, step));
    let k2 = parse_key_record(&txt2);
    assert_eq!(k, k2, "folding white space in p= changes nothing");
    k
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let k = parse_key_record(&text);
            check_key(&text, &k, None);
            if let Some(p) = domainkeys_policy(&text) {
                assert!(p.starts_with("DomainKeys policy"));
            }
            let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            if let Some(k) = select_key(&lines) {
                check_key(&text, &k, None);
            }
            let probes = [
                ("s1", Lookup::Records(lines.clone())),
                ("s2", Lookup::Records(lines[lines.len() / 2..].to_vec())),
                ("s3", Lookup::NoData),
            ];
            let f = findings("example.com", &Lookup::Records(lines.clone()), &probes);
            for e in &f.errors {
                assert_coded(e);
            }
            let keys = f.keys.as_deref().unwrap_or_default();
            assert_eq!(
                f.status == DkimStatus::Valid,
                keys.iter().any(|k| k.key.usable())
            );
            assert_eq!(f.selectors.as_ref().map(Vec::len), Some(keys.len()));
            if let Ok(sels) = load_selectors(&text) {
                for s in &sels {
                    assert!(!s.is_empty() && !s.bytes().any(|b| b.is_ascii_uppercase()));
                }
            }
        }
        1 => {
            let fold = rest.first().copied().unwrap_or(0);
            check_encoded("v=DKIM1; k=rsa; ", rest, fold);
        }
        2 => {
            let fold = rest.first().copied().unwrap_or(0);
            let k = check_encoded("v=DKIM1; k=ed25519; ", rest, fold);
            assert_eq!(k.bits.is_some(), rest.len() == 32, "RFC 8463 4.2: 32 bytes");
        }
        _ => {
            let fold = rest.first().copied().unwrap_or(0);
            let wrapped = check_encoded("v=DKIM1; k=rsa; ", &spki(rest), fold);
            let bare = check_encoded("v=DKIM1; ", rest, fold);
            // A bare RSAPublicKey that reads reads the same inside a SubjectPublicKeyInfo.
            let pkcs1 = bare.notes.iter().any(|n| n.starts_with("pkcs1-key:"));
            if bare.bits.is_some() && pkcs1 {
                assert_eq!(wrapped.bits, bare.bits, "SPKI and bare PKCS#1 agree");
            }
            if wrapped.bits.is_some() {
                assert!(!wrapped.notes.iter().any(|n| n.starts_with("pkcs1-key:")));
            }
        }
    }
});
