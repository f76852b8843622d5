//! docs/SCHEMA.md and the output contract against the column tables.
//!
//! The `| column | type | meaning |` tables of docs/SCHEMA.md are generated from the column
//! tables; the prose around them is written by hand. `schema_doc_tables_are_the_column_tables`
//! fails while they differ and prints the expected tables; `MXRAY_BLESS=1 cargo test --lib
//! schema_doc` rewrites them in the file instead (refused under CI).
//!
//! The output contract (`../shared/contract/OUTPUT.md` beside the checkout, on developers'
//! machines and in CI, or `$MXRAY_OUTPUT_CONTRACT`) names the columns other tools read: each
//! must exist with its type.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::columns::Row;
use super::rows::{DomainRow, HostRow, RecipientRow};
use crate::report::readiness::ReadinessRow;

/// Contract columns of hosts not built yet. Each is asserted absent, so adding one fails until it
/// leaves this list, and from then on its type is checked. Empty since the SMTP stage landed.
const PENDING_HOSTS: &[&str] = &[];

/// The contract's second round ("## Additions"), likewise: the columns of issue 34 and its
/// neighbours not built yet.
const PENDING_ADDED_DOMAINS: &[&str] = &["dnssec_status", "dns_ede"];
const PENDING_ADDED_HOSTS: &[&str] = &[
    "tls_kx_group",
    "tls_cert_key",
    "tls_cert_sha256",
    "tls_spki_sha256",
];

fn schema_md() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SCHEMA.md")
}

/// The file whose column table generates `table`.
fn source(table: &str) -> &'static str {
    match table {
        "readiness" => "src/report/readiness.rs",
        _ => "src/output/rows.rs",
    }
}

fn begin(table: &str) -> String {
    format!(
        "<!-- BEGIN {table} columns: generated from {} -->\n",
        source(table)
    )
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
        ("recipients", markdown::<RecipientRow>()),
        ("readiness", markdown::<ReadinessRow>()),
    ];
    let bless = bless(
        std::env::var_os("MXRAY_BLESS").as_deref(),
        std::env::var_os("CI").as_deref(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let want = regenerate(&doc, &tables).unwrap_or_else(|e| panic!("{e}"));
    if want == doc {
        return;
    }
    if bless {
        std::fs::write(&path, want).expect("docs/SCHEMA.md is writable");
        let _ = writeln!(
            std::io::stderr(),
            "rewrote the column tables of {}",
            path.display()
        );
        return;
    }
    let mut msg = String::from(
        "docs/SCHEMA.md's column tables differ from the column tables in src/output/rows.rs \
         and src/report/readiness.rs. \
         Run `MXRAY_BLESS=1 cargo test --lib schema_doc` to rewrite them, or paste:\n",
    );
    for (name, table) in &tables {
        msg.push_str(&format!("\n## {name}\n{}{table}{}", begin(name), end(name)));
    }
    panic!("{msg}");
}

/// Whether to rewrite docs/SCHEMA.md (`MXRAY_BLESS=1`). Refused under CI (`CI` set and not
/// empty): CI checks the tables a developer regenerated and committed, and a rewrite there would
/// pass whatever the checkout holds.
fn bless(bless: Option<&OsStr>, ci: Option<&OsStr>) -> Result<bool, String> {
    match (bless, ci) {
        (Some(b), Some(ci)) if !ci.is_empty() => Err(format!(
            "MXRAY_BLESS={} is refused under CI (CI={}): CI checks docs/SCHEMA.md, it does not \
             rewrite it. Run `MXRAY_BLESS=1 cargo test --lib schema_doc` outside CI and commit \
             the file",
            b.display(),
            ci.display()
        )),
        (b, _) => Ok(b.is_some_and(|b| b == "1")),
    }
}

#[test]
fn bless_is_refused_under_ci() {
    let s = |v: &'static str| Some(OsStr::new(v));
    for (b, ci, want) in [
        (None, None, Ok(false)),
        (s("1"), None, Ok(true)),
        (s("1"), s(""), Ok(true)),
        (s("0"), None, Ok(false)),
        (None, s("true"), Ok(false)),
        (s("1"), s("true"), Err(())),
        (s("1"), s("1"), Err(())),
        (s("0"), s("yes"), Err(())),
    ] {
        assert_eq!(
            bless(b, ci).map_err(|_| ()),
            want,
            "MXRAY_BLESS={b:?} CI={ci:?}"
        );
    }
}

#[test]
fn schema_doc_names_the_list_item_field_the_writer_uses() {
    let doc = std::fs::read_to_string(schema_md()).expect("docs/SCHEMA.md is readable");
    let says = format!("item field is named `{}`", crate::columns::LIST_ITEM);
    assert!(
        doc.replace("\n  ", " ").contains(&says),
        "docs/SCHEMA.md should say {says:?}"
    );
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

/// `(column, type)` of each row of the `| column | type | meaning |` table under `## {table}`.
fn contract_columns<'a>(doc: &'a str, table: &str) -> Vec<(&'a str, &'a str)> {
    table_rows(section(doc, &format!("## {table}\n"), "\n## "))
}

/// The same under `### {table}` of `## Additions`.
fn added_columns<'a>(doc: &'a str, table: &str) -> Vec<(&'a str, &'a str)> {
    let additions = section(doc, "## Additions", "\n## ");
    table_rows(section(additions, &format!("### {table}\n"), "\n#"))
}

/// The text after `heading` up to the next `until`; empty without the heading.
fn section<'a>(doc: &'a str, heading: &str, until: &str) -> &'a str {
    let Some(at) = doc.find(heading) else {
        return "";
    };
    let section = &doc[at + heading.len()..];
    &section[..section.find(until).unwrap_or(section.len())]
}

fn table_rows(section: &str) -> Vec<(&str, &str)> {
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter(|l| !l.starts_with("column |") && !l.starts_with("---"))
        .filter_map(|l| {
            let mut cells = l.split(" | ");
            Some((cells.next()?.trim(), cells.next()?.trim()))
        })
        .collect()
}

/// What is wrong with table `R` against the contract's columns; `pending` must be absent.
fn contract_problems<R: Row>(
    table: &str,
    contract: &[(&str, &str)],
    pending: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    if contract.is_empty() {
        problems.push(format!("the contract has no `## {table}` column table"));
    }
    for p in pending {
        if !contract.iter().any(|(name, _)| name == p) {
            problems.push(format!("{table}.{p} is pending but not in the contract"));
        }
    }
    for (name, ty) in contract {
        let col = R::columns().iter().find(|c| c.name == *name);
        match (col, pending.contains(name)) {
            (Some(_), true) => problems.push(format!(
                "{table}.{name} exists now: remove it from the pending list so its type is checked"
            )),
            (None, true) => {}
            (None, false) => problems.push(format!("{table}.{name} ({ty}) is missing")),
            (Some(c), false) if c.ty.to_string() != *ty => problems.push(format!(
                "{table}.{name} is {} but the contract says {ty}",
                c.ty
            )),
            (Some(_), false) => {}
        }
    }
    problems
}

#[test]
fn contract_columns_exist_with_the_contract_types() {
    // A clone outside the developers' tree (a fresh CI checkout) points at it with the variable.
    let path = std::env::var_os("MXRAY_OUTPUT_CONTRACT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/contract/OUTPUT.md"),
        PathBuf::from,
    );
    let Ok(doc) = std::fs::read_to_string(&path) else {
        // Straight to stderr, not eprintln!: the test harness swallows a passing test's output.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIP contract_columns_exist_with_the_contract_types: {} not found, \
             the output contract was NOT checked !!!!!!!!\n",
            path.display()
        );
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI is set but the output contract is missing: {} (set MXRAY_OUTPUT_CONTRACT)",
            path.display()
        );
        return;
    };
    let mut problems =
        contract_problems::<DomainRow>("domains", &contract_columns(&doc, "domains"), &[]);
    problems.extend(contract_problems::<HostRow>(
        "hosts",
        &contract_columns(&doc, "hosts"),
        PENDING_HOSTS,
    ));
    problems.extend(contract_problems::<DomainRow>(
        "domains",
        &added_columns(&doc, "domains"),
        PENDING_ADDED_DOMAINS,
    ));
    problems.extend(contract_problems::<HostRow>(
        "hosts",
        &added_columns(&doc, "hosts"),
        PENDING_ADDED_HOSTS,
    ));
    assert!(
        problems.is_empty(),
        "the tables do not meet {}:\n  {}",
        path.display(),
        problems.join("\n  ")
    );
}

#[test]
fn contract_problems_are_found() {
    let doc = "## hosts\n\n| column | type | meaning |\n|---|---|---|\n\
               | ip | utf8 | x |\n| asn | uint64 | x |\n| nope | bool | x |\n\
               | host_status | utf8 | pending, but present |\n| smtp_x | utf8 | pending |\n\n## next\n";
    let cols = contract_columns(doc, "hosts");
    assert_eq!(cols.len(), 5);
    let p = contract_problems::<HostRow>("hosts", &cols, &["host_status", "smtp_x", "gone"]);
    assert_eq!(
        p,
        [
            "hosts.gone is pending but not in the contract",
            "hosts.asn is uint32 but the contract says uint64",
            "hosts.nope (bool) is missing",
            "hosts.host_status exists now: remove it from the pending list so its type is checked",
        ]
    );
}

#[test]
fn added_columns_are_read_from_their_subsection() {
    let doc = "## hosts\n\n| column | type | meaning |\n|---|---|---|\n| ip | utf8 | x |\n\n\
               ## Additions (second round)\n\nprose\n\n### domains\n\n| column | type | meaning |\n\
               |---|---|---|\n| mx_ipv6 | bool | x |\n\n### hosts\n\n| column | type | meaning |\n\
               |---|---|---|\n| rpki_status | utf8 | x |\n| tls_cipher | utf8 | x |\n\n\
               ### transport\n\n| column | type | meaning |\n|---|---|---|\n| domain | utf8 | |\n";
    assert_eq!(contract_columns(doc, "hosts"), [("ip", "utf8")]);
    assert_eq!(added_columns(doc, "domains"), [("mx_ipv6", "bool")]);
    assert_eq!(
        added_columns(doc, "hosts"),
        [("rpki_status", "utf8"), ("tls_cipher", "utf8")]
    );
}
