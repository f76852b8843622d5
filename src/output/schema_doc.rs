//! docs/SCHEMA.md and the output contract against the column tables.
//!
//! The `| column | type | meaning |` tables of docs/SCHEMA.md are generated from the column
//! tables; the prose around them is written by hand. `schema_doc_tables_are_the_column_tables`
//! fails while they differ and prints the expected tables; `MXRAY_BLESS=1 cargo test --lib
//! schema_doc` rewrites them in the file instead.

use std::path::{Path, PathBuf};

use super::columns::Row;
use super::rows::{DomainRow, HostRow};

fn schema_md() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SCHEMA.md")
}

fn begin(table: &str) -> String {
    format!("<!-- BEGIN {table} columns: generated from src/output/rows.rs -->\n")
}

fn end(table: &str) -> String {
    format!("<!-- END {table} columns -->\n")
}

fn markdown<R: Row>() -> String {
    let mut t = String::from("| column | type | meaning |\n|---|---|---|\n");
    for c in R::columns() {
        // A `|` or a line break would end the cell early.
        assert!(
            !c.doc.contains(['|', '\n']),
            "the doc of {} cannot be a table cell",
            c.name
        );
        let doc = if c.doc.is_empty() {
            String::new()
        } else {
            format!(" {}", c.doc)
        };
        t.push_str(&format!("| {} | {} |{doc} |\n", c.name, c.ty));
    }
    t
}

/// The document with each table's generated region replaced by the table.
fn regenerate(doc: &str, tables: &[(&str, String)]) -> Result<String, String> {
    let mut out = doc.to_owned();
    for (name, table) in tables {
        let (b, e) = (begin(name), end(name));
        let start = out
            .find(&b)
            .ok_or_else(|| format!("docs/SCHEMA.md has no line {b:?}"))?
            + b.len();
        let stop = start
            + out[start..]
                .find(&e)
                .ok_or_else(|| format!("docs/SCHEMA.md has no line {e:?} after {b:?}"))?;
        out.replace_range(start..stop, table);
    }
    Ok(out)
}

#[test]
fn schema_doc_tables_are_the_column_tables() {
    let path = schema_md();
    let doc = std::fs::read_to_string(&path).expect("docs/SCHEMA.md is readable");
    let tables = [
        ("domains", markdown::<DomainRow>()),
        ("hosts", markdown::<HostRow>()),
    ];
    let want = regenerate(&doc, &tables).unwrap_or_else(|e| panic!("{e}"));
    if want == doc {
        return;
    }
    if std::env::var_os("MXRAY_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, want).expect("docs/SCHEMA.md is writable");
        eprintln!("rewrote the column tables of {}", path.display());
        return;
    }
    let mut msg = String::from(
        "docs/SCHEMA.md's column tables differ from the column tables in src/output/rows.rs. \
         Run `MXRAY_BLESS=1 cargo test --lib schema_doc` to rewrite them, or paste:\n",
    );
    for (name, table) in &tables {
        msg.push_str(&format!("\n## {name}\n{}{table}{}", begin(name), end(name)));
    }
    panic!("{msg}");
}

#[test]
fn regenerate_keeps_the_prose() {
    let doc = format!("intro\n{}old\n{}after\n", begin("t"), end("t"));
    let got = regenerate(&doc, &[("t", "new\n".into())]).unwrap();
    assert_eq!(
        got,
        format!("intro\n{}new\n{}after\n", begin("t"), end("t"))
    );
    assert!(regenerate("no markers", &[("t", String::new())]).is_err());
}
