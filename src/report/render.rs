//! The sections as Markdown and as one self-contained HTML page (maud: markup is built as a
//! tree and escaped by the template, never pasted together from strings; only the charts' SVG,
//! which plotters wrote and escaped itself, goes in as is).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::figures::{Section, Table, num};
use super::read::Reading;

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn md_table(out: &mut String, t: &Table) {
    out.push_str(&format!("**{}**\n\n", md_cell(&t.caption)));
    let head: Vec<String> = t.head.iter().map(|h| md_cell(h)).collect();
    out.push_str(&format!("| {} |\n", head.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(t.head.len())));
    if t.rows.is_empty() {
        let mut empty = vec!["(none)".to_string()];
        empty.resize(t.head.len(), String::new());
        out.push_str(&format!("| {} |\n", empty.join(" | ")));
    }
    for r in &t.rows {
        let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

fn inputs_table(reading: &Reading) -> Table {
    Table {
        caption: "Inputs".into(),
        head: vec![
            "directory".into(),
            "state".into(),
            "shard".into(),
            "started".into(),
        ],
        rows: reading
            .inputs
            .iter()
            .map(|i| {
                vec![
                    i.dir.display().to_string(),
                    i.state.clone().unwrap_or_else(|| "no run.json".into()),
                    i.shard.clone().unwrap_or_default(),
                    i.started_at.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

fn reading_summary(reading: &Reading) -> String {
    format!(
        "{} domains parts ({} rows) and {} hosts parts ({} rows, {} of them another shard's copy \
         of an address, counted once; {} without a valid address); {} parts skipped.",
        num(reading.domain_parts),
        num(reading.domain_rows),
        num(reading.host_parts),
        num(reading.host_rows),
        num(reading.host_duplicates),
        num(reading.host_bad_ip),
        num(reading.skipped.len() as u64)
    )
}

fn running(reading: &Reading) -> bool {
    reading
        .inputs
        .iter()
        .any(|i| i.state.as_deref() == Some("running"))
}

const RUNNING: &str = "A scan was still running when this report was made: the figures cover the parts written so far.";

/// report.md.
pub fn markdown(
    title: &str,
    generated_at: &str,
    reading: &Reading,
    sections: &[Section],
) -> String {
    let mut out = format!(
        "# {title}\n\nGenerated {generated_at} by mxray {}.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    if running(reading) {
        out.push_str(&format!("> {RUNNING}\n\n"));
    }
    out.push_str("## What was read\n\n");
    out.push_str(&reading_summary(reading));
    out.push_str("\n\n");
    md_table(&mut out, &inputs_table(reading));
    for s in &reading.skipped {
        out.push_str(&format!(
            "- skipped `{}`: {}\n",
            s.path.display(),
            md_cell(&s.reason)
        ));
    }
    if !reading.skipped.is_empty() {
        out.push('\n');
    }
    for s in sections {
        out.push_str(&format!("## {}\n\n{}\n\n", s.title, s.basis));
        for t in &s.tables {
            md_table(&mut out, t);
        }
        for c in &s.charts {
            out.push_str(&format!(
                "*Chart (in report.html, `#chart-{}`): {}.* {}\n\n",
                c.id, c.title, c.caption
            ));
        }
        for n in &s.notes {
            out.push_str(&format!("- {n}\n"));
        }
        if !s.notes.is_empty() {
            out.push('\n');
        }
    }
    out
}

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 2rem;color:#1a202c;line-height:1.45}\
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #2b6cb0;padding-bottom:.2rem;margin-top:2.2rem}\
nav ul{columns:3;list-style:none;padding:0}nav a{color:#2b6cb0}\
.basis{color:#4a5568}.warn{background:#fefcbf;border-left:4px solid #d69e2e;padding:.5rem 1rem}\
table{border-collapse:collapse;margin:.4rem 0 1.2rem;font-size:.92rem;min-width:50%}\
caption{text-align:left;font-weight:600;padding:.3rem 0}\
th,td{border-bottom:1px solid #e2e8f0;padding:.25rem .7rem;text-align:left;vertical-align:top}\
th{background:#edf2f7}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
figure{margin:1rem 0;max-width:720px}figure svg{max-width:100%;height:auto}\
figcaption{color:#4a5568;font-size:.9rem}footer{margin-top:3rem;color:#718096;font-size:.85rem}";

fn is_number(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '<' || c == '>')
        && s.chars()
            .all(|c| c.is_ascii_digit() || ",.% <>ofna/".contains(c))
}

fn html_table(t: &Table) -> Markup {
    html! {
        table {
            caption { (t.caption) }
            thead { tr { @for h in &t.head { th scope="col" { (h) } } } }
            tbody {
                @if t.rows.is_empty() {
                    tr { td colspan=(t.head.len()) { "(none)" } }
                }
                @for r in &t.rows {
                    tr {
                        @for c in r {
                            @if is_number(c) { td class="n" { (c) } } @else { td { (c) } }
                        }
                    }
                }
            }
        }
    }
}

/// report.html's Content-Security-Policy: its inline style, nothing else.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// report.html: one page, inline CSS and SVG, no script, nothing fetched.
pub fn html(title: &str, generated_at: &str, reading: &Reading, sections: &[Section]) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // The page is self-contained by promise: the policy makes it so (a browser
                // refuses any fetch, script or font, and says so on its console).
                meta http-equiv="Content-Security-Policy" content=(CSP);
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (title) }
                    p.basis { "Generated " (generated_at) " by mxray " (env!("CARGO_PKG_VERSION")) "." }
                    @if running(reading) { p.warn { (RUNNING) } }
                }
                nav {
                    ul {
                        li { a href="#reading" { "What was read" } }
                        @for s in sections { li { a href={ "#" (s.id) } { (s.title) } } }
                    }
                }
                main {
                    section id="reading" {
                        h2 { "What was read" }
                        p.basis { (reading_summary(reading)) }
                        (html_table(&inputs_table(reading)))
                        @if !reading.skipped.is_empty() {
                            ul {
                                @for s in &reading.skipped {
                                    li { "skipped " code { (s.path.display().to_string()) } ": " (s.reason) }
                                }
                            }
                        }
                    }
                    @for s in sections {
                        section id=(s.id) {
                            h2 { (s.title) }
                            p.basis { (s.basis) }
                            @for c in &s.charts {
                                figure id={ "chart-" (c.id) } {
                                    (PreEscaped(&c.svg))
                                    figcaption { (c.title) ". " (c.caption) }
                                }
                            }
                            @for t in &s.tables { (html_table(t)) }
                            @if !s.notes.is_empty() {
                                ul { @for n in &s.notes { li { (n) } } }
                            }
                        }
                    }
                }
                footer { "mxray report: every share is written with its denominator. Raw counts: report.json." }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportOptions;
    use crate::report::aggregate::Aggregates;
    use crate::report::figures::sections;

    fn page() -> (String, String) {
        let mut a = Aggregates::default();
        a.domains.rows = 3;
        a.domains.dmarc_p.add_n("reject", 2);
        a.domains.dmarc_p.add_n("null", 1);
        a.domains.spf_lookups.insert(2, 3);
        a.domains.spf_ipv4_buckets.insert(9, 3);
        a.domains.spf_status.add_n("valid", 3);
        a.hosts.starttls.add_n("true", 1);
        a.hosts.tls_version.add_n("TLSv1.3", 1);
        let mut reading = Reading::default();
        reading.skipped.push(crate::report::read::Skipped {
            path: "d/domains/part-00001.parquet".into(),
            reason: "<no footer> & more".into(),
        });
        let s = sections(&a, &reading, &ReportOptions::new(vec![])).unwrap();
        (
            html("t", "2026-01-01T00:00:00Z", &reading, &s),
            markdown("t", "2026-01-01T00:00:00Z", &reading, &s),
        )
    }

    #[test]
    fn html_is_self_contained_with_inline_charts() {
        let (h, _) = page();
        assert!(h.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        for id in [
            "chart-dmarc-p",
            "chart-spf-lookups",
            "chart-spf-ipv4-cdf",
            "chart-starttls",
            "chart-tls-version",
        ] {
            let tag = format!("<figure id=\"{id}\">");
            let at = h.find(&tag).unwrap_or_else(|| panic!("{id}"));
            assert!(h[at + tag.len()..].starts_with("<svg"), "{id}");
        }
        assert!(!h.contains("<script"));
        // Nothing fetched: the only URL is the SVG namespace name, which is never loaded.
        assert!(!h.contains("src=") && !h.contains("href=\"http"));
        assert!(!h.contains("<link") && !h.contains("@import") && !h.contains("url("));
        // Text from the data is escaped by the template.
        assert!(h.contains("&lt;no footer&gt; &amp; more"));
    }

    #[test]
    fn markdown_has_every_section_and_escapes_pipes() {
        let (_, m) = page();
        for t in [
            "## SPF",
            "## DMARC",
            "## DKIM",
            "## MX",
            "## Bulk-sender readiness",
            "## What was read",
        ] {
            assert!(m.contains(t), "{t}");
        }
        assert!(m.contains("| reject | 2 | 66.7% of 3 |"), "{m}");
        assert!(!md_cell("a|b").contains("a|b"));
    }
}
