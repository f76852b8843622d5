//! The `tag=value` list every TXT mail policy is written in (RFC 6376 3.2):
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC
//! tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//! ```
//!
//! DKIM (RFC 6376 3.6.1) uses it as written; DMARC (RFC 7489 6.4 `dmarc-sep = *WSP %x3b *WSP`)
//! and BIMI (`bimi-sep`) take WSP, not FWS; MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3) also
//! allow no WSP around `=` and open with a fixed version field rather than a tag. [`Syntax`]
//! says which; this module only splits, locates and flags duplicates. What a tag means, and
//! whether a malformed part or a duplicate spoils the record, each check judges itself.

use crate::checks::problem::{Code, problem};

/// How one policy's RFC spells its tag list.
#[derive(Debug, Clone, Copy)]
pub struct Syntax {
    /// The white space trimmed around parts (and, with `wsp_around_equals`, around `=`).
    pub wsp: &'static [char],
    /// WSP may surround `=` (RFC 6376 3.2, RFC 7489 6.4, BIMI); MTA-STS and TLS-RPT fields are
    /// `name "=" value` with nothing between, so there WSP stays part of the name or value.
    pub wsp_around_equals: bool,
    /// Names must be `ALPHA *ALNUMPUNC` (RFC 6376 3.2), else the part is [`Part::BadName`].
    pub rfc6376_names: bool,
    /// Names are compared case-insensitively when looking for duplicates (RFC 7489's tags are
    /// ABNF strings, RFC 5234 2.3); RFC 6376 3.2 and the `%s` names of the others are exact.
    pub case_insensitive: bool,
    /// The first `;`-separated piece is a version field the caller's record selection already
    /// checked (`v=STSv1`, `v=TLSRPTv1`, `v=BIMI1`), not a tag: it is left out.
    pub version_first: bool,
}

/// RFC 6376 3.2 as written: FWS (here, WSP and the CR LF of folding), case-sensitive names.
pub const DKIM: Syntax = Syntax {
    wsp: &[' ', '\t', '\r', '\n'],
    wsp_around_equals: true,
    rfc6376_names: true,
    case_insensitive: false,
    version_first: false,
};

/// RFC 7489 6.4: WSP separators, case-insensitive tag names, `v` the first tag.
pub const DMARC: Syntax = Syntax {
    wsp: &[' ', '\t'],
    wsp_around_equals: true,
    rfc6376_names: true,
    case_insensitive: true,
    version_first: false,
};

/// The BIMI draft: `bimi-sep = *WSP %x3b *WSP`, `%s` names, any name taken as an unknown tag.
pub const BIMI: Syntax = Syntax {
    wsp: &[' ', '\t'],
    wsp_around_equals: true,
    rfc6376_names: false,
    case_insensitive: false,
    version_first: true,
};

/// RFC 8461 3.1 (`sts-sep = *WSP %x3B *WSP`, `sts-extension = sts-ext-name "=" sts-ext-value`)
/// and RFC 8460 3 (`field-delim`, `tlsrpt-extension`) alike: names are judged by the caller.
pub const STS: Syntax = Syntax {
    wsp: &[' ', '\t'],
    wsp_around_equals: false,
    rfc6376_names: false,
    case_insensitive: false,
    version_first: true,
};

/// One `tag=value` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Byte offset of the part (after leading white space) in the record.
    pub offset: usize,
    pub name: &'a str,
    pub value: &'a str,
    /// An earlier part had the same name (RFC 6376 3.2: "Tags with duplicate names MUST NOT
    /// occur within a single tag-list").
    pub duplicate: bool,
}

/// One non-empty `;`-separated part of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    Tag(Tag<'a>),
    /// No `=`: the part, trimmed.
    NoEquals {
        offset: usize,
        text: &'a str,
    },
    /// The name is not `ALPHA *ALNUMPUNC` (only with [`Syntax::rfc6376_names`]).
    BadName {
        offset: usize,
        name: &'a str,
    },
}

impl Part<'_> {
    /// `syntax: byte N: ...`, the message DKIM, DMARC and BIMI give a malformed part; None for
    /// a tag.
    pub fn syntax_error(&self) -> Option<String> {
        match self {
            Part::Tag(_) => None,
            Part::NoEquals { offset, text } => Some(problem(
                Code::Syntax,
                format_args!("byte {offset}: {text:?} is not tag=value"),
            )),
            Part::BadName { offset, name } => Some(problem(
                Code::Syntax,
                format_args!("byte {offset}: {name:?} is not a tag name"),
            )),
        }
    }
}

/// RFC 6376 3.2: `tag-name = ALPHA *ALNUMPUNC`, `ALNUMPUNC = ALPHA / DIGIT / "_"`.
pub fn is_tag_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `record` into its parts, in order. Empty parts are skipped: the grammar allows one
/// trailing `;` and receivers tolerate more.
pub fn parse<'a>(record: &'a str, syntax: &Syntax) -> Vec<Part<'a>> {
    let wsp = syntax.wsp;
    let mut out: Vec<Part<'a>> = Vec::new();
    let mut names: Vec<&'a str> = Vec::new();
    let mut start = 0;
    for (i, piece) in record.split(';').enumerate() {
        let offset = start + (piece.len() - piece.trim_start_matches(wsp).len());
        start += piece.len() + 1;
        let text = piece.trim_matches(wsp);
        if text.is_empty() || (i == 0 && syntax.version_first) {
            continue;
        }
        let Some((name, value)) = text.split_once('=') else {
            out.push(Part::NoEquals { offset, text });
            continue;
        };
        let (name, value) = if syntax.wsp_around_equals {
            (name.trim_matches(wsp), value.trim_matches(wsp))
        } else {
            (name, value)
        };
        if syntax.rfc6376_names && !is_tag_name(name) {
            out.push(Part::BadName { offset, name });
            continue;
        }
        let duplicate = names.iter().any(|n| {
            if syntax.case_insensitive {
                n.eq_ignore_ascii_case(name)
            } else {
                *n == name
            }
        });
        if !duplicate {
            names.push(name);
        }
        out.push(Part::Tag(Tag {
            offset,
            name,
            value,
            duplicate,
        }));
    }
    out
}

/// The tags alone, malformed parts dropped.
pub fn tags<'a>(record: &'a str, syntax: &Syntax) -> impl Iterator<Item = Tag<'a>> {
    parse(record, syntax).into_iter().filter_map(|p| match p {
        Part::Tag(t) => Some(t),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each part as `offset:name=value`, `offset:name=value!` for a duplicate, `offset?text` for
    /// no `=` and `offset#name` for a bad name.
    fn show(record: &str, syntax: &Syntax) -> String {
        parse(record, syntax)
            .iter()
            .map(|p| match p {
                Part::Tag(t) => format!(
                    "{}:{}={}{}",
                    t.offset,
                    t.name,
                    t.value,
                    if t.duplicate { "!" } else { "" }
                ),
                Part::NoEquals { offset, text } => format!("{offset}?{text}"),
                Part::BadName { offset, name } => format!("{offset}#{name}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn parse_table() {
        // (syntax, record, parts)
        let cases: &[(&Syntax, &str, &str)] = &[
            (&DKIM, "", ""),
            (&DKIM, ";;", ""),
            (&DKIM, "v=DKIM1; p=abc", "0:v=DKIM1 9:p=abc"),
            (&DKIM, "v=DKIM1;p=abc;", "0:v=DKIM1 8:p=abc"),
            (&DKIM, " v = DKIM1 ;\r\n\tp= a b ", "1:v=DKIM1 15:p=a b"),
            (&DKIM, "p=; p=x", "0:p= 4:p=x!"),
            (&DKIM, "p=; P=x", "0:p= 4:P=x"),
            (
                &DKIM,
                "a=1; junk; 9x=2; a_b=3",
                "0:a=1 5?junk 11#9x 17:a_b=3",
            ),
            (&DKIM, "a==b", "0:a==b"),
            (&DKIM, "=b", "0#"),
            (
                &DMARC,
                "v=DMARC1; p=none; P=reject",
                "0:v=DMARC1 10:p=none 18:P=reject!",
            ),
            // WSP only: CR LF is not trimmed.
            (&DMARC, "v=DMARC1;\r\np=none", "0:v=DMARC1 9#\r\np"),
            (&BIMI, "v=BIMI1; l=; a=x", "9:l= 13:a=x"),
            (&BIMI, "v=BIMI1; 9x = y; l=; l=z", "9:9x=y 17:l= 21:l=z!"),
            (&BIMI, "junk; l=", "6:l="),
            (
                &STS,
                "v=STSv1; id=1; id =2; x= y",
                "9:id=1 15:id =2 22:x= y",
            ),
            (&STS, "v=STSv1 ; id=1 ; id=2", "10:id=1 17:id=2!"),
            (&STS, "v=STSv1; ; junk", "11?junk"),
        ];
        for (syntax, record, want) in cases {
            assert_eq!(show(record, syntax), *want, "{record:?}");
        }
    }

    #[test]
    fn syntax_errors_table() {
        for (record, want) in [
            (
                "a=1; junk",
                vec!["syntax: byte 5: \"junk\" is not tag=value"],
            ),
            ("9x=1", vec!["syntax: byte 0: \"9x\" is not a tag name"]),
            ("a=1", vec![]),
        ] {
            let got: Vec<String> = parse(record, &DKIM)
                .iter()
                .filter_map(Part::syntax_error)
                .collect();
            assert_eq!(got, want, "{record:?}");
        }
        let names: Vec<&str> = tags("a=1; junk; b=2", &DKIM).map(|t| t.name).collect();
        assert_eq!(names, ["a", "b"]);
        for (name, want) in [
            ("a", true),
            ("a_1", true),
            ("_a", false),
            ("1", false),
            ("", false),
        ] {
            assert_eq!(is_tag_name(name), want, "{name:?}");
        }
    }
}
