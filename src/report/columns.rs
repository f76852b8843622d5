//! The columns `mxray report` reads, declared once here, each with the type it is read as.
//!
//! A column is reached only through a handle ([`Col`], [`Field`]) that [`Reads::of_writer`]
//! checks against the writer's own column tables (`DomainRow::columns()`, `HostRow::columns()`)
//! before any part is opened: a column renamed, removed or retyped in the writer stops the report
//! with [`ColumnError`] instead of silently reading nulls and emptying a figure. The projection
//! of each pass is derived from the same declarations, so a column cannot be read without being
//! checked, nor checked without being read.
//!
//! A part written by an older scan may still lack a column the writer has today: that column
//! reads as null there, as it always has.

use std::marker::PhantomData;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, BooleanArray, ListArray, PrimitiveArray, StringArray};

use crate::output::{ColType, DomainRow, HostRow, Row};

/// How the report reads one column's cells: the Arrow array it casts to, and which of the
/// writer's column types that reading fits.
pub(crate) trait Kind {
    type Array: 'static;
    /// The type's name in an error message.
    const NAME: &'static str;
    fn reads(ty: &ColType) -> bool;
    fn cast(a: &ArrayRef) -> Option<&Self::Array>;
}

macro_rules! kind {
    ($k:ident, $array:ty, $name:literal, $pat:pat, |$a:ident| $cast:expr) => {
        pub(crate) struct $k;
        impl Kind for $k {
            type Array = $array;
            const NAME: &'static str = $name;
            fn reads(ty: &ColType) -> bool {
                matches!(ty, $pat)
            }
            fn cast($a: &ArrayRef) -> Option<&$array> {
                $cast
            }
        }
    };
}

kind!(Utf8, StringArray, "utf8", ColType::Utf8, |a| a
    .as_string_opt::<i32>());
kind!(Bool, BooleanArray, "bool", ColType::Boolean, |a| a
    .as_boolean_opt());
kind!(
    U8,
    PrimitiveArray<UInt8Type>,
    "uint8",
    ColType::UInt8,
    |a| a.as_primitive_opt()
);
kind!(
    U32,
    PrimitiveArray<UInt32Type>,
    "uint32",
    ColType::UInt32,
    |a| a.as_primitive_opt()
);
kind!(
    U64,
    PrimitiveArray<UInt64Type>,
    "uint64",
    ColType::UInt64,
    |a| a.as_primitive_opt()
);
kind!(StrList, ListArray, "list<utf8>", ColType::ListUtf8, |a| a
    .as_list_opt());
kind!(
    Structs,
    ListArray,
    "list<struct>",
    ColType::ListStruct(_),
    |a| a.as_list_opt()
);

/// A column the report reads, checked to exist in the writer's table with a type `K` reads.
pub(crate) struct Col<K> {
    pub name: &'static str,
    kind: PhantomData<K>,
}

impl<K> Clone for Col<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Col<K> {}

/// A field of the struct items of a `list<struct>` column, checked like a [`Col`].
pub(crate) struct Field<K> {
    pub list: Col<Structs>,
    pub name: &'static str,
    kind: PhantomData<K>,
}

impl<K> Clone for Field<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Field<K> {}

/// What the report asks of one column (or struct field) of a writer's table.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    pub column: &'static str,
    pub field: Option<&'static str>,
    kind: &'static str,
    reads: fn(&ColType) -> bool,
}

/// The writer's table changed under the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnError {
    #[error("the report reads {table}.{column}, which the {table} table no longer has")]
    Missing { table: &'static str, column: String },
    #[error(
        "the report reads {table}.{column} as {wants}, but the {table} table writes it as {has}"
    )]
    OtherType {
        table: &'static str,
        column: String,
        wants: &'static str,
        has: String,
    },
}

/// Collects the [`Need`]s of a group of columns as its handles are made.
#[derive(Default)]
pub(crate) struct Declare {
    needs: Vec<Need>,
}

impl Declare {
    fn col<K: Kind>(&mut self, name: &'static str) -> Col<K> {
        self.needs.push(Need {
            column: name,
            field: None,
            kind: K::NAME,
            reads: K::reads,
        });
        Col {
            name,
            kind: PhantomData,
        }
    }

    fn field<K: Kind>(&mut self, list: Col<Structs>, name: &'static str) -> Field<K> {
        self.needs.push(Need {
            column: list.name,
            field: Some(name),
            kind: K::NAME,
            reads: K::reads,
        });
        Field {
            list,
            name,
            kind: PhantomData,
        }
    }
}

/// One pass's columns: the handles, and the projection (the distinct column names).
pub(crate) struct Group<C> {
    pub cols: C,
    needs: Vec<Need>,
    pub projection: Vec<&'static str>,
}

impl<C> Group<C> {
    fn declare(f: impl FnOnce(&mut Declare) -> C) -> Group<C> {
        let mut d = Declare::default();
        let cols = f(&mut d);
        let mut projection: Vec<&'static str> = Vec::new();
        for n in &d.needs {
            if !projection.contains(&n.column) {
                projection.push(n.column);
            }
        }
        Group {
            cols,
            needs: d.needs,
            projection,
        }
    }

    pub fn needs(&self) -> &[Need] {
        &self.needs
    }
}

/// A writer's table as the check sees it: each column's name and type.
pub type Table = Vec<(&'static str, ColType)>;

pub fn table_of<R: Row>() -> Table {
    R::columns().iter().map(|c| (c.name, c.ty)).collect()
}

/// Every need is met by `table` (named `name` in errors).
pub fn check(name: &'static str, table: &Table, needs: &[Need]) -> Result<(), ColumnError> {
    for n in needs {
        let what = match n.field {
            Some(f) => format!("{}.{f}", n.column),
            None => n.column.to_string(),
        };
        let Some((_, ty)) = table.iter().find(|(c, _)| *c == n.column) else {
            return Err(ColumnError::Missing {
                table: name,
                column: what,
            });
        };
        let ty = match (n.field, ty) {
            (None, ty) => *ty,
            (Some(f), ColType::ListStruct(fields)) => match fields.iter().find(|s| s.name == f) {
                Some(s) => s.ty,
                None => {
                    return Err(ColumnError::Missing {
                        table: name,
                        column: what,
                    });
                }
            },
            (Some(_), other) => {
                return Err(ColumnError::OtherType {
                    table: name,
                    column: n.column.to_string(),
                    wants: "list<struct>",
                    has: other.to_string(),
                });
            }
        };
        if !(n.reads)(&ty) {
            return Err(ColumnError::OtherType {
                table: name,
                column: what,
                wants: n.kind,
                has: ty.to_string(),
            });
        }
    }
    Ok(())
}

/// The domains columns: the aggregates and the readiness facts.
pub(crate) struct DomainCols {
    pub domain: Col<Utf8>,
    pub domain_status: Col<Utf8>,
    pub mx_status: Col<Utf8>,
    pub mx: Col<Structs>,
    pub mx_exchange: Field<Utf8>,
    pub mx_null: Col<Bool>,
    pub mx_ips: Col<StrList>,
    pub mx_ips_status: Col<Utf8>,
    pub mx_errors: Col<StrList>,
    pub spf_status: Col<Utf8>,
    pub spf_all: Col<Utf8>,
    pub spf_lookups: Col<U32>,
    pub spf_void_lookups: Col<U32>,
    pub spf_ipv4_authorized: Col<U64>,
    pub spf_errors: Col<StrList>,
    pub spf_flags: Col<StrList>,
    pub spf_providers: Col<StrList>,
    pub dmarc_status: Col<Utf8>,
    pub dmarc_source: Col<Utf8>,
    pub dmarc_methods_differ: Col<Bool>,
    pub dmarc_p: Col<Utf8>,
    pub dmarc_effective_p: Col<Utf8>,
    pub dmarc_pct: Col<U8>,
    pub dmarc_rua: Col<StrList>,
    pub dmarc_errors: Col<StrList>,
    pub dmarc_rua_authorized: Col<StrList>,
    pub dmarc_rua_unauthorized: Col<StrList>,
    pub dkim_status: Col<Utf8>,
    pub dkim_selectors: Col<StrList>,
    pub dkim_keys: Col<Structs>,
    pub key_type: Field<Utf8>,
    pub key_bits: Field<U32>,
    pub key_revoked: Field<Bool>,
    pub key_usable: Field<Bool>,
    pub dkim_errors: Col<StrList>,
    pub mta_sts_status: Col<Utf8>,
    pub mta_sts_policy_status: Col<Utf8>,
    pub mta_sts_mode: Col<Utf8>,
    pub tls_rpt_status: Col<Utf8>,
    pub bimi_status: Col<Utf8>,
    pub dane_status: Col<Utf8>,
    pub dane_tlsa: Col<StrList>,
    pub dane_all_mx: Col<Bool>,
    pub mx_ipv6: Col<Bool>,
    pub dangling: Col<StrList>,
    pub dangling_status: Col<Utf8>,
}

impl DomainCols {
    fn declare(d: &mut Declare) -> DomainCols {
        let mx = d.col("mx");
        let dkim_keys = d.col("dkim_keys");
        DomainCols {
            domain: d.col("domain"),
            domain_status: d.col("domain_status"),
            mx_status: d.col("mx_status"),
            mx,
            mx_exchange: d.field(mx, "exchange"),
            mx_null: d.col("mx_null"),
            mx_ips: d.col("mx_ips"),
            mx_ips_status: d.col("mx_ips_status"),
            mx_errors: d.col("mx_errors"),
            spf_status: d.col("spf_status"),
            spf_all: d.col("spf_all"),
            spf_lookups: d.col("spf_lookups"),
            spf_void_lookups: d.col("spf_void_lookups"),
            spf_ipv4_authorized: d.col("spf_ipv4_authorized"),
            spf_errors: d.col("spf_errors"),
            spf_flags: d.col("spf_flags"),
            spf_providers: d.col("spf_providers"),
            dmarc_status: d.col("dmarc_status"),
            dmarc_source: d.col("dmarc_source"),
            dmarc_methods_differ: d.col("dmarc_methods_differ"),
            dmarc_p: d.col("dmarc_p"),
            dmarc_effective_p: d.col("dmarc_effective_p"),
            dmarc_pct: d.col("dmarc_pct"),
            dmarc_rua: d.col("dmarc_rua"),
            dmarc_errors: d.col("dmarc_errors"),
            dmarc_rua_authorized: d.col("dmarc_rua_authorized"),
            dmarc_rua_unauthorized: d.col("dmarc_rua_unauthorized"),
            dkim_status: d.col("dkim_status"),
            dkim_selectors: d.col("dkim_selectors"),
            dkim_keys,
            key_type: d.field(dkim_keys, "type"),
            key_bits: d.field(dkim_keys, "bits"),
            key_revoked: d.field(dkim_keys, "revoked"),
            key_usable: d.field(dkim_keys, "usable"),
            dkim_errors: d.col("dkim_errors"),
            mta_sts_status: d.col("mta_sts_status"),
            mta_sts_policy_status: d.col("mta_sts_policy_status"),
            mta_sts_mode: d.col("mta_sts_mode"),
            tls_rpt_status: d.col("tls_rpt_status"),
            bimi_status: d.col("bimi_status"),
            dane_status: d.col("dane_status"),
            dane_tlsa: d.col("dane_tlsa"),
            dane_all_mx: d.col("dane_all_mx"),
            mx_ipv6: d.col("mx_ipv6"),
            dangling: d.col("dangling"),
            dangling_status: d.col("dangling_status"),
        }
    }
}

/// The hosts columns of the first pass: what readiness needs of an address.
pub(crate) struct HostFactCols {
    pub ip: Col<Utf8>,
    pub host_status: Col<Utf8>,
    pub fcrdns: Col<Bool>,
    pub smtp_status: Col<Utf8>,
    pub starttls: Col<Bool>,
    pub starttls_error: Col<Utf8>,
    pub tls_version: Col<Utf8>,
}

impl HostFactCols {
    fn declare(d: &mut Declare) -> HostFactCols {
        HostFactCols {
            ip: d.col("ip"),
            host_status: d.col("host_status"),
            fcrdns: d.col("fcrdns"),
            smtp_status: d.col("smtp_status"),
            starttls: d.col("starttls"),
            starttls_error: d.col("smtp_starttls_error"),
            tls_version: d.col("tls_version"),
        }
    }
}

/// The hosts columns of the second pass: the host aggregates.
pub(crate) struct HostCols {
    pub host_status: Col<Utf8>,
    pub ptr_status: Col<Utf8>,
    pub fcrdns: Col<Bool>,
    pub dnsbl_listed: Col<StrList>,
    pub dnsbl_errors: Col<StrList>,
    pub asn: Col<U32>,
    pub asn_name: Col<Utf8>,
    pub smtp_status: Col<Utf8>,
    pub smtp_outcome: Col<Utf8>,
    pub starttls: Col<Bool>,
    pub tls_version: Col<Utf8>,
    pub tls_cert_valid: Col<Bool>,
    pub open_relay: Col<Bool>,
    pub open_relay_direct: Col<Bool>,
    pub accepts_any_recipient: Col<Bool>,
    pub rpki_status: Col<Utf8>,
}

impl HostCols {
    fn declare(d: &mut Declare) -> HostCols {
        HostCols {
            host_status: d.col("host_status"),
            ptr_status: d.col("ptr_status"),
            fcrdns: d.col("fcrdns"),
            dnsbl_listed: d.col("dnsbl_listed"),
            dnsbl_errors: d.col("dnsbl_errors"),
            asn: d.col("asn"),
            asn_name: d.col("asn_name"),
            smtp_status: d.col("smtp_status"),
            smtp_outcome: d.col("smtp_outcome"),
            starttls: d.col("starttls"),
            tls_version: d.col("tls_version"),
            tls_cert_valid: d.col("tls_cert_valid"),
            open_relay: d.col("open_relay"),
            open_relay_direct: d.col("open_relay_direct"),
            accepts_any_recipient: d.col("accepts_any_recipient"),
            rpki_status: d.col("rpki_status"),
        }
    }
}

/// Every column the report reads, checked against the writer's tables.
pub(crate) struct Reads {
    pub domains: Group<DomainCols>,
    pub host_facts: Group<HostFactCols>,
    pub hosts: Group<HostCols>,
}

impl Reads {
    fn declared() -> Reads {
        Reads {
            domains: Group::declare(DomainCols::declare),
            host_facts: Group::declare(HostFactCols::declare),
            hosts: Group::declare(HostCols::declare),
        }
    }

    /// The declarations, checked against the tables the scan writes with.
    pub fn of_writer() -> Result<Reads, ColumnError> {
        Reads::against(&table_of::<DomainRow>(), &table_of::<HostRow>())
    }

    /// The declarations, checked against the given tables.
    pub fn against(domains: &Table, hosts: &Table) -> Result<Reads, ColumnError> {
        let r = Reads::declared();
        check("domains", domains, r.domains.needs())?;
        check("hosts", hosts, r.host_facts.needs())?;
        check("hosts", hosts, r.hosts.needs())?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::columns::StructField;

    #[test]
    fn every_column_the_report_reads_is_in_the_writers_tables() {
        let r = Reads::of_writer().unwrap();
        assert!(r.domains.projection.contains(&"spf_lookups"));
        assert!(r.host_facts.projection.contains(&"smtp_starttls_error"));
        // A struct field's list is projected once, whatever the number of its fields read.
        let keys = r.domains.projection.iter().filter(|c| **c == "dkim_keys");
        assert_eq!(keys.count(), 1);
    }

    /// Every column the report reads, renamed in a copy of the writer's table, then removed:
    /// each fails the check, naming the column.
    #[test]
    fn a_renamed_or_removed_column_fails_the_check() {
        let (domains, hosts) = (table_of::<DomainRow>(), table_of::<HostRow>());
        let declared = Reads::declared();
        let groups: [(&str, &[Need]); 3] = [
            ("domains", declared.domains.needs()),
            ("hosts", declared.host_facts.needs()),
            ("hosts", declared.hosts.needs()),
        ];
        let mut tried = 0;
        for (table, needs) in groups {
            for n in needs.iter().filter(|n| n.field.is_none()) {
                let (mut d, mut h) = (domains.clone(), hosts.clone());
                let t = if table == "domains" { &mut d } else { &mut h };
                let at = t.iter().position(|(c, _)| *c == n.column).unwrap();
                t[at].0 = "renamed_by_the_test";
                let e = Reads::against(&d, &h).err();
                let want = ColumnError::Missing {
                    table: if table == "domains" {
                        "domains"
                    } else {
                        "hosts"
                    },
                    column: n.column.to_string(),
                };
                assert_eq!(e.as_ref(), Some(&want), "{table}.{} renamed", n.column);
                let t = if table == "domains" { &mut d } else { &mut h };
                t.remove(at);
                assert_eq!(
                    Reads::against(&d, &h).err().as_ref(),
                    Some(&want),
                    "{table}.{} removed",
                    n.column
                );
                tried += 1;
            }
        }
        assert!(tried > 50, "{tried} columns tried");
        // The one the issue names: `spf_lookups` renamed in the domains table.
        let mut d = domains.clone();
        d.iter_mut().find(|(c, _)| *c == "spf_lookups").unwrap().0 = "spf_lookup_count";
        let e = Reads::against(&d, &hosts).err().unwrap();
        assert_eq!(
            e.to_string(),
            "the report reads domains.spf_lookups, which the domains table no longer has"
        );
    }

    #[test]
    fn a_retyped_column_or_renamed_struct_field_fails_the_check() {
        let (domains, hosts) = (table_of::<DomainRow>(), table_of::<HostRow>());
        let mut d = domains.clone();
        d.iter_mut().find(|(c, _)| *c == "spf_lookups").unwrap().1 = ColType::UInt64;
        let e = Reads::against(&d, &hosts).err().unwrap();
        assert_eq!(
            e.to_string(),
            "the report reads domains.spf_lookups as uint32, but the domains table writes it as uint64"
        );
        // `bits` of the DKIM key structs renamed, in a copy of the struct's fields.
        let mut d = domains.clone();
        let keys = d.iter_mut().find(|(c, _)| *c == "dkim_keys").unwrap();
        let ColType::ListStruct(fields) = keys.1 else {
            panic!("dkim_keys is {}", keys.1)
        };
        let renamed: Vec<StructField> = fields
            .iter()
            .map(|f| {
                let name = if f.name == "bits" { "key_bits" } else { f.name };
                StructField::new(name, f.ty, f.nullable)
            })
            .collect();
        keys.1 = ColType::ListStruct(Box::leak(renamed.into_boxed_slice()));
        let e = Reads::against(&d, &hosts).err().unwrap();
        assert_eq!(
            e,
            ColumnError::Missing {
                table: "domains",
                column: "dkim_keys.bits".into()
            }
        );
    }
}
