//! The column vocabulary: what a column is (name, type, nullability, meaning, accessor), the
//! values a row gives it, and the trait of a table's row. Every column table is written in these
//! words: each check defines its own columns over its findings (`src/checks/`), the output tables
//! take them whole (`src/output/rows.rs`), the writer turns them into Arrow batches and CSV
//! (`src/output/`), the report reads through them (`src/report/`), and docs/SCHEMA.md is
//! generated from them. So this module sits at the bottom: it imports none of those, and a column
//! exists in exactly one place. A value of the wrong type is an error, never a silent null.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// The type of a column or of a struct field. Its text (`Display`) is the one docs/SCHEMA.md and
/// the output contract use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Utf8,
    Boolean,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
    ListUtf8,
    ListUInt8,
    ListStruct(&'static [StructField]),
}

/// One field of a struct type.
#[derive(Debug, PartialEq, Eq)]
pub struct StructField {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

impl StructField {
    pub const fn new(name: &'static str, ty: ColType, nullable: bool) -> Self {
        StructField { name, ty, nullable }
    }
}

impl ColType {
    pub fn data_type(&self) -> DataType {
        match self {
            ColType::Utf8 => DataType::Utf8,
            ColType::Boolean => DataType::Boolean,
            ColType::UInt8 => DataType::UInt8,
            ColType::UInt16 => DataType::UInt16,
            ColType::UInt32 => DataType::UInt32,
            ColType::UInt64 => DataType::UInt64,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ColType::ListUtf8 => DataType::List(list_of(DataType::Utf8)),
            ColType::ListUInt8 => DataType::List(list_of(DataType::UInt8)),
            ColType::ListStruct(fields) => {
                DataType::List(list_of(DataType::Struct(arrow_fields(fields))))
            }
        }
    }

    /// The value has this type's variant (null or not).
    pub fn admits(&self, v: &Value) -> bool {
        matches!(
            (self, v),
            (ColType::Utf8, Value::Str(_))
                | (ColType::Boolean, Value::Bool(_))
                | (ColType::UInt8, Value::U8(_))
                | (ColType::UInt16, Value::U16(_))
                | (ColType::UInt32, Value::U32(_))
                | (ColType::UInt64, Value::U64(_))
                | (ColType::Timestamp, Value::Ts(_) | Value::TsOpt(_))
                | (ColType::ListUInt8, Value::U8List(_))
                | (ColType::ListUtf8, Value::StrList(_))
                | (ColType::ListStruct(_), Value::StructList(_))
        )
    }
}

impl fmt::Display for ColType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColType::Utf8 => f.write_str("utf8"),
            ColType::Boolean => f.write_str("bool"),
            ColType::UInt8 => f.write_str("uint8"),
            ColType::UInt16 => f.write_str("uint16"),
            ColType::UInt32 => f.write_str("uint32"),
            ColType::UInt64 => f.write_str("uint64"),
            ColType::Timestamp => f.write_str("timestamp[ms, UTC]"),
            ColType::ListUtf8 => f.write_str("list<utf8>"),
            ColType::ListUInt8 => f.write_str("list<uint8>"),
            ColType::ListStruct(fields) => {
                f.write_str("list<struct<")?;
                for (i, s) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}: {}", s.name, s.ty)?;
                }
                f.write_str(">>")
            }
        }
    }
}

/// The field of a list's items: nullable, and named `element` as the Parquet LIST spec names it
/// (what pyarrow and Spark write, and what the output contract says), not Arrow's default `item`.
pub fn list_of(item: DataType) -> Arc<Field> {
    Arc::new(Field::new(LIST_ITEM, item, true))
}

/// The name of a list column's item field ([`list_of`]).
pub const LIST_ITEM: &str = "element";

/// The Arrow fields of a struct type.
pub fn arrow_fields(fields: &[StructField]) -> Fields {
    fields
        .iter()
        .map(|s| Field::new(s.name, s.ty.data_type(), s.nullable))
        .collect()
}

/// One cell, borrowed from its row.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Str(Option<&'a str>),
    Bool(Option<bool>),
    U8(Option<u8>),
    U16(Option<u16>),
    U32(Option<u32>),
    U64(Option<u64>),
    /// Milliseconds since the Unix epoch, UTC.
    Ts(i64),
    /// A timestamp that may be null.
    TsOpt(Option<i64>),
    StrList(Option<&'a [String]>),
    U8List(Option<&'a [u8]>),
    StructList(Option<&'a dyn StructItems>),
}

impl<'a> Value<'a> {
    /// A list of structs, null when `None`.
    pub fn structs<T: StructItem>(items: Option<&'a Vec<T>>) -> Value<'a> {
        Value::StructList(items.map(|v| v as &dyn StructItems))
    }

    /// The null of a column of type `ty`.
    pub fn null(ty: ColType) -> Value<'static> {
        match ty {
            ColType::Utf8 => Value::Str(None),
            ColType::Boolean => Value::Bool(None),
            ColType::UInt8 => Value::U8(None),
            ColType::UInt16 => Value::U16(None),
            ColType::UInt32 => Value::U32(None),
            ColType::UInt64 => Value::U64(None),
            ColType::Timestamp => Value::TsOpt(None),
            ColType::ListUtf8 => Value::StrList(None),
            ColType::ListUInt8 => Value::U8List(None),
            ColType::ListStruct(_) => Value::StructList(None),
        }
    }

    pub fn is_null(&self) -> bool {
        match self {
            Value::Str(x) => x.is_none(),
            Value::Bool(x) => x.is_none(),
            Value::U8(x) => x.is_none(),
            Value::U16(x) => x.is_none(),
            Value::U32(x) => x.is_none(),
            Value::U64(x) => x.is_none(),
            Value::Ts(_) => false,
            Value::TsOpt(x) => x.is_none(),
            Value::U8List(x) => x.is_none(),
            Value::StrList(x) => x.is_none(),
            Value::StructList(x) => x.is_none(),
        }
    }
}

/// A type stored as a struct inside a list column: its fields, and each field's value by position
/// in `FIELDS`.
pub trait StructItem: fmt::Debug + Sync + 'static {
    const FIELDS: &'static [StructField];
    fn field(&self, j: usize) -> Value<'_>;
}

/// A list of struct items with the item type erased, so one `Value` variant holds any of them.
pub trait StructItems: fmt::Debug + Sync {
    fn fields(&self) -> &'static [StructField];
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Field `j` of item `i`.
    fn field(&self, i: usize, j: usize) -> Value<'_>;
}

impl<T: StructItem> StructItems for Vec<T> {
    fn fields(&self) -> &'static [StructField] {
        T::FIELDS
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn field(&self, i: usize, j: usize) -> Value<'_> {
        self[i].field(j)
    }
}

/// A cell of a part of a row, reached through the row (see [`Column::within`]).
type PartCell<R> = Box<dyn for<'a> Fn(&'a R) -> Value<'a> + Send + Sync>;
type PartStatus<R> = Box<dyn Fn(&R) -> Option<&'static str> + Send + Sync>;

enum Get<R> {
    Cell(for<'a> fn(&'a R) -> Value<'a>),
    // Statuses are counted in run.json under their own text, which must outlive every row.
    Status(fn(&R) -> Option<&'static str>),
    PartCell(PartCell<R>),
    PartStatus(PartStatus<R>),
}

/// One column of the table of row type `R`.
pub struct Column<R> {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    /// The column's meaning, as docs/SCHEMA.md shows it.
    pub doc: &'static str,
    get: Get<R>,
}

impl<R> Column<R> {
    /// A nullable column; see `required` and `doc`.
    pub const fn new(name: &'static str, ty: ColType, get: for<'a> fn(&'a R) -> Value<'a>) -> Self {
        Column {
            name,
            ty,
            nullable: true,
            doc: "",
            get: Get::Cell(get),
        }
    }

    /// A nullable utf8 status column, counted in run.json's `status_counts`.
    pub const fn status(name: &'static str, get: fn(&R) -> Option<&'static str>) -> Self {
        Column {
            name,
            ty: ColType::Utf8,
            nullable: true,
            doc: "",
            get: Get::Status(get),
        }
    }

    pub const fn required(mut self) -> Self {
        self.nullable = false;
        self
    }

    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }

    pub fn value<'a>(&self, row: &'a R) -> Value<'a> {
        match &self.get {
            Get::Cell(f) => f(row),
            Get::Status(f) => Value::Str(f(row)),
            Get::PartCell(f) => f(row),
            Get::PartStatus(f) => Value::Str(f(row)),
        }
    }

    fn status_of(&self, row: &R) -> Option<Option<&'static str>> {
        match &self.get {
            Get::Status(f) => Some(f(row)),
            Get::PartStatus(f) => Some(f(row)),
            Get::Cell(_) | Get::PartCell(_) => None,
        }
    }
}

impl<P: 'static> Column<P> {
    /// This column of a part of a bigger row `R` (a check's findings inside the domain row),
    /// reached by `part`: a check defines its columns over its own findings, and the row's
    /// table takes them whole. Where the row has no such part (its probe failed), a status
    /// column says `error` and any other column is null.
    pub fn within<R: 'static>(self, part: for<'a> fn(&'a R) -> Option<&'a P>) -> Column<R> {
        self.part_of(part, Some("error"))
    }

    /// As [`Column::within`], but a row without the part has every column of it null, its
    /// status too: the part was not asked for (the SMTP columns without `--smtp`, the checks
    /// of a host that was not checked), which is no failure to count.
    pub fn within_or_null<R: 'static>(
        mut self,
        part: for<'a> fn(&'a R) -> Option<&'a P>,
    ) -> Column<R> {
        self.nullable = true;
        self.part_of(part, None)
    }

    fn part_of<R: 'static>(
        self,
        part: for<'a> fn(&'a R) -> Option<&'a P>,
        missing: Option<&'static str>,
    ) -> Column<R> {
        let ty = self.ty;
        let get = match self.get {
            Get::Cell(f) => Get::PartCell(Box::new(move |r: &R| {
                part(r).map_or(Value::null(ty), |p| f(p))
            })),
            Get::PartCell(f) => {
                Get::PartCell(Box::new(move |r: &R| part(r).map_or(Value::null(ty), &f)))
            }
            Get::Status(f) => Get::PartStatus(Box::new(move |r: &R| part(r).map_or(missing, f))),
            Get::PartStatus(f) => {
                Get::PartStatus(Box::new(move |r: &R| part(r).map_or(missing, &f)))
            }
        };
        Column {
            name: self.name,
            ty: self.ty,
            nullable: self.nullable,
            doc: self.doc,
            get,
        }
    }
}

/// The columns of a part of row `R` (see [`Column::within`]), in their order.
pub fn part<P: 'static, R: 'static>(
    columns: Vec<Column<P>>,
    get: for<'a> fn(&'a R) -> Option<&'a P>,
) -> impl Iterator<Item = Column<R>> {
    columns.into_iter().map(move |c| c.within(get))
}

/// The columns of a part of row `R` that may be absent without a failure (see
/// [`Column::within_or_null`]), in their order.
pub fn part_or_null<P: 'static, R: 'static>(
    columns: Vec<Column<P>>,
    get: for<'a> fn(&'a R) -> Option<&'a P>,
) -> impl Iterator<Item = Column<R>> {
    columns.into_iter().map(move |c| c.within_or_null(get))
}

/// A table row: the columns of its table.
pub trait Row: Sized + Send + 'static {
    fn columns() -> &'static [Column<Self>];

    fn schema() -> SchemaRef {
        let fields: Vec<Field> = Self::columns()
            .iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The status columns' names and this row's values in them.
    fn statuses(&self) -> impl Iterator<Item = (&'static str, Option<&'static str>)> + '_ {
        Self::columns()
            .iter()
            .filter_map(move |c| Some((c.name, c.status_of(self)?)))
    }

    /// This row's value in status column `name`; None when there is no such column.
    fn status(&self, name: &str) -> Option<&'static str> {
        self.statuses().find(|(n, _)| *n == name)?.1
    }

    /// This row's CSV cells in column order.
    fn csv_record(&self) -> impl Iterator<Item = String> + '_ {
        Self::columns()
            .iter()
            .map(move |c| csv_cell(&c.value(self)))
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
        Value::Ts(ms) => csv_cell(&Value::TsOpt(Some(*ms))),
        Value::TsOpt(ms) => ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default(),
        Value::U8List(l) => l
            .map(|l| l.iter().map(u8::to_string).collect::<Vec<_>>().join(";"))
            .unwrap_or_default(),
        Value::StrList(l) => l.map(|l| l.join(";")).unwrap_or_default(),
        Value::StructList(l) => l
            .map(|l| {
                (0..l.len())
                    .map(|i| {
                        (0..l.fields().len())
                            .map(|j| match l.field(i, j) {
                                Value::StrList(inner) => {
                                    inner.map(|i| i.join(",")).unwrap_or_default()
                                }
                                other => csv_cell(&other),
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

    struct Part {
        n: u32,
        ok: bool,
    }

    struct Whole {
        part: Option<Part>,
    }

    fn part_columns() -> Vec<Column<Part>> {
        vec![
            Column::new("n", ColType::UInt32, |p: &Part| Value::U32(Some(p.n))),
            Column::status("s", |p: &Part| Some(if p.ok { "ok" } else { "bad" })).required(),
        ]
    }

    fn cells<R: Row>(rows: &[R]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.csv_record().collect()).collect()
    }

    impl Row for Whole {
        fn columns() -> &'static [Column<Self>] {
            static COLUMNS: std::sync::LazyLock<Vec<Column<Whole>>> =
                std::sync::LazyLock::new(|| {
                    part(part_columns(), |w: &Whole| w.part.as_ref()).collect()
                });
            &COLUMNS
        }
    }

    fn rows() -> [Whole; 2] {
        [
            Whole {
                part: Some(Part { n: 7, ok: false }),
            },
            Whole { part: None },
        ]
    }

    #[test]
    fn a_part_s_columns_read_through_the_row_and_say_error_without_it() {
        let rows = rows();
        assert_eq!(cells(&rows), [["7", "bad"], ["", "error"]]);
        assert_eq!(rows[1].status("s"), Some("error"));
        assert_eq!(rows[0].status("n"), None, "not a status column");
        assert!(!Whole::columns()[1].nullable, "the status stays required");
    }

    struct Optional(Whole);

    impl Row for Optional {
        fn columns() -> &'static [Column<Self>] {
            static COLUMNS: std::sync::LazyLock<Vec<Column<Optional>>> =
                std::sync::LazyLock::new(|| {
                    part_or_null(part_columns(), |o: &Optional| o.0.part.as_ref()).collect()
                });
            &COLUMNS
        }
    }

    #[test]
    fn a_part_not_asked_for_is_null_status_and_all() {
        let rows = rows().map(Optional);
        assert_eq!(cells(&rows), [["7", "bad"], ["", ""]]);
        assert_eq!(rows[1].status("s"), None);
        assert_eq!(rows[0].status("s"), Some("bad"));
        assert!(
            Optional::columns().iter().all(|c| c.nullable),
            "a column that can be absent is nullable"
        );
    }

    #[test]
    fn type_text_is_the_documents() {
        static FIELDS: &[StructField] = &[
            StructField::new("preference", ColType::UInt16, false),
            StructField::new("exchange", ColType::Utf8, false),
        ];
        assert_eq!(
            ColType::ListStruct(FIELDS).to_string(),
            "list<struct<preference: uint16, exchange: utf8>>"
        );
        assert_eq!(ColType::Timestamp.to_string(), "timestamp[ms, UTC]");
        assert_eq!(ColType::Boolean.to_string(), "bool");
    }

    #[test]
    fn list_items_are_named_element() {
        let DataType::List(f) = ColType::ListUtf8.data_type() else {
            panic!("a list type");
        };
        assert_eq!(f.name(), "element");
    }
}
