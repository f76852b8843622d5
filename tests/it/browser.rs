//! report.html in a real browser: Debian's Chromium, headless, driven through chromedriver's
//! W3C WebDriver API (JSON over HTTP on loopback; a few calls, so hyper rather than a WebDriver
//! crate). The page of a demo scan must load with no console error (its Content-Security-Policy
//! turns anything it would fetch into one) and show every chart as a drawn SVG. A control page
//! that breaks those rules must be caught, so the test is known to be able to fail.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The charts a report of a scan with hosts and SMTP has.
const CHARTS: &[&str] = &[
    "chart-spf-lookups",
    "chart-spf-ipv4-cdf",
    "chart-dmarc-p",
    "chart-starttls",
    "chart-tls-version",
];

struct Driver {
    child: tokio::process::Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", String::from_utf8_lossy(&bytes)));
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v["value"].clone()
}

impl Driver {
    /// chromedriver on a free loopback port, and one headless Chromium session with its own
    /// empty profile and the browser's console log kept. None (said loudly; a failure under CI)
    /// when Chromium is not installed.
    async fn start() -> Option<Driver> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            crate::common::skip(
                "report_html_renders_in_chromium",
                &format!(
                    "{CHROMIUM} or {CHROMEDRIVER} missing (Debian packages chromium, \
                     chromium-driver: tests/fixtures/up.sh --install-only)"
                ),
            );
            return None;
        }
        // A free port: chromedriver takes a number, not a bound socket.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(tcp) = tokio::net::TcpStream::connect(addr).await {
                drop(tcp);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // The flags that keep Chromium from calling out (this machine has no network; its
        // background connections would only be refused) and let it run as root in a container.
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1200,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = call(addr, "POST", "/session", Some(caps)).await;
        let session = v["sessionId"].as_str().unwrap().to_string();
        Some(Driver {
            child,
            addr,
            session,
            _profile: profile,
        })
    }

    async fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        call(self.addr, method, &path, body).await
    }

    /// Loads the file and returns what the page shows of its charts, and the console messages
    /// of level SEVERE (errors, CSP violations, failed loads) since the last call.
    async fn load(&self, page: &Path) -> (Value, Vec<String>) {
        let url = format!("file://{}", page.display());
        self.cmd("POST", "url", Some(json!({ "url": url }))).await;
        let shown = self
            .cmd(
                "POST",
                "execute/sync",
                Some(json!({"args": [], "script": r#"
                    return {
                      title: document.title,
                      figures: [...document.querySelectorAll('figure')].map(f => {
                        const svg = f.querySelector('svg');
                        const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                        return {
                          id: f.id, width: r.width, height: r.height,
                          shapes: svg ? svg.querySelectorAll('rect,path,polyline,polygon,circle,line').length : 0,
                          text: svg ? svg.querySelectorAll('text').length : 0,
                        };
                      }),
                    };"#})),
            )
            .await;
        let log = self
            .cmd("POST", "se/log", Some(json!({"type": "browser"})))
            .await;
        let severe = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect();
        (shown, severe)
    }

    async fn screenshot(&self, to: &Path) {
        let png = self.cmd("GET", "screenshot", None).await;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(to, &bytes).unwrap();
        eprintln!(
            "report.html screenshot: {} ({} bytes)",
            to.display(),
            bytes.len()
        );
    }

    async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        call(self.addr, "DELETE", &path, None).await;
        let _ = self.child.kill().await;
    }
}

fn demo(out: &Path) -> PathBuf {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
        .args(["demo", "--domains", "300", "--seed", "4", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mxray demo: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let page = out.join("report.html");
    assert!(page.exists(), "mxray demo wrote no {}", page.display());
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Kept apart from the tests that time a stop (common::HEAVY): on 2 cores this one's
// scans slowed a SIGTERM'd scan past its bound in CI. The lock orders whole tests.
#[allow(clippy::await_holding_lock)]
async fn report_html_renders_in_chromium() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let page = tokio::task::spawn_blocking({
        let out = dir.path().join("demo");
        move || demo(&out)
    })
    .await
    .unwrap();
    let Some(driver) = Driver::start().await else {
        return;
    };

    // The control: a page that fetches under the report's own policy, and one that logs an
    // error. If these came back clean, a clean report would prove nothing.
    let html = std::fs::read_to_string(&page).unwrap();
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .expect("report.html has no Content-Security-Policy");
    let csp = &html[csp_start..csp_start + html[csp_start..].find('>').unwrap() + 1];
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        format!(
            "<!DOCTYPE html><html><head>{csp}<title>control</title></head><body>\
             <img src=\"http://127.0.0.1:9/fetched.png\"></body></html>"
        ),
    )
    .unwrap();
    let (_, severe) = driver.load(&control).await;
    assert!(
        !severe.is_empty(),
        "an external fetch under the report's policy left no console error"
    );

    let (shown, severe) = driver.load(&page).await;
    assert!(
        severe.is_empty(),
        "console errors on report.html: {severe:#?}"
    );
    assert!(
        shown["title"].as_str().unwrap().contains("mxray"),
        "title {}",
        shown["title"]
    );
    let figures = shown["figures"].as_array().unwrap();
    for id in CHARTS {
        let f = figures
            .iter()
            .find(|f| f["id"] == *id)
            .unwrap_or_else(|| panic!("no figure {id}: {shown}"));
        assert!(
            f["width"].as_f64().unwrap() > 100.0 && f["height"].as_f64().unwrap() > 100.0,
            "{id} is not drawn at a visible size: {f}"
        );
        assert!(
            f["shapes"].as_u64().unwrap() > 3 && f["text"].as_u64().unwrap() > 1,
            "{id} has no bars, lines or labels: {f}"
        );
    }
    // Kept for a look after the run (cargo's scratch folder for integration tests).
    driver
        .screenshot(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html.png"))
        .await;
    driver.quit().await;
}
