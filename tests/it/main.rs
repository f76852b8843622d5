//! mxray's integration tests, one binary (one link, one process, the way ripgrep keeps them):
//! whole scans, the engine and the CLI against real servers on loopback (Knot, Unbound, rbldnsd,
//! an HTTPS server, Postfix and Exim: tests/fixtures/up.sh starts them, .ci/run inside a private network namespace),
//! `mxray report` on scans of the generated world and its page in headless Chromium, deploy/'s
//! shard scripts on the in-process lab,
//! and the openspf conformance suite. A test whose fixtures are not up passes and is named in the
//! SKIP summary printed at the end of the run (common::skip), and fails under any non-empty `CI`.

mod common;

mod browser;
mod check;
mod cli;
mod deploy;
mod dns_fixtures;
mod engine;
mod faults;
mod hosts_fixtures;
mod lab;
mod policies_fixtures;
mod report_fixtures;
mod resolver_state;
mod resume;
mod scan_fixtures;
mod smtp_fixtures;
mod spf_conformance;
mod stages;
mod standards_fixtures;
