//! `mxray check` against the in-process lab: the checklist of a handful of the world's domains
//! and of one address, as text and as JSON (insta snapshots in tests/it/snapshots/), the exit
//! codes, and colour. Every query and connection goes to the lab on loopback.

use std::time::{Duration, Instant};

use mxray::lab::Lab;
use mxray::lab::world::{
    DKIM_KEYS, DNSBL_LISTED, DkimKind, DmarcKind, Domain, Existence, MxKind, POOL, Rcpt, Rdns,
    SpfKind, pool_ip, pool_rdns,
};

/// The world of the lab tests' rare cases (tests/it/lab.rs): every case below is in it.
async fn lab(dir: &std::path::Path) -> Lab {
    crate::common::lab(dir, 3000, 17).await
}

/// The first domain of the world that answers, has one MX at a pool host, and matches `case`.
fn pick(lab: &Lab, case: impl Fn(&Domain, usize) -> bool) -> String {
    lab.world
        .iter()
        .find(|d| d.existence == Existence::Ok && d.mx == MxKind::Pool && case(d, d.pool[0]))
        .map(|d| d.name)
        .expect("the lab's world has such a domain")
}

/// A pool host with nothing wrong: forward-confirmed, a lab-CA certificate, closed to relaying
/// and to unknown recipients, not listed, answering at once.
fn good_host(h: usize) -> bool {
    let p = POOL[h];
    pool_rdns(h) == Rdns::Confirmed
        && p.tls == mxray::lab::world::Tls::LabCa
        && p.rcpt == Rcpt::Closed
        && p.dnsbl.is_none()
        && !p.tarpit
        && !p.greeting_421
}

/// `mxray check` with the lab's resolver, tables (DNSBL, ASN, VRPs), CA and port, and `extra` arguments; its exit
/// code, stdout and stderr.
async fn check(lab: &Lab, extra: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let f = &lab.files;
    let p = |p: &std::path::Path| p.display().to_string();
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_mxray"));
    c.arg("check")
        .args(["--resolver", &lab.dns.to_string(), "--allow-loopback"])
        .args(["--dnsbl-config", &p(&f.dnsbl_config)])
        .args(["--asn-db", &p(&f.asn_db)])
        .args(["--rpki-vrps", &p(&f.rpki_vrps)])
        .args(["--smtp-ports", &lab.smtp_port.to_string()])
        .args(["--smtp-ca", &p(&f.ca)])
        .args(["--helo", mxray::lab::SCAN_HELO])
        .args(["--relay-domain", mxray::lab::RELAY_DOMAIN])
        .args(extra)
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().await.unwrap();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    (o.status.code().unwrap(), text(&o.stdout), text(&o.stderr))
}

/// What changes from run to run (ports, times, certificate dates, the random local part),
/// replaced.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r" port \d+", " port [port]"),
        (r#""smtp_port": \d+"#, r#""smtp_port": "[port]""#),
        (
            r#""(scanned_at|tls_cert_not_after)": "[^"]+""#,
            r#""$1": "[time]""#,
        ),
        (r#""smtp_session_ms": \d+"#, r#""smtp_session_ms": "[ms]""#),
        (r"mxray-[0-9a-f]{16}@", "mxray-[random]@"),
    ]
}

/// The text and the JSON of one target, snapshot under `name`; returns the exit code.
async fn snapshot(lab: &Lab, name: &str, target: &str, extra: &[&str]) -> i32 {
    let args: Vec<&str> = [target].iter().chain(extra).copied().collect();
    let (code, text, stderr) = check(lab, &args, &[]).await;
    assert!(stderr.is_empty(), "{name}: {stderr}");
    let mut json_args = args.clone();
    json_args.push("--json");
    let (json_code, json, _) = check(lab, &json_args, &[]).await;
    assert_eq!(json_code, code, "{name}: the same exit code with --json");
    assert_eq!(json.lines().count(), 1, "{name}: one document, one line");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    insta::with_settings!({ filters => filters(), snapshot_suffix => name }, {
        insta::assert_snapshot!("text", text);
        insta::assert_snapshot!("json", pretty);
    });
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_domain_passes_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |d, h| {
        good_host(h)
            && matches!(d.spf, SpfKind::Fail | SpfKind::Include)
            && matches!(d.dmarc, DmarcKind::Reject | DmarcKind::Quarantine)
            && !matches!(d.dkim, DkimKind::None | DkimKind::Unguessable)
            && DKIM_KEYS[d.dkim_key].1 == mxray::lab::world::DKIM_RSA_2048
            && !d.mta_sts
    });
    let t0 = Instant::now();
    let code = snapshot(&lab, "clean", &domain, &[]).await;
    assert_eq!(code, 0, "{domain}");
    // Two runs (text and JSON) of a healthy domain: seconds, not the scan's flush intervals.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_relay_fails() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |_, h| {
        POOL[h].rcpt == Rcpt::Open && POOL[h].dnsbl.is_none()
    });
    assert_eq!(snapshot(&lab, "open_relay", &domain, &[]).await, 1);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_without_ptr_fails() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |_, h| pool_rdns(h) == Rdns::None && !POOL[h].tarpit);
    assert_eq!(snapshot(&lab, "no_ptr", &domain, &[]).await, 1);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_address_fails() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |_, h| POOL[h].dnsbl == Some(DNSBL_LISTED));
    assert_eq!(snapshot(&lab, "dnsbl_listed", &domain, &[]).await, 1);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_over_the_lookup_limit_fails_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |d, h| d.spf == SpfKind::OverLimit && good_host(h));
    assert_eq!(snapshot(&lab, "spf_over_limit", &domain, &[]).await, 1);
    let (_, text, _) = check(&lab, &[&domain], &[]).await;
    assert!(
        text.contains("SPF needs 12 DNS lookups; the limit is 10"),
        "{text}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dmarc_record_fails() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |d, h| d.dmarc == DmarcKind::None && good_host(h));
    assert_eq!(snapshot(&lab, "dmarc_missing", &domain, &[]).await, 1);
    lab.stop().await;
}

/// A tarpit (every reply late) is cut at the reply deadline and shown as a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tarpit_is_cut_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |_, h| POOL[h].tarpit);
    let t0 = Instant::now();
    let code = snapshot(&lab, "tarpit", &domain, &["--smtp-reply-timeout", "100ms"]).await;
    assert_eq!(code, 1);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let (_, text, _) = check(&lab, &[&domain, "--smtp-reply-timeout", "100ms"], &[]).await;
    assert!(text.contains("no SMTP dialogue, timeout"), "{text}");
    lab.stop().await;
}

/// An address is checked as a server: no domain items, the recipient test said to need one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_target_is_checked_as_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let h = (0..POOL.len())
        .find(|&h| POOL[h].rcpt == Rcpt::Open && POOL[h].dnsbl == Some(DNSBL_LISTED))
        .unwrap();
    let ip = pool_ip(h).to_string();
    assert_eq!(snapshot(&lab, "address", &ip, &[]).await, 1);
    let (_, json, _) = check(&lab, &[&ip, "--json"], &[]).await;
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["kind"], "address");
    assert_eq!(doc["domain"], serde_json::Value::Null);
    assert_eq!(doc["hosts"][0]["ip"], ip.as_str());
    assert_eq!(doc["hosts"][0]["open_relay"], true);
    assert_eq!(doc["hosts"][0]["dnsbl_listed"][0], "bl.lab.test");
    lab.stop().await;
}

/// 0 with nothing failed, 1 when any target fails, 2 for a target that is neither a domain
/// nor an address, or an option the scan refuses (nothing is checked then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let clean = pick(&lab, |d, h| {
        good_host(h)
            && matches!(d.spf, SpfKind::Fail | SpfKind::Include)
            && matches!(d.dmarc, DmarcKind::Reject | DmarcKind::Quarantine)
            && !matches!(d.dkim, DkimKind::None | DkimKind::Unguessable)
            && DKIM_KEYS[d.dkim_key].1 == mxray::lab::world::DKIM_RSA_2048
            && !d.mta_sts
    });
    let relay = pick(&lab, |_, h| POOL[h].rcpt == Rcpt::Open);
    let (code, _, _) = check(&lab, &[&clean], &[]).await;
    assert_eq!(code, 0);
    let (code, out, _) = check(&lab, &[&clean, &relay, "--json"], &[]).await;
    assert_eq!(code, 1, "one failing target of two");
    let targets: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["target"].to_string())
        .collect();
    assert_eq!(
        targets,
        [format!("{clean:?}"), format!("{relay:?}")],
        "in order"
    );
    let (code, out, err) = check(&lab, &["not a domain"], &[]).await;
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    let (code, out, err) = check(&lab, &[&clean, "--dnsbl", "no.such.zone"], &[]).await;
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("no.such.zone"), "{err}");
    let (code, _, err) = check(&lab, &[], &[]).await;
    assert_eq!(code, 2, "no target: {err}");
    lab.stop().await;
}

/// Plain text when not on a terminal and under NO_COLOR; colour and symbols when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_gives_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let domain = pick(&lab, |_, h| good_host(h));
    let (_, plain, _) = check(&lab, &[&domain], &[("NO_COLOR", "1")]).await;
    assert!(!plain.contains('\x1b'), "{plain}");
    assert!(plain.contains("[ ok ] MX: "), "{plain}");
    let (_, auto, _) = check(&lab, &[&domain], &[]).await;
    assert!(!auto.contains('\x1b'), "stdout is a pipe: {auto}");
    let (_, colour, _) = check(&lab, &[&domain, "--color", "always"], &[("NO_COLOR", "1")]).await;
    assert!(colour.contains("\x1b[") && colour.contains('✔'), "{colour}");
    assert!(!colour.contains("[ ok ]"), "{colour}");
    lab.stop().await;
}
