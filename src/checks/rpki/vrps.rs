//! The VRP exports of the relying-party software, read from bytes (the file is read by the input
//! layer, [`crate::rpki`]). One reader per layout, told apart by the first character:
//!
//! - JSON, `{"roas": [{"asn": ..., "prefix": "192.0.2.0/24", "maxLength": 24, ...}, ...]}`:
//!   Routinator's `json` and `jsonext` (`"asn": "AS64496"`, with `ta` or `source`), rpki-client's
//!   `-j` (`"asn": 64496`, with `ta` and `expires`; older versions wrote `"AS64496"`), Fort's
//!   `--output.format=json` (`"asn": "AS64496"`, no `ta`). Other members (`metadata`, `aspas`,
//!   `routerKeys`, `bgpsec_keys`) are ignored.
//! - CSV with a header naming the columns: Routinator's `csv` (`ASN,IP Prefix,Max Length,Trust
//!   Anchor`) and `csvcompat` (the same quoted, the AS without `AS`), rpki-client's `-c` (`ASN,IP
//!   Prefix,Max Length,Trust Anchor,Expires`), Fort's default (`ASN,Prefix,Max prefix length`).
//!
//! Every entry must be well formed: a file cut short or edited by hand is refused with the line
//! (CSV) or the entry (JSON) that is wrong, since a VRP silently dropped would turn its routes'
//! `invalid` into `not-found` or the reverse.

use std::borrow::Cow;

use ipnet::IpNet;
use serde::Deserialize;

use super::{Vrp, VrpSet};

/// A VRP file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VrpError {
    /// A CSV line (1-based, the header is line 1).
    #[error("line {line}: {reason}")]
    Csv { line: u64, reason: String },
    /// The JSON is not an export of the expected shape; serde_json's position and the member it
    /// was reading (`roas[3].maxLength`).
    #[error("JSON line {line}, column {column}, at {path}: {reason}")]
    Json {
        line: usize,
        column: usize,
        path: String,
        reason: String,
    },
    /// A JSON entry of the right shape whose values are wrong.
    #[error("JSON entry roas[{index}]: {reason}")]
    JsonEntry { index: usize, reason: String },
    /// A file without a single VRP would judge every route `not-found`.
    #[error("no VRP in the file")]
    Empty,
}

/// The layout a file was read as, for the run log and run.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrpFormat {
    Json,
    Csv,
}

impl VrpFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            VrpFormat::Json => "json",
            VrpFormat::Csv => "csv",
        }
    }
}

/// Reads an export, JSON or CSV by its first character.
pub fn parse(bytes: &[u8]) -> Result<(VrpSet, VrpFormat), VrpError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let (set, format) = if first == Some(&b'{') {
        (parse_json(bytes)?, VrpFormat::Json)
    } else {
        (parse_csv(bytes)?, VrpFormat::Csv)
    };
    if set.is_empty() {
        return Err(VrpError::Empty);
    }
    Ok((set, format))
}

#[derive(Deserialize)]
struct Export<'a> {
    #[serde(borrow)]
    roas: Vec<JsonVrp<'a>>,
}

#[derive(Deserialize)]
struct JsonVrp<'a> {
    asn: JsonAsn<'a>,
    #[serde(borrow)]
    prefix: Cow<'a, str>,
    #[serde(rename = "maxLength")]
    max_length: u8,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonAsn<'a> {
    Number(u32),
    Text(#[serde(borrow)] Cow<'a, str>),
}

/// The JSON export.
pub fn parse_json(bytes: &[u8]) -> Result<VrpSet, VrpError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let export: Export = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        VrpError::Json {
            line: inner.line(),
            column: inner.column(),
            path,
            reason: reason_of(&inner),
        }
    })?;
    de.end().map_err(|e| VrpError::Json {
        line: e.line(),
        column: e.column(),
        path: ".".into(),
        reason: reason_of(&e),
    })?;
    let mut set = VrpSet::default();
    for (index, v) in export.roas.into_iter().enumerate() {
        let asn = match &v.asn {
            JsonAsn::Number(n) => Ok(*n),
            JsonAsn::Text(t) => parse_asn(t),
        };
        let vrp = asn.and_then(|asn| vrp(&v.prefix, v.max_length, asn));
        set.insert(vrp.map_err(|reason| VrpError::JsonEntry { index, reason })?);
    }
    Ok(set)
}

/// serde_json's message without its own ` at line L column C` (the error says where).
fn reason_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Where each needed column is, from the header's names.
struct CsvColumns {
    asn: usize,
    prefix: usize,
    max_length: usize,
}

impl CsvColumns {
    fn of(header: &csv::ByteRecord) -> Result<CsvColumns, String> {
        let find = |names: &[&str]| {
            header.iter().position(|h| {
                let h = String::from_utf8_lossy(h);
                names.iter().any(|n| h.trim().eq_ignore_ascii_case(n))
            })
        };
        match (
            find(&["ASN"]),
            find(&["IP Prefix", "Prefix"]),
            find(&["Max Length", "Max prefix length", "maxLength"]),
        ) {
            (Some(asn), Some(prefix), Some(max_length)) => Ok(CsvColumns {
                asn,
                prefix,
                max_length,
            }),
            _ => Err(format!(
                "expected a header naming the columns ASN, IP Prefix (or Prefix) and Max Length \
                 (or Max prefix length), as Routinator, rpki-client and Fort write, got {:?}",
                String::from_utf8_lossy(&header.as_slice()[..header.as_slice().len().min(200)])
            )),
        }
    }
}

/// The CSV export.
pub fn parse_csv(bytes: &[u8]) -> Result<VrpSet, VrpError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let line_of = |r: &csv::ByteRecord| r.position().map_or(0, |p| p.line());
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(csv_error(&e)),
        None => return Err(VrpError::Empty),
    };
    let cols = CsvColumns::of(&header).map_err(|reason| VrpError::Csv {
        line: line_of(&header),
        reason,
    })?;
    let width = header.len();
    let mut set = VrpSet::default();
    for record in records {
        let record = record.map_err(|e| csv_error(&e))?;
        let line = line_of(&record);
        let err = |reason: String| VrpError::Csv { line, reason };
        if record.len() != width {
            return Err(err(format!(
                "{} fields where the header has {width}",
                record.len()
            )));
        }
        let vrp = csv_vrp(&record, &cols);
        set.insert(vrp.map_err(err)?);
    }
    Ok(set)
}

/// One CSV record's VRP.
fn csv_vrp(record: &csv::ByteRecord, cols: &CsvColumns) -> Result<Vrp, String> {
    let field = |i: usize| {
        std::str::from_utf8(&record[i])
            .map(str::trim)
            .map_err(|_| "not UTF-8".to_string())
    };
    let asn = parse_asn(field(cols.asn)?)?;
    let max = field(cols.max_length)?;
    let max_length = max
        .parse::<u8>()
        .map_err(|_| format!("bad max length {max:?}"))?;
    vrp(field(cols.prefix)?, max_length, asn)
}

fn csv_error(e: &csv::Error) -> VrpError {
    VrpError::Csv {
        line: e.position().map_or(0, |p| p.line()),
        reason: e.to_string(),
    }
}

/// `AS64496`, `as64496` or `64496`.
fn parse_asn(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad AS number {text:?}"));
    }
    digits
        .parse()
        .map_err(|_| format!("AS number {text:?} out of range"))
}

/// A VRP from its parts, as RFC 9582 4.3.2 bounds them: the max length is at least the prefix
/// length and at most the family's bits; the prefix has no bits set past its length.
fn vrp(prefix: &str, max_length: u8, asn: u32) -> Result<Vrp, String> {
    let net: IpNet = prefix
        .trim()
        .parse()
        .map_err(|_| format!("bad prefix {prefix:?}"))?;
    if net.trunc() != net {
        return Err(format!("prefix {prefix:?} has bits set past its length"));
    }
    if max_length < net.prefix_len() || max_length > net.max_prefix_len() {
        return Err(format!(
            "max length {max_length} outside {}..={} for {prefix}",
            net.prefix_len(),
            net.max_prefix_len()
        ));
    }
    Ok(Vrp {
        prefix: net,
        max_length,
        asn,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Route, RouteValidity};
    use super::*;

    /// The routes every export below is judged on, and what the three VRPs they all hold
    /// (192.0.2.0/24-24 AS64496, 2001:db8::/32-48 AS64497, 198.51.100.0/24-24 AS0) say.
    fn judged(set: &VrpSet) -> Vec<RouteValidity> {
        [
            ("192.0.2.0/24", 64496),
            ("192.0.2.0/24", 64499),
            ("2001:db8:1::/48", 64497),
            ("198.51.100.0/24", 64496),
            ("203.0.113.0/24", 64496),
        ]
        .iter()
        .map(|(p, o)| {
            set.validate(Route {
                prefix: p.parse().unwrap(),
                origin: *o,
            })
        })
        .collect()
    }

    use RouteValidity::*;
    const WANT: [RouteValidity; 5] = [Valid, Invalid, Valid, Invalid, NotFound];

    /// One export per tool and layout, in the form each writes (see the module docs).
    #[test]
    fn every_tools_export_reads_the_same() {
        for (tool, text, format) in [
            (
                "Routinator json",
                r#"{"metadata": {"generated": 1, "generatedTime": "2026-12-07T00:00:00Z"},
                  "roas": [
                    { "asn": "AS64496", "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe" },
                    { "asn": "AS64497", "prefix": "2001:db8::/32", "maxLength": 48, "ta": "ripe" },
                    { "asn": "AS0", "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "apnic" }
                  ]}"#,
                VrpFormat::Json,
            ),
            (
                "Routinator jsonext",
                r#"{"metadata": {"generated": 1},
                  "roas": [
                    { "asn": "AS64496", "prefix": "192.0.2.0/24", "maxLength": 24, "source": [ { "type": "roa", "uri": "rsync://x/a.roa", "tal": "ripe" } ] },
                    { "asn": "AS64497", "prefix": "2001:db8::/32", "maxLength": 48, "source": [ { "type": "exception", "path": null } ] },
                    { "asn": "AS0", "prefix": "198.51.100.0/24", "maxLength": 24, "source": [] }
                  ],
                  "aspas": []}"#,
                VrpFormat::Json,
            ),
            (
                "rpki-client json",
                "{\n\t\"metadata\": {\"buildmachine\": \"x\", \"vrps\": 3},\n\t\"roas\": [\n\
                 \t\t{ \"asn\": 64496, \"prefix\": \"192.0.2.0/24\", \"maxLength\": 24, \"ta\": \"ripe\", \"expires\": 1765000000 },\n\
                 \t\t{ \"asn\": 64497, \"prefix\": \"2001:db8::/32\", \"maxLength\": 48, \"ta\": \"ripe\", \"expires\": 1765000000 },\n\
                 \t\t{ \"asn\": 0, \"prefix\": \"198.51.100.0/24\", \"maxLength\": 24, \"ta\": \"apnic\", \"expires\": 1765000000 }\n\
                 \t],\n\n\t\"bgpsec_keys\": [\n\t]\n}\n",
                VrpFormat::Json,
            ),
            (
                "Fort json",
                "{ \"roas\" : [\n  { \"asn\" : \"AS64496\", \"prefix\" : \"192.0.2.0/24\", \"maxLength\" : 24 },\n  \
                 { \"asn\" : \"AS64497\", \"prefix\" : \"2001:db8::/32\", \"maxLength\" : 48 },\n  \
                 { \"asn\" : \"AS0\", \"prefix\" : \"198.51.100.0/24\", \"maxLength\" : 24 }\n]}\n",
                VrpFormat::Json,
            ),
            (
                "Routinator csv",
                "ASN,IP Prefix,Max Length,Trust Anchor\nAS64496,192.0.2.0/24,24,ripe\n\
                 AS64497,2001:db8::/32,48,ripe\nAS0,198.51.100.0/24,24,apnic\n",
                VrpFormat::Csv,
            ),
            (
                "Routinator csvcompat",
                "\"ASN\",\"IP Prefix\",\"Max Length\",\"Trust Anchor\"\r\n\"64496\",\"192.0.2.0/24\",\"24\",\"ripe\"\r\n\
                 \"64497\",\"2001:db8::/32\",\"48\",\"ripe\"\r\n\"0\",\"198.51.100.0/24\",\"24\",\"apnic\"\r\n",
                VrpFormat::Csv,
            ),
            (
                "rpki-client csv",
                "ASN,IP Prefix,Max Length,Trust Anchor,Expires\nAS64496,192.0.2.0/24,24,ripe,1765000000\n\
                 AS64497,2001:db8::/32,48,ripe,1765000000\nAS0,198.51.100.0/24,24,apnic,1765000000\n",
                VrpFormat::Csv,
            ),
            (
                "Fort csv",
                "ASN,Prefix,Max prefix length\nAS64496,192.0.2.0/24,24\nAS64497,2001:db8::/32,48\n\
                 AS0,198.51.100.0/24,24\n",
                VrpFormat::Csv,
            ),
        ] {
            let (set, got) = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{tool}: {e}"));
            assert_eq!(got, format, "{tool}");
            assert_eq!(set.len(), 3, "{tool}");
            assert_eq!(judged(&set), WANT, "{tool}");
        }
    }

    /// A malformed file is refused, naming the line (CSV) or the entry and position (JSON).
    #[test]
    fn malformed_files_name_the_line_or_entry() {
        let header = "ASN,IP Prefix,Max Length,Trust Anchor\n";
        let ok = "AS64496,192.0.2.0/24,24,ripe\n";
        for (text, want) in [
            (format!("{header}{ok}AS64496,192.0.2.0/24,xx,ripe\n"), "line 3: bad max length \"xx\""),
            (format!("{header}{ok}{ok}ASX,192.0.2.0/24,24,ripe\n"), "line 4: bad AS number \"ASX\""),
            (format!("{header}AS4294967296,192.0.2.0/24,24,ripe\n"), "line 2: AS number \"AS4294967296\" out of range"),
            (format!("{header}AS1,192.0.2.300/24,24,ripe\n"), "line 2: bad prefix \"192.0.2.300/24\""),
            (format!("{header}AS1,192.0.2.1/24,24,ripe\n"), "line 2: prefix \"192.0.2.1/24\" has bits set past its length"),
            (format!("{header}AS1,192.0.2.0/24,23,ripe\n"), "line 2: max length 23 outside 24..=32 for 192.0.2.0/24"),
            (format!("{header}AS1,192.0.2.0/24,33,ripe\n"), "line 2: max length 33 outside 24..=32 for 192.0.2.0/24"),
            (format!("{header}{ok}AS1,192.0.2.0/24\n"), "line 3: 2 fields where the header has 4"),
            ("prefix,origin\n192.0.2.0/24,1\n".into(), "line 1: expected a header naming the columns ASN"),
            (header.into(), "no VRP in the file"),
            ("".into(), "no VRP in the file"),
            (
                "{\"roas\": [\n {\"asn\": 1, \"prefix\": \"192.0.2.0/24\", \"maxLength\": 24},\n {\"asn\": 1, \"prefix\": \"192.0.2.0/24\", \"maxLength\": \"x\"}\n]}".into(),
                "JSON line 3, column 54, at roas[1].maxLength: invalid type: string \"x\", expected u8",
            ),
            (
                "{\"roas\": [\n {\"asn\": 1, \"prefix\": \"192.0.2.0/24\"}]}".into(),
                "JSON line 2, column 37, at roas[0]: missing field `maxLength`",
            ),
            (
                "{\"roas\": [{\"asn\": 1, \"prefix\": \"192.0.2.0/24\", \"maxLength\": 24},".into(),
                "JSON line 1, column 64, at roas: EOF while parsing a value",
            ),
            (
                "{\"roas\": [{\"asn\": 1, \"prefix\": \"192.0.2.0/24\", \"maxLength\": 24}, {\"asn\": \"ASX\", \"prefix\": \"192.0.2.0/24\", \"maxLength\": 24}]}".into(),
                "JSON entry roas[1]: bad AS number \"ASX\"",
            ),
            (
                "{\"roas\": [{\"asn\": 7, \"prefix\": \"2001:db8::/32\", \"maxLength\": 129}]}".into(),
                "JSON entry roas[0]: max length 129 outside 32..=128 for 2001:db8::/32",
            ),
            ("{\"vrps\": []}".into(), "missing field `roas`"),
            ("{\"roas\": []}".into(), "no VRP in the file"),
            ("{\"roas\": []} x".into(), "JSON line 1, column 14, at .: trailing characters"),
        ] {
            let got = parse(text.as_bytes()).map(|_| ()).unwrap_err().to_string();
            assert!(got.contains(want), "{text:?}:\n got  {got}\n want {want}");
        }
    }
}
