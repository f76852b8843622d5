//! One CSV record per line (RFC 4180 quoting, `""` a quote inside quotes), read with the `csv`
//! crate, for the line-oriented inputs (the domain list's CSV forms, the DNSBL zone config) that
//! keep their own line numbers, comment rules and rejects.

/// The fields of one line (without its terminator). A quote still open at the end of the line
/// closes there, as lenient readers do.
pub fn fields(line: &str) -> Vec<String> {
    read(line)
}

/// As [`fields`], but a quote still open at the end of the line is an error: here a record may
/// not span lines.
pub fn fields_strict(line: &str) -> Result<Vec<String>, String> {
    // The csv crate closes an open quote at the end of its input without complaint; with a line
    // feed after the line, an open quote shows as that line feed inside a field.
    let mut terminated = String::with_capacity(line.len() + 1);
    terminated.push_str(line);
    terminated.push('\n');
    let fields = read(&terminated);
    if fields.iter().any(|f| f.contains('\n')) {
        return Err("unterminated quoted field".into());
    }
    Ok(fields)
}

fn read(text: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        // Only LF ends a record, so a CR inside a line stays part of its field.
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(text.len().clamp(64, 8 * 1024))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => record.iter().map(str::to_string).collect(),
        // An empty line: the csv crate skips it, a line-oriented reader sees one empty field.
        _ => vec![String::new()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_table() {
        // (line, fields joined with |, strict ok)
        for (line, want, strict_ok) in [
            ("", "", true),
            ("a", "a", true),
            ("a,b,,c", "a|b||c", true),
            ("1,\"x,y\",z", "1|x,y|z", true),
            ("\"say \"\"hi\"\"\",2", "say \"hi\"|2", true),
            ("a\"b,c", "a\"b|c", true),
            ("\"a\"b,c", "ab|c", true),
            (" a , b ", " a | b ", true),
            ("a\rb,c", "a\rb|c", true),
            ("\"open,x", "open,x", false),
            ("a,\"open", "a|open", false),
        ] {
            assert_eq!(fields(line).join("|"), want, "{line:?}");
            match fields_strict(line) {
                Ok(f) => {
                    assert!(strict_ok, "{line:?}");
                    assert_eq!(f.join("|"), want, "{line:?}");
                }
                Err(e) => {
                    assert!(!strict_ok, "{line:?}");
                    assert_eq!(e, "unterminated quoted field");
                }
            }
        }
    }
}
