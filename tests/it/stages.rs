//! Every stage of a scan through the probe interface: a panic injected into the first probe of
//! each stage (domains, hosts, SMTP, recipient batches) of a scan of the in-process lab. No
//! target is lost: each still has its row, marked `error` and counted as panicked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::common::{Faulty, Pick, by_key, read_table};
use mxray::lab::Lab;
use mxray::output::HostStatus;
use mxray::pipeline::smtp::{SmtpOptions, SmtpPort, SmtpTarget};
use mxray::pipeline::stage::Probe;
use mxray::pipeline::{ProbeLayer, ScanOptions, Stop, Targets, scan, scan_with};
use mxray::smtp::SessionOptions;

/// Panics in one probe of each stage: in the domain stage for `domain`, in the SMTP stage for the
/// first address the host stage checked, in the others for the first target.
struct PanicOnce {
    domain: String,
}

impl ProbeLayer for PanicOnce {
    fn layer<P: Probe>(&self, inner: P) -> impl Probe<Target = P::Target, Output = P::Output> {
        let name = inner.name();
        let what = move || Some(format!("in {name}"));
        let pick: Pick = match name {
            "domains" => {
                let domain = self.domain.clone();
                Box::new(move |t| (t.downcast_ref::<String>() == Some(&domain)).then(what)?)
            }
            // One that the host stage checked (not the host stage's own failed row).
            "smtp" => Box::new(move |t| {
                let t = t.downcast_ref::<SmtpTarget>()?;
                (t.row.host_status == HostStatus::Ok).then(what)?
            }),
            // The last passes probe what failed with a timeout or servfail: left alone, so
            // that the faulty scan's rows are the clean one's but for the panics.
            n if n.ends_with("-last-pass") => Box::new(|_| None),
            _ => Box::new(move |_| what()),
        };
        Faulty::new(inner, pick)
    }
}

fn lab_options(lab: &Lab, out: &std::path::Path) -> ScanOptions {
    let mut o = crate::common::scan_options(out, lab.dns);
    o.targets = Targets::Domains(lab.files.domains.display().to_string());
    o.hosts.exclude = Arc::new(mxray::targets::exclude::ExcludeList::defaults(true));
    let roots = CertificateDer::pem_file_iter(&lab.files.ca)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    o.smtp = Some(SmtpOptions {
        ports: vec![SmtpPort::plain(lab.smtp_port)],
        session: SessionOptions {
            helo: mxray::smtp::command::Arg::new(mxray::lab::SCAN_HELO.to_string()).unwrap(),
            relay_domain: Some(mxray::lab::RELAY_DOMAIN.into()),
            recipients: true,
            legacy_tls: None,
            ..SessionOptions::default()
        },
        extra_roots: roots,
        ..SmtpOptions::default()
    });
    o
}

/// The domains that have recipient rows.
fn recipient_domains(out: &std::path::Path) -> BTreeSet<String> {
    read_table(out, "recipients")
        .iter()
        .map(|r| r["domain"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Kept apart from the tests that time a stop (common::HEAVY). The lock orders whole tests.
#[allow(clippy::await_holding_lock)]
async fn a_panic_in_every_stage_loses_no_target() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = crate::common::lab(dir.path(), 150, 11).await;
    let clean_out = dir.path().join("clean");
    let clean = scan(lab_options(&lab, &clean_out), Stop::new())
        .await
        .unwrap();
    // The domain stage's fault on a domain that leads to no address, so that every later
    // stage has the clean scan's targets.
    let clean_domains = by_key(read_table(&clean_out, "domains"), "domain");
    let (failed_domain, _) = clean_domains
        .iter()
        .find(|(_, r)| r["mx_ips"].as_array().is_none_or(|a| a.is_empty()))
        .expect("the lab has domains without MX addresses");
    let out = dir.path().join("faulty");
    let layer = PanicOnce {
        domain: failed_domain.clone(),
    };
    let m = scan_with(lab_options(&lab, &out), Stop::new(), layer)
        .await
        .unwrap();
    lab.stop().await;
    let stages = [
        "domains",
        "domains-last-pass",
        "hosts",
        "hosts-last-pass",
        "smtp",
        "recipients",
    ];

    let names: Vec<&str> = m.stages.iter().map(|s| s.name).collect();
    assert_eq!(names, stages, "run.json lists every stage, first to last");
    for s in &m.stages {
        let one = u64::from(!s.name.ends_with("-last-pass"));
        assert_eq!(s.panicked, one, "{}: one injected panic", s.name);
        assert_eq!((s.abandoned, s.unstarted), (0, 0), "{}", s.name);
        assert_eq!(
            s.started, s.done,
            "{}: every started target handed on",
            s.name
        );
    }
    assert_eq!(m.counts.panicked, 4);
    for s in &clean.stages {
        assert_eq!(s.panicked, 0, "{}", s.name);
    }
    let stage = |m: &mxray::pipeline::RunManifest, n: &str| {
        m.stages.iter().find(|s| s.name == n).unwrap().done
    };
    assert!(
        stage(&clean, "recipients") > 0,
        "the lab's shared MX hosts give batches"
    );
    // (The recipient batches' grouping follows timing: their count may differ.)
    for n in ["domains", "hosts", "smtp"] {
        assert_eq!(
            stage(&m, n),
            stage(&clean, n),
            "{n}: as many targets as a clean scan"
        );
    }

    let domains = by_key(read_table(&out, "domains"), "domain");
    assert_eq!(domains.len(), 150);
    let errors: Vec<_> = domains
        .values()
        .filter(|r| r["domain_status"] == "error")
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["domain"], failed_domain.as_str());
    assert_eq!(
        errors[0]["domain_error"],
        "panicked: injected fault in domains"
    );

    let hosts = by_key(read_table(&out, "hosts"), "ip");
    let clean_hosts = by_key(read_table(&clean_out, "hosts"), "ip");
    assert_eq!(
        hosts.keys().collect::<Vec<_>>(),
        clean_hosts.keys().collect::<Vec<_>>(),
        "every address has its row"
    );
    let mut by_error = BTreeMap::<String, usize>::new();
    for r in hosts.values().filter(|r| r["host_status"] == "error") {
        *by_error
            .entry(r["host_error"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        by_error,
        BTreeMap::from([
            ("panicked: injected fault in hosts".to_string(), 1),
            ("smtp: panicked: injected fault in smtp".to_string(), 1),
        ])
    );

    let recipients = read_table(&out, "recipients");
    let failed: Vec<_> = recipients
        .iter()
        .filter(|r| r["recipient_status"] == "error")
        .collect();
    assert!(
        failed
            .iter()
            .any(|r| r["text"] == "panicked: injected fault in recipients" && r["batched"] == true),
        "the panicked batch's domains: {failed:?}"
    );
    assert_eq!(
        recipient_domains(&out),
        recipient_domains(&clean_out),
        "every domain tested in the clean scan has recipient rows"
    );
}
