//! The rows of each table and their schema. A row lists its values in schema order; one generic
//! builder turns rows into Arrow columns and one formatter into CSV, so the two formats cannot
//! drift apart.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, ListBuilder, StringBuilder, StructBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(Option<&'a str>),
    Bool(Option<bool>),
    U8(Option<u8>),
    U16(Option<u16>),
    U32(Option<u32>),
    U64(Option<u64>),
    /// Milliseconds since the Unix epoch, UTC.
    Ts(i64),
    StrList(Option<&'a [String]>),
    /// A list of structs: each item's field values in the struct's field order. The fields may
    /// be utf8, bool, uint16, uint32 or list<utf8>.
    StructList(Option<Vec<Vec<Value<'a>>>>),
}

/// A table row: its schema and its values in schema order.
pub trait Row: Send + 'static {
    fn schema() -> SchemaRef;
    fn values(&self) -> Vec<Value<'_>>;
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn list(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

fn mx_struct() -> Fields {
    Fields::from(vec![
        Field::new("preference", DataType::UInt16, false),
        Field::new("exchange", DataType::Utf8, false),
    ])
}

fn dkim_key_struct() -> Fields {
    Fields::from(vec![
        Field::new("selector", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("bits", DataType::UInt32, true),
        Field::new("testing", DataType::Boolean, false),
        Field::new("revoked", DataType::Boolean, false),
        Field::new("usable", DataType::Boolean, false),
        Field::new("errors", list(DataType::Utf8), false),
    ])
}

/// A DKIM key record found under a probed selector (RFC 6376 3.6.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DkimKeyRow {
    pub selector: String,
    /// `k=`: `rsa`, `ed25519`, or what was published.
    pub key_type: String,
    /// From the key itself (RSA modulus length; 256 for Ed25519); null when it cannot be read.
    pub bits: Option<u32>,
    /// `t=y`.
    pub testing: bool,
    /// Empty `p=`.
    pub revoked: bool,
    /// A verifier could use it: parsed cleanly, not revoked.
    pub usable: bool,
    pub errors: Vec<String>,
}

/// One row per input domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainRow {
    pub domain: String,
    pub scanned_at: i64,
    pub mx_status: &'static str,
    pub mx: Option<Vec<(u16, String)>>,
    pub mx_null: Option<bool>,
    pub mx_ips: Option<Vec<String>>,
    /// Status of the exchanges' address lookups: `ok` when every A/AAAA query got an answer
    /// (records or none), else the first failure; null without exchanges to look up.
    pub mx_ips_status: Option<&'static str>,
    pub mx_errors: Vec<String>,
    pub spf_status: &'static str,
    pub spf_records: Option<Vec<String>>,
    pub spf_all: Option<&'static str>,
    pub spf_lookups: Option<u32>,
    pub spf_void_lookups: Option<u32>,
    pub spf_ipv4_authorized: Option<u64>,
    pub spf_ipv6_prefixes: Option<u32>,
    pub spf_errors: Vec<String>,
    /// Include and redirect targets walked, `depth name`, in walk order.
    pub spf_include_tree: Vec<String>,
    /// Named problems: plus_all, neutral_all, wide_ranges, ptr_used, too_long, redirect_with_all,
    /// loop.
    pub spf_flags: Vec<String>,
    /// Major senders the domain delegates to (datasets/spf_providers.csv).
    pub spf_providers: Vec<String>,
    /// Every MX address of the domain gets `pass` from its own SPF; null without a valid record or
    /// without MX addresses.
    pub spf_mx_pass: Option<bool>,
    pub dmarc_status: &'static str,
    pub dmarc_record: Option<String>,
    /// `domain`, `organizational`, or `tree-walk:<name>` (--dmarc-discovery tree-walk).
    pub dmarc_source: Option<String>,
    pub dmarc_p: Option<String>,
    pub dmarc_sp: Option<String>,
    pub dmarc_pct: Option<u8>,
    pub dmarc_rua: Vec<String>,
    pub dmarc_errors: Vec<String>,
    /// Domain blocklists (RHSBL) listing the domain; null when no domain zone was queried.
    pub dnsbl_domain_listed: Option<Vec<String>>,
    pub dnsbl_domain_reasons: Option<Vec<String>>,
    pub dnsbl_domain_errors: Option<Vec<String>>,
    /// DANE (RFC 7672): status of the TLSA queries at `_25._tcp.<exchange>`: `ok` when every one
    /// was answered, else the first failure; null without exchanges.
    pub dane_status: Option<&'static str>,
    /// `exchange: usage selector matching` of every TLSA record.
    pub dane_tlsa: Option<Vec<String>>,
    /// Every exchange publishes TLSA records.
    pub dane_all_mx: Option<bool>,
    /// The TLSA answers came back with the AD bit (validated; needs --dnssec and a validating
    /// resolver); null without TLSA records.
    pub dane_authentic: Option<bool>,
    /// Selectors of the probed list with a DKIM key record; null when not probed or unknown.
    pub dkim_selectors: Option<Vec<String>>,
    /// Raw `_mta-sts` record (RFC 8461 3.1).
    pub mta_sts: Option<String>,
    /// Raw `_smtp._tls` record (RFC 8460 3).
    pub tls_rpt: Option<String>,
    /// Raw `default._bimi` record.
    pub bimi: Option<String>,
    /// SOA RNAME as an e-mail address.
    pub soa_rname: Option<String>,
    pub dmarc_np: Option<String>,
    pub dmarc_adkim: Option<String>,
    pub dmarc_aspf: Option<String>,
    pub dmarc_ruf: Vec<String>,
    /// External report destinations (RFC 7489 7.1) that publish the authorisation record.
    pub dmarc_rua_authorized: Option<Vec<String>>,
    /// External report destinations without it.
    pub dmarc_rua_unauthorized: Option<Vec<String>>,
    pub dkim_status: &'static str,
    pub dkim_keys: Option<Vec<DkimKeyRow>>,
    pub dkim_errors: Vec<String>,
    pub mta_sts_status: &'static str,
    pub mta_sts_id: Option<String>,
    pub mta_sts_errors: Vec<String>,
    /// With --mta-sts-fetch: `valid`, `invalid`, or why the fetch failed; null when not fetched.
    pub mta_sts_policy_status: Option<&'static str>,
    pub mta_sts_mode: Option<&'static str>,
    pub mta_sts_max_age: Option<u32>,
    /// The policy's `mx` patterns.
    pub mta_sts_mx: Option<Vec<String>>,
    /// MX exchanges no `mx` pattern covers (RFC 8461 4.1).
    pub mta_sts_mx_uncovered: Option<Vec<String>>,
    pub mta_sts_policy_errors: Vec<String>,
    pub tls_rpt_status: &'static str,
    pub tls_rpt_errors: Vec<String>,
    pub bimi_status: &'static str,
    pub bimi_dmarc_not_enforcing: Option<bool>,
    pub bimi_errors: Vec<String>,
    pub soa_status: &'static str,
    pub dnssec_ad: Option<bool>,
    /// `ok`, or `error` when the domain probe itself failed (it panicked: a bug in mxray, not an
    /// answer from the domain); then every check status says `error` and `domain_error` says why.
    pub domain_status: &'static str,
    pub domain_error: Option<String>,
}

impl Row for DomainRow {
    fn schema() -> SchemaRef {
        let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
        let sl = |n: &str| Field::new(n, list(DataType::Utf8), true);
        Arc::new(Schema::new(vec![
            s("domain", false),
            Field::new("scanned_at", ts(), false),
            s("mx_status", false),
            Field::new("mx", list(DataType::Struct(mx_struct())), true),
            Field::new("mx_null", DataType::Boolean, true),
            sl("mx_ips"),
            s("mx_ips_status", true),
            sl("mx_errors"),
            s("spf_status", false),
            sl("spf_records"),
            s("spf_all", true),
            Field::new("spf_lookups", DataType::UInt32, true),
            Field::new("spf_void_lookups", DataType::UInt32, true),
            Field::new("spf_ipv4_authorized", DataType::UInt64, true),
            Field::new("spf_ipv6_prefixes", DataType::UInt32, true),
            sl("spf_errors"),
            sl("spf_include_tree"),
            sl("spf_flags"),
            sl("spf_providers"),
            Field::new("spf_mx_pass", DataType::Boolean, true),
            s("dmarc_status", false),
            s("dmarc_record", true),
            s("dmarc_source", true),
            s("dmarc_p", true),
            s("dmarc_sp", true),
            Field::new("dmarc_pct", DataType::UInt8, true),
            sl("dmarc_rua"),
            sl("dmarc_errors"),
            sl("dnsbl_domain_listed"),
            sl("dnsbl_domain_reasons"),
            sl("dnsbl_domain_errors"),
            s("dane_status", true),
            sl("dane_tlsa"),
            Field::new("dane_all_mx", DataType::Boolean, true),
            Field::new("dane_authentic", DataType::Boolean, true),
            sl("dkim_selectors"),
            s("mta_sts", true),
            s("tls_rpt", true),
            s("bimi", true),
            s("soa_rname", true),
            s("dmarc_np", true),
            s("dmarc_adkim", true),
            s("dmarc_aspf", true),
            sl("dmarc_ruf"),
            sl("dmarc_rua_authorized"),
            sl("dmarc_rua_unauthorized"),
            s("dkim_status", false),
            Field::new("dkim_keys", list(DataType::Struct(dkim_key_struct())), true),
            sl("dkim_errors"),
            s("mta_sts_status", false),
            s("mta_sts_id", true),
            sl("mta_sts_errors"),
            s("mta_sts_policy_status", true),
            s("mta_sts_mode", true),
            Field::new("mta_sts_max_age", DataType::UInt32, true),
            sl("mta_sts_mx"),
            sl("mta_sts_mx_uncovered"),
            sl("mta_sts_policy_errors"),
            s("tls_rpt_status", false),
            sl("tls_rpt_errors"),
            s("bimi_status", false),
            Field::new("bimi_dmarc_not_enforcing", DataType::Boolean, true),
            sl("bimi_errors"),
            s("soa_status", false),
            Field::new("dnssec_ad", DataType::Boolean, true),
            s("domain_status", false),
            s("domain_error", true),
        ]))
    }

    fn values(&self) -> Vec<Value<'_>> {
        use Value::*;
        vec![
            Str(Some(&self.domain)),
            Ts(self.scanned_at),
            Str(Some(self.mx_status)),
            StructList(self.mx.as_ref().map(|mx| {
                mx.iter()
                    .map(|(p, e)| vec![U16(Some(*p)), Str(Some(e))])
                    .collect()
            })),
            Bool(self.mx_null),
            StrList(self.mx_ips.as_deref()),
            Str(self.mx_ips_status),
            StrList(Some(&self.mx_errors)),
            Str(Some(self.spf_status)),
            StrList(self.spf_records.as_deref()),
            Str(self.spf_all),
            U32(self.spf_lookups),
            U32(self.spf_void_lookups),
            U64(self.spf_ipv4_authorized),
            U32(self.spf_ipv6_prefixes),
            StrList(Some(&self.spf_errors)),
            StrList(Some(&self.spf_include_tree)),
            StrList(Some(&self.spf_flags)),
            StrList(Some(&self.spf_providers)),
            Bool(self.spf_mx_pass),
            Str(Some(self.dmarc_status)),
            Str(self.dmarc_record.as_deref()),
            Str(self.dmarc_source.as_deref()),
            Str(self.dmarc_p.as_deref()),
            Str(self.dmarc_sp.as_deref()),
            U8(self.dmarc_pct),
            StrList(Some(&self.dmarc_rua)),
            StrList(Some(&self.dmarc_errors)),
            StrList(self.dnsbl_domain_listed.as_deref()),
            StrList(self.dnsbl_domain_reasons.as_deref()),
            StrList(self.dnsbl_domain_errors.as_deref()),
            Str(self.dane_status),
            StrList(self.dane_tlsa.as_deref()),
            Bool(self.dane_all_mx),
            Bool(self.dane_authentic),
            StrList(self.dkim_selectors.as_deref()),
            Str(self.mta_sts.as_deref()),
            Str(self.tls_rpt.as_deref()),
            Str(self.bimi.as_deref()),
            Str(self.soa_rname.as_deref()),
            Str(self.dmarc_np.as_deref()),
            Str(self.dmarc_adkim.as_deref()),
            Str(self.dmarc_aspf.as_deref()),
            StrList(Some(&self.dmarc_ruf)),
            StrList(self.dmarc_rua_authorized.as_deref()),
            StrList(self.dmarc_rua_unauthorized.as_deref()),
            Str(Some(self.dkim_status)),
            StructList(self.dkim_keys.as_ref().map(|keys| {
                keys.iter()
                    .map(|k| {
                        vec![
                            Str(Some(&k.selector)),
                            Str(Some(&k.key_type)),
                            U32(k.bits),
                            Bool(Some(k.testing)),
                            Bool(Some(k.revoked)),
                            Bool(Some(k.usable)),
                            StrList(Some(&k.errors)),
                        ]
                    })
                    .collect()
            })),
            StrList(Some(&self.dkim_errors)),
            Str(Some(self.mta_sts_status)),
            Str(self.mta_sts_id.as_deref()),
            StrList(Some(&self.mta_sts_errors)),
            Str(self.mta_sts_policy_status),
            Str(self.mta_sts_mode),
            U32(self.mta_sts_max_age),
            StrList(self.mta_sts_mx.as_deref()),
            StrList(self.mta_sts_mx_uncovered.as_deref()),
            StrList(Some(&self.mta_sts_policy_errors)),
            Str(Some(self.tls_rpt_status)),
            StrList(Some(&self.tls_rpt_errors)),
            Str(Some(self.bimi_status)),
            Bool(self.bimi_dmarc_not_enforcing),
            StrList(Some(&self.bimi_errors)),
            Str(Some(self.soa_status)),
            Bool(self.dnssec_ad),
            Str(Some(self.domain_status)),
            Str(self.domain_error.as_deref()),
        ]
    }
}

/// One row per IP address probed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRow {
    pub ip: String,
    pub scanned_at: i64,
    /// `ok`, `skipped` (excluded: no check was made), or `error` (the host probe itself failed:
    /// it panicked, a bug in mxray; `host_error` says why and the check columns are null).
    pub host_status: &'static str,
    pub skip_reason: Option<String>,
    pub ptr_status: &'static str,
    pub ptr: Option<Vec<String>>,
    pub fcrdns: Option<bool>,
    pub ptr_errors: Vec<String>,
    pub dnsbl_listed: Vec<String>,
    /// `zone: codes (meanings)` of each listing.
    pub dnsbl_codes: Vec<String>,
    /// `zone: TXT reason` of each listing.
    pub dnsbl_reasons: Vec<String>,
    pub dnsbl_errors: Vec<String>,
    pub asn: Option<u32>,
    /// The table range holding the address, `first-last`.
    pub asn_range: Option<String>,
    pub asn_country: Option<String>,
    pub asn_name: Option<String>,
    pub host_error: Option<String>,
}

impl Row for HostRow {
    fn schema() -> SchemaRef {
        let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
        let sl = |n: &str| Field::new(n, list(DataType::Utf8), true);
        Arc::new(Schema::new(vec![
            s("ip", false),
            Field::new("scanned_at", ts(), false),
            s("host_status", false),
            s("skip_reason", true),
            s("ptr_status", true),
            sl("ptr"),
            Field::new("fcrdns", DataType::Boolean, true),
            sl("ptr_errors"),
            sl("dnsbl_listed"),
            sl("dnsbl_codes"),
            sl("dnsbl_reasons"),
            sl("dnsbl_errors"),
            Field::new("asn", DataType::UInt32, true),
            s("asn_range", true),
            s("asn_country", true),
            s("asn_name", true),
            s("host_error", true),
        ]))
    }

    fn values<'a>(&'a self) -> Vec<Value<'a>> {
        use Value::*;
        // A skipped or failed host was not checked: its check columns are null, not empty.
        let skipped = self.host_status != "ok";
        let checked = |v: &'a [String]| if skipped { None } else { Some(v) };
        vec![
            Str(Some(&self.ip)),
            Ts(self.scanned_at),
            Str(Some(self.host_status)),
            Str(self.skip_reason.as_deref()),
            Str((!skipped).then_some(self.ptr_status)),
            StrList(self.ptr.as_deref()),
            Bool(self.fcrdns),
            StrList(checked(&self.ptr_errors)),
            StrList(checked(&self.dnsbl_listed)),
            StrList(checked(&self.dnsbl_codes)),
            StrList(checked(&self.dnsbl_reasons)),
            StrList(checked(&self.dnsbl_errors)),
            U32(self.asn),
            Str(self.asn_range.as_deref()),
            Str(self.asn_country.as_deref()),
            Str(self.asn_name.as_deref()),
            Str(self.host_error.as_deref()),
        ]
    }
}

/// Builds a record batch, column by column, from rows.
pub fn to_batch<R: Row>(rows: &[R]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let schema = R::schema();
    let values: Vec<Vec<Value>> = rows.iter().map(|r| r.values()).collect();
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let col = values.iter().map(|v| &v[i]);
        let array: ArrayRef = match field.data_type() {
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(n, n * 16);
                col.for_each(|v| b.append_option(as_str(v)));
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                col.for_each(|v| b.append_option(if let Value::Bool(x) = v { *x } else { None }));
                Arc::new(b.finish())
            }
            DataType::UInt8 => {
                let mut b = UInt8Builder::with_capacity(n);
                col.for_each(|v| b.append_option(if let Value::U8(x) = v { *x } else { None }));
                Arc::new(b.finish())
            }
            DataType::UInt32 => {
                let mut b = UInt32Builder::with_capacity(n);
                col.for_each(|v| b.append_option(if let Value::U32(x) = v { *x } else { None }));
                Arc::new(b.finish())
            }
            DataType::UInt64 => {
                let mut b = UInt64Builder::with_capacity(n);
                col.for_each(|v| b.append_option(if let Value::U64(x) = v { *x } else { None }));
                Arc::new(b.finish())
            }
            DataType::Timestamp(_, _) => Arc::new(
                TimestampMillisecondArray::from_iter_values(col.map(|v| match v {
                    Value::Ts(t) => *t,
                    _ => 0,
                }))
                .with_timezone("UTC"),
            ),
            DataType::List(item) if item.data_type() == &DataType::Utf8 => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for v in col {
                    match v {
                        Value::StrList(Some(items)) => {
                            for s in *items {
                                b.values().append_value(s);
                            }
                            b.append(true);
                        }
                        _ => b.append(false),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::List(item) => {
                let DataType::Struct(fields) = item.data_type() else {
                    unreachable!("only list<utf8> and list<struct> are in the schemas")
                };
                let sb = StructBuilder::from_fields(fields.clone(), n);
                let mut b = ListBuilder::new(sb).with_field(item.clone());
                for v in col {
                    match v {
                        Value::StructList(Some(items)) => {
                            let sb = b.values();
                            for item in items {
                                for (j, (f, x)) in fields.iter().zip(item).enumerate() {
                                    append_field(sb, j, f.data_type(), x);
                                }
                                sb.append(true);
                            }
                            b.append(true);
                        }
                        _ => b.append(false),
                    }
                }
                Arc::new(b.finish())
            }
            other => unreachable!("type {other} is not used in the schemas"),
        };
        columns.push(array);
    }
    RecordBatch::try_new(schema, columns)
}

/// Appends one struct field's value; the field builders are those `StructBuilder::from_fields`
/// makes for the field's type.
fn append_field(sb: &mut StructBuilder, j: usize, dt: &DataType, v: &Value) {
    const MSG: &str = "the field builder matches the schema";
    match (dt, v) {
        (DataType::Utf8, Value::Str(x)) => sb
            .field_builder::<StringBuilder>(j)
            .expect(MSG)
            .append_option(*x),
        (DataType::Boolean, Value::Bool(x)) => sb
            .field_builder::<BooleanBuilder>(j)
            .expect(MSG)
            .append_option(*x),
        (DataType::UInt16, Value::U16(x)) => sb
            .field_builder::<UInt16Builder>(j)
            .expect(MSG)
            .append_option(*x),
        (DataType::UInt32, Value::U32(x)) => sb
            .field_builder::<UInt32Builder>(j)
            .expect(MSG)
            .append_option(*x),
        (DataType::List(_), Value::StrList(x)) => {
            let lb = sb
                .field_builder::<ListBuilder<Box<dyn ArrayBuilder>>>(j)
                .expect(MSG);
            match x {
                Some(items) => {
                    let strings = lb
                        .values()
                        .as_any_mut()
                        .downcast_mut::<StringBuilder>()
                        .expect(MSG);
                    for s in *items {
                        strings.append_value(s);
                    }
                    lb.append(true);
                }
                None => lb.append(false),
            }
        }
        (dt, v) => unreachable!("struct field of type {dt} given {v:?}"),
    }
}

fn as_str<'a>(v: &Value<'a>) -> Option<&'a str> {
    match v {
        Value::Str(s) => *s,
        _ => None,
    }
}

/// CSV text of one cell: null is empty, lists are joined with `;`, a struct's fields with a
/// space (MX as `pref exchange`; a list inside a struct is joined with `,`), timestamps as
/// RFC 3339 UTC with milliseconds.
pub fn csv_cell(v: &Value) -> String {
    match v {
        Value::Str(s) => s.unwrap_or_default().to_string(),
        Value::Bool(b) => b.map(|b| b.to_string()).unwrap_or_default(),
        Value::U8(x) => x.map(|x| x.to_string()).unwrap_or_default(),
        Value::U16(x) => x.map(|x| x.to_string()).unwrap_or_default(),
        Value::U32(x) => x.map(|x| x.to_string()).unwrap_or_default(),
        Value::U64(x) => x.map(|x| x.to_string()).unwrap_or_default(),
        Value::Ts(ms) => chrono::DateTime::from_timestamp_millis(*ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default(),
        Value::StrList(l) => l.map(|l| l.join(";")).unwrap_or_default(),
        Value::StructList(l) => l
            .as_ref()
            .map(|l| {
                l.iter()
                    .map(|fields| {
                        fields
                            .iter()
                            .map(|f| match f {
                                Value::StrList(inner) => {
                                    inner.map(|i| i.join(",")).unwrap_or_default()
                                }
                                other => csv_cell(other),
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, BooleanArray, ListArray, StringArray, StructArray, UInt16Array};

    fn sample() -> DomainRow {
        DomainRow {
            domain: "example.com".into(),
            scanned_at: 1_700_000_000_123,
            mx_status: "ok",
            mx: Some(vec![
                (10, "mx.example.com".into()),
                (20, "mx2.example.com".into()),
            ]),
            mx_null: Some(false),
            mx_ips: Some(vec!["127.0.0.1".into(), "::1".into()]),
            mx_ips_status: Some("ok"),
            spf_status: "valid",
            spf_records: Some(vec!["v=spf1 -all".into()]),
            dmarc_status: "none",
            ..Default::default()
        }
    }

    #[test]
    fn values_follow_the_schema() {
        let n = DomainRow::schema().fields().len();
        assert_eq!(sample().values().len(), n);
        assert_eq!(
            HostRow::default().values().len(),
            HostRow::schema().fields().len()
        );
    }

    #[test]
    fn batch_holds_lists_structs_and_nulls() {
        let failed = DomainRow {
            domain: "failed.example".into(),
            mx_status: "timeout",
            spf_status: "temperror",
            dmarc_status: "temperror",
            ..Default::default()
        };
        let b = to_batch(&[sample(), failed]).unwrap();
        assert_eq!(b.num_rows(), 2);
        let mx = b
            .column_by_name("mx")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert!(mx.is_null(1), "unknown MX is null, not empty");
        let first = mx.value(0);
        let s = first.as_any().downcast_ref::<StructArray>().unwrap();
        let prefs = s.column(0).as_any().downcast_ref::<UInt16Array>().unwrap();
        let exch = s.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((prefs.value(1), exch.value(1)), (20, "mx2.example.com"));
        let null = b.column_by_name("mx_null").unwrap();
        let null = null.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(!null.value(0) && null.is_null(1));
    }

    #[test]
    fn dkim_keys_are_a_list_of_structs() {
        let mut r = sample();
        r.dkim_keys = Some(vec![
            DkimKeyRow {
                selector: "google".into(),
                key_type: "rsa".into(),
                bits: Some(2048),
                testing: true,
                revoked: false,
                usable: true,
                errors: vec![],
            },
            DkimKeyRow {
                selector: "s1".into(),
                key_type: "rsa".into(),
                bits: None,
                testing: false,
                revoked: true,
                usable: false,
                errors: vec!["a: x".into(), "b: y".into()],
            },
        ]);
        let b = to_batch(&[r.clone(), DomainRow::default()]).unwrap();
        let col = b.column_by_name("dkim_keys").unwrap();
        let keys = col.as_any().downcast_ref::<ListArray>().unwrap();
        assert!(keys.is_null(1));
        let first = keys.value(0);
        let s = first.as_any().downcast_ref::<StructArray>().unwrap();
        let bits = s
            .column_by_name("bits")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::UInt32Array>()
            .unwrap();
        assert_eq!((bits.value(0), bits.is_null(1)), (2048, true));
        let errs = s
            .column_by_name("errors")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!((errs.value(0).len(), errs.value(1).len()), (0, 2));
        let i = DomainRow::schema().index_of("dkim_keys").unwrap();
        assert_eq!(
            csv_cell(&r.values()[i]),
            "google rsa 2048 true false true ;s1 rsa  false true false a: x,b: y"
        );
    }

    #[test]
    fn csv_cells() {
        let r = sample();
        let v = r.values();
        assert_eq!(csv_cell(&v[1]), "2023-11-14T22:13:20.123Z");
        assert_eq!(csv_cell(&v[3]), "10 mx.example.com;20 mx2.example.com");
        assert_eq!(csv_cell(&v[5]), "127.0.0.1;::1");
        assert_eq!(csv_cell(&Value::Bool(None)), "");
    }
}
