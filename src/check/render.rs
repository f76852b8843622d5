//! A report as text (plain, or with colour and symbols for a terminal) and as one JSON document
//! whose rows carry the scan's own column names (serialised through the column tables).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde_json::{Map, Value as Json, json};

use super::{Item, Mark, OUTSIDE, Report};
use crate::columns::{Row, StructItems, Value, csv_cell};

/// How text is drawn. The caller decides from the terminal and `NO_COLOR`; the library never
/// looks at either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextStyle {
    /// ANSI colours and symbols (a terminal); plain words otherwise.
    pub color: bool,
}

impl TextStyle {
    fn mark(self, m: Mark) -> String {
        if !self.color {
            return match m {
                Mark::Pass => "[ ok ]",
                Mark::Fail => "[FAIL]",
                Mark::Warn => "[warn]",
                Mark::Unknown => "[ ?? ]",
            }
            .to_string();
        }
        let (symbol, color) = match m {
            Mark::Pass => ("✔", AnsiColor::Green),
            Mark::Fail => ("✘", AnsiColor::Red),
            Mark::Warn => ("!", AnsiColor::Yellow),
            Mark::Unknown => ("?", AnsiColor::Cyan),
        };
        let s = Style::new().fg_color(Some(color.into())).bold();
        format!("{s}{symbol}{s:#}")
    }

    fn bold(self, text: &str) -> String {
        if self.color {
            let s = Style::new().bold();
            format!("{s}{text}{s:#}")
        } else {
            text.to_string()
        }
    }

    fn dim(self, text: &str) -> String {
        if self.color {
            let s = Style::new().dimmed();
            format!("{s}{text}{s:#}")
        } else {
            text.to_string()
        }
    }
}

/// The checklist as text: a heading, one line per item (mark, title, finding) with the fix
/// under a failure or a warning, a count, and what cannot be checked from outside.
pub fn text(r: &Report, style: TextStyle) -> String {
    let mut out = String::new();
    let target = &r.observed.target;
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!("mxray check {target} ({})", target.kind()))
    );
    for i in &r.items {
        line(&mut out, i, style);
    }
    let counts = r
        .counts()
        .iter()
        .rev()
        .map(|(m, n)| format!("{n} {}", count_word(*m)))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "\n{counts}");
    let _ = writeln!(
        out,
        "\n{}",
        style.bold("What cannot be checked from outside")
    );
    for fact in OUTSIDE {
        let _ = writeln!(out, "  - {fact}");
    }
    out
}

fn count_word(m: Mark) -> &'static str {
    match m {
        Mark::Pass => "passed",
        Mark::Fail => "failed",
        Mark::Warn => "warnings",
        Mark::Unknown => "could not tell",
    }
}

fn line(out: &mut String, i: &Item, style: TextStyle) {
    let _ = writeln!(
        out,
        "{} {}: {}",
        style.mark(i.mark),
        style.bold(i.title),
        i.finding
    );
    if let (Some(fix), Mark::Fail | Mark::Warn) = (&i.fix, i.mark) {
        let _ = writeln!(out, "       {} {fix}.", style.dim("fix:"));
    }
}

/// One JSON document for the target: the checklist, then the rows under the scan's column
/// names (`domain`, `hosts`, `recipients`).
pub fn json(r: &Report) -> Json {
    let o = &r.observed;
    let items: Vec<Json> = r
        .items
        .iter()
        .map(|i| {
            json!({
                "item": i.id,
                "title": i.title,
                "mark": i.mark.as_str(),
                "finding": i.finding,
                "fix": i.fix,
            })
        })
        .collect();
    let counts: Map<String, Json> = r
        .counts()
        .iter()
        .map(|(m, n)| (m.as_str().to_string(), json!(n)))
        .collect();
    json!({
        "target": o.target.to_string(),
        "kind": o.target.kind(),
        "result": r.worst().as_str(),
        "counts": counts,
        "checklist": items,
        "domain": o.domain.as_ref().map(row),
        "hosts": o.hosts.iter().map(|h| row(&h.row)).collect::<Vec<_>>(),
        "recipients": o.hosts.iter().flat_map(|h| &h.recipients).map(row).collect::<Vec<_>>(),
        "dnsbl_zones": o.dnsbl_zones,
        "cannot_check_from_outside": OUTSIDE,
    })
}

/// A row as a JSON object through its table's columns: the names and values a scan writes.
pub fn row<R: Row>(r: &R) -> Json {
    Json::Object(
        R::columns()
            .iter()
            .map(|c| (c.name.to_string(), value(&c.value(r))))
            .collect(),
    )
}

fn value(v: &Value) -> Json {
    match v {
        Value::Str(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::U8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::U64(x) => json!(x),
        // RFC 3339, as the CSV writes timestamps.
        Value::Ts(_) | Value::TsOpt(Some(_)) => json!(csv_cell(v)),
        Value::TsOpt(None) => Json::Null,
        Value::StrList(l) => json!(l),
        Value::U8List(l) => json!(l),
        Value::StructList(None) => Json::Null,
        Value::StructList(Some(items)) => structs(*items),
    }
}

fn structs(items: &dyn StructItems) -> Json {
    let fields = items.fields();
    Json::Array(
        (0..items.len())
            .map(|i| {
                Json::Object(
                    fields
                        .iter()
                        .enumerate()
                        .map(|(j, f)| (f.name.to_string(), value(&items.field(i, j))))
                        .collect(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckTarget, Observed};
    use crate::output::DomainRow;

    fn report() -> Report {
        Report {
            observed: Observed {
                target: CheckTarget::Domain("x.example".into()),
                domain: Some(DomainRow::failed("x.example", "test", 1_700_000_000_000)),
                hosts: Vec::new(),
                dnsbl_zones: Vec::new(),
                smtp: true,
            },
            items: vec![
                Item {
                    id: "spf",
                    title: "SPF",
                    mark: Mark::Fail,
                    finding: "no SPF record".into(),
                    fix: Some("publish one".into()),
                },
                Item {
                    id: "bimi",
                    title: "BIMI",
                    mark: Mark::Pass,
                    finding: "none".into(),
                    fix: Some("never shown under a pass".into()),
                },
            ],
        }
    }

    #[test]
    fn plain_text_has_no_escape_and_the_fix_under_a_failure() {
        let t = text(&report(), TextStyle { color: false });
        assert!(!t.contains('\x1b'), "{t}");
        assert!(
            t.contains("[FAIL] SPF: no SPF record\n       fix: publish one.\n"),
            "{t}"
        );
        assert!(t.contains("[ ok ] BIMI: none\n"), "{t}");
        assert!(!t.contains("never shown"), "{t}");
        assert!(
            t.contains("1 failed, 0 warnings, 0 could not tell, 1 passed"),
            "{t}"
        );
        let colored = text(&report(), TextStyle { color: true });
        assert!(
            colored.contains('\x1b') && colored.contains('✘'),
            "{colored}"
        );
    }

    #[test]
    fn json_rows_use_the_column_names() {
        let j = json(&report());
        assert_eq!(j["result"], "fail");
        assert_eq!(j["domain"]["domain"], "x.example");
        assert_eq!(j["domain"]["spf_status"], "error");
        assert_eq!(j["domain"]["scanned_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(j["checklist"][0]["item"], "spf");
        let names = DomainRow::columns().len();
        assert_eq!(j["domain"].as_object().unwrap().len(), names);
    }
}
